"""Celery tasks of the bench only (a worker loads them with ``--include bench.tasks``).

``touch`` is the floor of ``health_incremental_latency``: the fixed cost of one task's round
trip through the same broker and worker, writing one row the bench process polls for.
"""

from celery import shared_task
from django.db import connection

PROBE_TABLE = "bench_probe"  # created and dropped by the benchmark; outside the app's schema


def create_probe_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE}"
            " (marker varchar(100) PRIMARY KEY, written_at varchar(40) NOT NULL)"
        )


def drop_probe_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PROBE_TABLE}")


def probe_written(marker: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {PROBE_TABLE} WHERE marker = %s", [marker])
        return cursor.fetchone() is not None


@shared_task(name="bench.tasks.touch")
def touch(marker: str) -> None:
    """Write one row, committed (autocommit), as the trivial task of the floor."""
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PROBE_TABLE} (marker, written_at) VALUES (%s, %s)",
            [marker, timezone.now().isoformat()],
        )
