"""Peer benchmarks: points from the account's percentile among its segment's active
accounts on the day, not from fixed thresholds."""

from datetime import date, timedelta

import pytest

from accounts.models import Contact, DailyContactUsage
from health.peers import percentiles
from health.scoring import score_chunk
from tests.factories import AccountFactory
from tests.health.test_scoring import only_scorecard

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 11, 20)


def with_active_users(active: int, plan: str = "Growth"):
    account = AccountFactory(plan=plan, licenses_purchased=10)
    for k in range(active):
        contact = Contact.objects.create(
            account=account, external_id=f"{account.external_id}-{k}", email=f"{k}@x.example"
        )
        DailyContactUsage.objects.create(
            contact=contact, account=account, date=AS_OF - timedelta(days=3), event_count=1
        )
    return account


def test_percentiles_count_ties_half():
    import pandas as pd

    peers = pd.DataFrame({"raw": [0.0, 10, 20, 20, 40], "group": ["g"] * 5}, index=range(5))
    values = pd.Series([0.0, 20, 40], index=[0, 2, 4])
    # 0: none below, 1 equal -> 0.5 of 5 = 10; 20: 2 below, 2 equal -> 3 of 5 = 60;
    # 40: 4 below, 1 equal -> 4.5 of 5 = 90
    assert percentiles(values, peers).tolist() == [10.0, 60.0, 90.0]


def test_a_peer_benchmark_scores_the_percentile_within_the_plan():
    only_scorecard(
        [
            (
                "license_utilisation",
                1,
                {"benchmark": "peers", "peer_group": "plan", "zero_at": 0, "full_at": 100},
            )
        ]
    )
    growth = [with_active_users(n) for n in range(5)]  # 0%, 10%, 20%, 30%, 40% of seats
    lone = with_active_users(1, plan="Enterprise")  # 10%, the only Enterprise account
    scores = {r.account_id: r.score for r in score_chunk([a.pk for a in [*growth, lone]], AS_OF)}
    # Mid-rank percentiles among the five Growth accounts: 10, 30, 50, 70, 90
    assert [scores[a.pk] for a in growth] == [10.0, 30.0, 50.0, 70.0, 90.0]
    # Alone in its plan, an account is its own median.
    assert scores[lone.pk] == 50.0
    # The same for a chunk of one: peers are the day's whole population, not the chunk.
    (one,) = score_chunk([growth[3].pk], AS_OF)
    assert one.score == 70.0


def test_an_account_outside_the_days_peers_is_ranked_against_them():
    only_scorecard(
        [("license_utilisation", 1, {"benchmark": "peers", "zero_at": 0, "full_at": 100})]
    )
    growth = [with_active_users(n) for n in range(4)]  # 0%, 10%, 20%, 30%
    score_chunk([growth[0].pk], AS_OF)  # the day's population is counted (and kept)
    # Created since, with 20% of seats active: ranked against the four counted peers,
    # 2 below and 1 equal -> (2 + 3) / 2 of 4 = 62.5.
    late = with_active_users(2)
    (result,) = score_chunk([late.pk], AS_OF)
    assert result.score == 62.5


def test_the_peers_of_a_chunk_holding_the_whole_book_are_not_counted_twice():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from health import peers

    only_scorecard(
        [("license_utilisation", 1, {"benchmark": "peers", "zero_at": 0, "full_at": 100})]
    )
    book = [with_active_users(n) for n in range(3)]  # 0%, 10%, 20%
    peers._cache.clear()
    with CaptureQueriesContext(connection) as queries:
        scores = {r.account_id: r.score for r in score_chunk([a.pk for a in book], AS_OF)}
    usage_reads = [q for q in queries if "accounts_dailycontactusage" in q["sql"]]
    assert len(usage_reads) == 1  # the chunk's own; the population reuses its values
    # Mid-rank among three: 0.5, 1.5 and 2.5 of 3, rounded to a tenth.
    assert [scores[a.pk] for a in book] == [16.7, 50.0, 83.3]
