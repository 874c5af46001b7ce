"""Daily usage roll-ups: rebuilt from raw events with one aggregate query per level.

Ingestion increments the roll-ups as events arrive; this rebuild is the reconciliation path
(nightly, after a backfill or an import) and the way demo data gets its roll-ups.
"""

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncDate

from accounts.models import DailyAccountUsage, DailyContactUsage, Event

BATCH_SIZE = 2000


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, UTC), datetime.combine(
        end + timedelta(days=1), time.min, UTC
    )


def _batched(iterable, size):
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def rebuild_daily_usage(start: date, end: date, account_ids=None) -> dict[str, int]:
    """Recompute the roll-ups of days ``start``..``end`` (inclusive, UTC) from events.

    ``account_ids`` limits the rebuild to those accounts; None means every account. Returns
    how many account-day and contact-day rows now exist for the range.
    """
    if end < start:
        raise ValueError(f"end ({end}) precedes start ({start})")
    since, until = _day_bounds(start, end)
    events = Event.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    account_rows = DailyAccountUsage.objects.filter(date__gte=start, date__lte=end)
    contact_rows = DailyContactUsage.objects.filter(date__gte=start, date__lte=end)
    if account_ids is not None:
        account_ids = list(account_ids)
        events = events.filter(account_id__in=account_ids)
        account_rows = account_rows.filter(account_id__in=account_ids)
        contact_rows = contact_rows.filter(account_id__in=account_ids)
    events = events.annotate(date=TruncDate("occurred_at", tzinfo=UTC)).order_by()

    per_account = (
        events.values("account_id", "date")
        .annotate(
            n=Count("id"),
            contacts=Count("contact_id", distinct=True),
            names=Count("name", distinct=True),
        )
        .values_list("account_id", "date", "n", "contacts", "names")
    )
    per_contact = (
        events.filter(contact__isnull=False)
        .values("contact_id", "account_id", "date")
        .annotate(n=Count("id"), names=Count("name", distinct=True))
        .values_list("contact_id", "account_id", "date", "n", "names")
    )
    counts = {"account_days": 0, "contact_days": 0}
    with transaction.atomic():
        account_rows.delete()
        contact_rows.delete()
        for chunk in _batched(per_account.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
            DailyAccountUsage.objects.bulk_create(
                DailyAccountUsage(
                    account_id=a, date=d, event_count=n, active_contacts=c, distinct_events=k
                )
                for a, d, n, c, k in chunk
            )
            counts["account_days"] += len(chunk)
        for chunk in _batched(per_contact.iterator(chunk_size=BATCH_SIZE), BATCH_SIZE):
            DailyContactUsage.objects.bulk_create(
                DailyContactUsage(
                    contact_id=c, account_id=a, date=d, event_count=n, distinct_events=k
                )
                for c, a, d, n, k in chunk
            )
            counts["contact_days"] += len(chunk)
    return counts
