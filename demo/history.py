"""The demo's stored health history: the snapshots validation reads, on a sparse schedule.

Scoring one day costs about the same whatever the number of accounts up to a few hundred
(``health.scoring.score_chunk``: ~0.2 s of Python per call, most of it fixed, plus its
queries), so a year of days (365 calls, 90 s) does not fit a 30-second seed. The schedule:

- every account on the first of each month in the window (the validation report's default
  observation dates), and 30, 7 and 1 days before ``as_of`` (trends and movers of today's
  score, hysteresis against yesterday): about 15 days;
- each churned account alone 14, 30 and 60 days before its churn day (the report's recall
  lead times); demo contracts renew on the first of a month, so those are at most three
  days per month, each scoring only that month's churners: about 24 more.

Measured at 300 accounts and a year (38 days): 7.5 s of Python and about 3 s of database
CPU, in two threads. A colour change between two scheduled days is recorded against the
account's previous stored snapshot (``backfill`` compares with the day before, which a
sparse schedule does not have). Today is then scored live, as ``backfill`` does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, timedelta

from django.conf import settings
from django.db import connection, connections, transaction

from accounts.choices import AccountStatus
from accounts.models import Account
from health.scorecards import active_versions
from health.scoring import recompute, score_chunk, write_scores
from health.validation import LEAD_DAYS

RECENT_DAYS = (30, 7, 1)
MEASURE_DAYS = 28  # the first observation date has this many days of usage before it


def schedule(window_start: date, as_of: date, churn_days: dict[int, date]) -> dict:
    """{day: None (every account) or [account ids]}, days before ``as_of`` only."""
    first = window_start + timedelta(days=MEASURE_DAYS)
    days: dict[date, list | None] = {}
    month = date(first.year, first.month, 1)
    while month < as_of:
        if month >= first:
            days[month] = None
        month = (month + timedelta(days=32)).replace(day=1)
    for n in RECENT_DAYS:
        if as_of - timedelta(days=n) >= first:
            days[as_of - timedelta(days=n)] = None
    for account_id, churned in sorted(churn_days.items()):
        for lead in LEAD_DAYS:
            day = churned - timedelta(days=lead)
            if first <= day < as_of and days.get(day, []) is not None:
                days.setdefault(day, []).append(account_id)
    return dict(sorted(days.items()))


def _score(day: date, ids: list[int], versions) -> list:
    results = []
    for start in range(0, len(ids), settings.HEALTH_CHUNK_SIZE):
        chunk = ids[start : start + settings.HEALTH_CHUNK_SIZE]
        results += score_chunk(chunk, day, versions=versions, live=False)
    return results


def _score_in_thread(day, ids, versions) -> list:
    try:
        return _score(day, ids, versions)
    finally:
        connections.close_all()  # the thread's own connection


def _scores(days: dict, every: list[int], versions) -> list[list]:
    """Every scheduled day's scores, all computed before any is written: no day sees another
    scheduled day's snapshot, whatever the order they are computed in. Two threads with a
    connection each (their queries run while the other scores in pandas), unless the data is
    not committed yet (in a test's transaction)."""
    work = [(day, every if ids is None else ids) for day, ids in days.items()]
    if connection.in_atomic_block:
        return [_score(day, ids, versions) for day, ids in work]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: _score_in_thread(*job, versions), work))


def _write(day: date, results: list, previous: dict) -> int:
    """Write a day's scores; a colour change is against the account's previous scheduled day."""
    for r in results:
        if not r.previous_color and r.account_id in previous:
            r.previous_color, r.previous_score = previous[r.account_id]
        previous[r.account_id] = (r.color, r.score)
    with transaction.atomic():
        return len(write_scores(results, day, live=False))


def build_history(as_of: date, window_start: date) -> dict:
    """Score the schedule's days oldest first, then today live; counts (today included)."""
    churned = Account.objects.filter(status=AccountStatus.CHURNED, churned_at__isnull=False)
    churn_days = {
        pk: at.astimezone(UTC).date() for pk, at in churned.values_list("pk", "churned_at")
    }
    every = list(Account.objects.order_by("id").values_list("id", flat=True))
    days = schedule(window_start, as_of, churn_days)
    versions = active_versions()
    previous: dict[int, tuple] = {}
    snapshots = changes = 0
    for day, results in zip(days, _scores(days, every, versions), strict=True):
        snapshots, changes = snapshots + len(results), changes + _write(day, results, previous)
    active = Account.objects.filter(status=AccountStatus.ACTIVE).order_by("id")
    today = recompute(active.values_list("id", flat=True), as_of)
    return {
        "days": len(days) + 1,
        "snapshots": snapshots + today["scored"],
        "changes": changes + today["changes"],
    }
