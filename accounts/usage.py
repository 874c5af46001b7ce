"""Daily usage roll-ups: rebuilt from raw events with one INSERT ... SELECT per level.

Ingestion increments the roll-ups as events arrive; this rebuild is the reconciliation path
(nightly, after a backfill or an import) and the way demo data gets its roll-ups.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count
from django.db.models.functions import TruncDate

from accounts.models import DailyAccountUsage, DailyContactUsage, Event


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, UTC), datetime.combine(
        end + timedelta(days=1), time.min, UTC
    )


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
    with transaction.atomic():
        account_rows.delete()
        contact_rows.delete()
        counts = {
            "account_days": _insert_from_select(
                DailyAccountUsage,
                ["account_id", "date", "event_count", "active_contacts", "distinct_events"],
                per_account,
                unique=["account_id", "date"],
            ),
            "contact_days": _insert_from_select(
                DailyContactUsage,
                ["contact_id", "account_id", "date", "event_count", "distinct_events"],
                per_contact,
                unique=["contact_id", "date"],
            ),
        }
    return counts


def _insert_from_select(model, columns: list[str], queryset, unique: list[str]) -> int:
    """INSERT INTO model (columns) SELECT ... ON CONFLICT DO UPDATE: rows stay in the database.

    The SELECT is the ORM's own SQL for ``queryset`` (whose values_list matches ``columns``
    in order), so the date truncation is right on every backend. The upsert makes two
    concurrent rebuilds of the same account-day (two ingest requests) both succeed, the
    later one winning, instead of one failing on the unique constraint.
    """
    select_sql, params = queryset.query.sql_with_params()
    quote = connection.ops.quote_name

    def column(name):
        return quote(model._meta.get_field(name.removesuffix("_id")).column)

    updates = ", ".join(f"{column(c)} = EXCLUDED.{column(c)}" for c in columns if c not in unique)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(column, columns))}) "
            f"{select_sql} ON CONFLICT ({', '.join(map(column, unique))}) DO UPDATE SET {updates}",
            params,
        )
        return cursor.rowcount
