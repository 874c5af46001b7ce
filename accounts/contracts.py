"""The contract history of accounts: every change of ARR or renewal date, and who made it.

Every write path records a ContractChange row in the same transaction as the change: the
bulk upsert (REST bulk and by-external-id, Segment group, CSV import) builds the rows from the
before/after values it already holds and inserts them with one bulk_create; a single
``Account.save()`` (REST create/update, Django admin, application code) records its own row.
Which path it was comes from ``contract_source``, a context the caller sets. A row is dated
when it is written, except a Segment group call's: at the call's timestamp (never after now,
never before the account's latest recorded change), so a replayed history keeps its dates.

Portfolio metrics (health) read this history for ARR at a date, expansion, contraction and
renewals; accounts itself knows nothing about them.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from accounts.choices import ContractSource

_source: ContextVar[str] = ContextVar("contract_source", default=ContractSource.APP)


@contextmanager
def contract_source(source: str) -> Iterator[None]:
    """Within this block, saved accounts record their contract changes as coming from source."""
    if source not in ContractSource.values:
        raise ValueError(f"Unknown contract change source {source!r}.")
    token = _source.set(source)
    try:
        yield
    finally:
        _source.reset(token)


def current_source() -> str:
    return _source.get()
