"""Marking accounts for health recompute (health drains the marks; accounts only sets them)."""

from collections.abc import Iterable

from django.db import connection, transaction

from accounts.models import DirtyAccount
from accounts.signals import accounts_changed
from cs_platform.sql import unnest


def mark_dirty(account_ids: Iterable[int]) -> None:
    """Mark accounts in the caller's transaction; announce it once the data is committed."""
    ids = sorted({int(i) for i in account_ids if i is not None})
    if not ids:
        return
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
