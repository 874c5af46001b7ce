"""Marking accounts for health recompute (health drains the marks; accounts only sets them)."""

from collections.abc import Iterable

from django.db import connection, transaction

from accounts.models import DirtyAccount
from accounts.signals import accounts_changed


def mark_dirty(account_ids: Iterable[int]) -> None:
    """Mark accounts in the caller's transaction; announce it once the data is committed."""
    ids = sorted({int(i) for i in account_ids if i is not None})
    if not ids:
        return
    if connection.vendor == "postgresql":
        # Every ingest batch marks its accounts: one array, not a model instance per account.
        table = connection.ops.quote_name(DirtyAccount._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (account_id, marked_at) SELECT id, now() "
                "FROM unnest(%s::bigint[]) AS id ON CONFLICT DO NOTHING",
                [ids],
            )
    else:
        DirtyAccount.objects.bulk_create(
            [DirtyAccount(account_id=i) for i in ids], ignore_conflicts=True, batch_size=2000
        )
    transaction.on_commit(lambda: accounts_changed.send(sender=DirtyAccount, account_ids=ids))
