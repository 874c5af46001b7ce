"""Marking accounts for health recompute (health drains the marks; accounts only sets them)."""

import threading
from collections.abc import Iterable
from contextlib import contextmanager

from django.db import connection, transaction

from accounts.models import DirtyAccount
from accounts.signals import accounts_changed
from cs_platform.sql import unnest

_collecting = threading.local()  # .ids: the marks of the open marks_written_last() block


def mark_dirty(account_ids: Iterable[int]) -> None:
    """Mark accounts in the caller's transaction; announce it once the data is committed.

    Inside ``marks_written_last()`` the ids are only collected, and written when it ends."""
    ids = {int(i) for i in account_ids if i is not None}
    pending = getattr(_collecting, "ids", None)
    if pending is not None:
        pending.update(ids)
    elif ids:
        _write_marks(sorted(ids))


@contextmanager
def marks_written_last():
    """Collect every ``mark_dirty`` of the block and write them in one statement at its end.

    A new mark waits for a concurrent transaction inserting the same one. An ingest marks in
    several steps (accounts upserted, contacts upserted, accounts with events): two batches
    writing each step's marks as they come take the same marks in different orders and
    deadlock. Collected, each writes all its marks last, sorted by id. Nested blocks join the
    outer one; an exception discards the marks (its transaction rolls back with them).
    """
    if getattr(_collecting, "ids", None) is not None:
        yield
        return
    _collecting.ids = set()
    try:
        yield
        ids = sorted(_collecting.ids)
    finally:
        _collecting.ids = None
    if ids:
        _write_marks(ids)


def _write_marks(ids: list[int]) -> None:
    # Every ingest batch marks its accounts: one array, not a model instance per account.
    table = connection.ops.quote_name(DirtyAccount._meta.db_table)
    ids_table, params = unnest([(i,) for i in ids], "bigint")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (account_id, marked_at) SELECT id, now() "
            f"FROM {ids_table} AS id ON CONFLICT DO NOTHING",
            params,
        )
    transaction.on_commit(lambda: accounts_changed.send(sender=DirtyAccount, account_ids=ids))
