"""Rebuilding the daily usage roll-ups of the whole generated window from raw events."""

from datetime import UTC, datetime, time, timedelta

from django.db import connection

from accounts.models import Event
from accounts.usage import rebuild_daily_usage
from bench.registry import Case, Context, benchmark


@benchmark("usage_rollup_rebuild")
def usage_rollup_rebuild(ctx: Context) -> Case:
    since = datetime.combine(ctx.start, time.min, UTC)
    until = datetime.combine(ctx.as_of + timedelta(days=1), time.min, UTC)
    # Floor: read the event columns the rebuild aggregates, raw cursor, no ORM. Any rebuild
    # has to read these rows at least once; the rebuild aggregates in SQL and writes. Rows are
    # fetched in chunks and dropped, as the rebuild streams, so the floor's memory is a floor too.
    qn = connection.ops.quote_name
    sql = (
        f"SELECT account_id, contact_id, name, occurred_at FROM {qn(Event._meta.db_table)} "
        "WHERE occurred_at >= %s AND occurred_at < %s"
    )
    params = [connection.ops.adapt_datetimefield_value(value) for value in (since, until)]

    def floor():
        rows = 0
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(2000):
                rows += len(chunk)
        return rows

    return Case(subject=lambda: rebuild_daily_usage(ctx.start, ctx.as_of), floor=floor)
