"""Daily usage roll-ups per account, contact and feature (event name), in UTC days.

Two ways in, one result:
- ``add_to_rollups`` is ingestion's path: it adds a batch's counts to the rows of the days it
  touched, in the ingest transaction, at a cost that does not grow with the day's volume.
- ``rebuild_daily_usage`` recomputes days from the raw events with one INSERT ... SELECT per
  table: the nightly reconciliation, after a backfill, and for demo data.
An account-day's active contacts and distinct features are counted from its contact and
feature rows, so both paths agree exactly.
"""

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from accounts.models import DailyAccountUsage, DailyContactUsage, DailyFeatureUsage, Event
from cs_platform.sql import inserted, unnest


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, UTC),
        datetime.combine(end + timedelta(days=1), time.min, UTC),
    )


def rebuild_daily_usage(start: date, end: date, account_ids=None) -> dict[str, int]:
    """Recompute the roll-ups of days ``start``..``end`` (inclusive, UTC) from events.

    ``account_ids`` limits the rebuild to those accounts; None means every account. Returns
    how many account-day, contact-day and feature-day rows now exist for the range.
    """
    if end < start:
        raise ValueError(f"end ({end}) precedes start ({start})")
    since, until = _day_bounds(start, end)
    events = Event.objects.filter(occurred_at__gte=since, occurred_at__lt=until)
    scope = Q(date__gte=start, date__lte=end)
    if account_ids is not None:
        account_ids = list(account_ids)
        events = events.filter(account_id__in=account_ids)
        scope &= Q(account_id__in=account_ids)
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
        .annotate(n=Count("id"))
        .values_list("contact_id", "account_id", "date", "n")
    )
    per_feature = (
        events.values("account_id", "date", "name")
        .annotate(n=Count("id"))
        .values_list("account_id", "date", "name", "n")
    )
    with transaction.atomic():
        for model in (DailyAccountUsage, DailyContactUsage, DailyFeatureUsage):
            model.objects.filter(scope).delete()
        return {
            "account_days": _insert_from_select(
                DailyAccountUsage,
                ["account_id", "date", "event_count", "active_contacts", "distinct_events"],
                per_account,
                unique=["account_id", "date"],
            ),
            "contact_days": _insert_from_select(
                DailyContactUsage,
                ["contact_id", "account_id", "date", "event_count"],
                per_contact,
                unique=["contact_id", "account_id", "date"],
            ),
            "feature_days": _insert_from_select(
                DailyFeatureUsage,
                ["account_id", "date", "name", "event_count"],
                per_feature,
                unique=["account_id", "date", "name"],
            ),
        }


def add_to_rollups(events) -> None:
    """Add newly stored events, given as (account_id, contact_id or None, name, occurred_at),
    in one statement (see ``_add_rollups``)."""
    per_account, per_contact, per_feature = Counter(), Counter(), Counter()
    for account_id, contact_id, name, occurred_at in events:
        day = occurred_at.astimezone(UTC).date()
        per_account[(account_id, day)] += 1
        per_feature[(account_id, day, name)] += 1
        if contact_id is not None:
            per_contact[(contact_id, account_id, day)] += 1
    if not per_account:
        return
    _add_rollups(per_account, per_contact, per_feature)


def _add_rollups(per_account: Counter, per_contact: Counter, per_feature: Counter) -> None:
    """The three upserts in one statement, the rows sent as arrays. A contact's or an event
    name's first row of an account-day adds one to the day's active contacts or distinct
    events (``inserted`` in RETURNING: the row was inserted, not updated), so the day needs
    no recount.

    Rows are locked in one order, or two batches touching the same days deadlock: keys
    sorted within each table, and the tables in a fixed order, contacts, features, accounts
    (the feature rows wait for the contact rows through the ``WHERE`` on ``c``; the account
    rows are written after the ORDER BY has read both)."""
    quote = connection.ops.quote_name
    usage, contacts, features = (
        quote(m._meta.db_table) for m in (DailyAccountUsage, DailyContactUsage, DailyFeatureUsage)
    )
    account, day = _column(DailyAccountUsage, "account_id"), _column(DailyAccountUsage, "date")
    contact, name = _column(DailyContactUsage, "contact_id"), _column(DailyFeatureUsage, "name")
    count, active = quote("event_count"), _column(DailyAccountUsage, "active_contacts")
    distinct = _column(DailyAccountUsage, "distinct_events")

    def rows(counts: Counter, *types: str) -> tuple[str, list[list]]:
        return unnest([(*key, n) for key, n in sorted(counts.items())], *types)

    contact_rows, contact_params = rows(per_contact, "bigint", "bigint", "date", "integer")
    feature_rows, feature_params = rows(per_feature, "bigint", "date", "text", "integer")
    account_rows, account_params = rows(per_account, "bigint", "date", "integer")
    sql = f"""
        WITH c AS (
            INSERT INTO {contacts} ({contact}, {account}, {day}, {count})
            SELECT * FROM {contact_rows}
            ON CONFLICT ({contact}, {account}, {day})
            DO UPDATE SET {count} = {contacts}.{count} + EXCLUDED.{count}
            RETURNING {account} AS account_id, {day} AS day, {inserted(contacts)} AS new
        ), f AS (
            INSERT INTO {features} ({account}, {day}, {name}, {count})
            SELECT * FROM {feature_rows}
            WHERE (SELECT count(*) FROM c) >= 0
            ON CONFLICT ({account}, {day}, {name})
            DO UPDATE SET {count} = {features}.{count} + EXCLUDED.{count}
            RETURNING {account} AS account_id, {day} AS day, {inserted(features)} AS new
        ), nc AS (
            SELECT account_id, day, count(*) FILTER (WHERE new) AS n FROM c GROUP BY 1, 2
        ), nf AS (
            SELECT account_id, day, count(*) FILTER (WHERE new) AS n FROM f GROUP BY 1, 2
        )
        INSERT INTO {usage} ({account}, {day}, {count}, {active}, {distinct})
        SELECT a.account_id, a.day, a.n, COALESCE(nc.n, 0), COALESCE(nf.n, 0)
        FROM {account_rows} AS a(account_id, day, n)
        LEFT JOIN nc USING (account_id, day) LEFT JOIN nf USING (account_id, day)
        ORDER BY a.account_id, a.day
        ON CONFLICT ({account}, {day}) DO UPDATE SET
            {count} = {usage}.{count} + EXCLUDED.{count},
            {active} = {usage}.{active} + EXCLUDED.{active},
            {distinct} = {usage}.{distinct} + EXCLUDED.{distinct}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*contact_params, *feature_params, *account_params])


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name.removesuffix("_id")).column)


def _insert_from_select(model, columns: list[str], queryset, unique: list[str]) -> int:
    """INSERT INTO model (columns) SELECT ... ON CONFLICT DO UPDATE: rows stay in the database.

    The SELECT is the ORM's own SQL for ``queryset`` (whose values_list matches ``columns``
    in order), so days are truncated as the ORM truncates them. The upsert lets a rebuild
    run beside ingestion adding to the same day without failing on the unique constraint.
    """
    select_sql, params = queryset.query.sql_with_params()
    names = [_column(model, c) for c in columns]
    keys = [_column(model, c) for c in unique]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names if c not in keys)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(names)}) "
            f"{select_sql} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
            params,
        )
        return cursor.rowcount
