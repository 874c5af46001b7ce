"""Preview (who matches now) and backtest (what it would have done) on a hand-built history."""

from datetime import UTC, date, datetime, timedelta

import pytest

from playbooks.backtest import backtest, preview
from tests.factories import AccountFactory
from tests.playbooks.factories import (
    AccountHealthFactory,
    HealthChangeFactory,
    HealthSnapshotFactory,
    PlaybookFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)  # a Monday: ISO week 2026-W10


def test_preview_lists_the_accounts_in_the_target_state_that_meet_the_conditions():
    playbook = PlaybookFactory(plans=["Growth"])
    yellow = AccountHealthFactory(color="yellow", account=AccountFactory(name="A")).account
    AccountHealthFactory(color="green")
    AccountHealthFactory(color="yellow", account=AccountFactory(plan="Enterprise"))
    result = preview(playbook, NOW)
    assert result["count"] == 1 and result["accounts"] == [yellow]
    assert result["state"] == "currently yellow"


def test_preview_of_a_renewal_trigger_lists_renewals_in_the_window():
    playbook = PlaybookFactory(trigger_kind="renewal_within", trigger_params={"days": 90})
    soon = AccountFactory(renewal_date=date(2026, 4, 1))
    AccountFactory(renewal_date=date(2026, 12, 1))
    assert preview(playbook, NOW)["accounts"] == [soon]


def test_backtest_counts_runs_per_week_and_account_honouring_the_cooldown():
    playbook = PlaybookFactory(cooldown_days=7)
    a, b, c = AccountFactory(name="A"), AccountFactory(name="B"), AccountFactory(name="C")
    for days_ago in (20, 17, 3):  # the second is within the first one's cooldown
        HealthChangeFactory(account=a, changed_at=NOW - timedelta(days=days_ago))
    HealthChangeFactory(account=b, changed_at=NOW - timedelta(days=10))
    HealthChangeFactory(account=c, from_color="yellow", to_color="red", changed_at=NOW)
    HealthChangeFactory(account=b, changed_at=NOW - timedelta(days=40))  # before the window
    result = backtest(playbook, 30, NOW)
    assert (result["runs"], result["suppressed"]) == (3, 1)
    weeks = {w["week"]: (w["runs"], w["suppressed"]) for w in result["weeks"]}
    assert weeks["2026-W07"] == (1, 1)  # 10 and 13 February
    assert weeks["2026-W08"] == (1, 0)  # 20 February
    assert weeks["2026-W09"] == (1, 0)  # 27 February
    assert weeks["2026-W06"] == (0, 0) and weeks["2026-W10"] == (0, 0)
    assert result["accounts"] == [
        {"id": a.pk, "name": "A", "runs": 2},
        {"id": b.pk, "name": "B", "runs": 1},
    ]


def test_backtest_of_a_score_drop_fires_once_per_drop():
    playbook = PlaybookFactory(
        trigger_kind="score_dropped", trigger_params={"points": 20, "days": 7}, cooldown_days=0
    )
    account = AccountFactory()
    scores = [80, 80, 75, 55, 50, 52, 80, 80, 55]  # drops on day 3 and again on day 8
    start = NOW.date() - timedelta(days=len(scores) - 1)
    for i, score in enumerate(scores):
        HealthSnapshotFactory(account=account, date=start + timedelta(days=i), score=score)
    result = backtest(playbook, 20, NOW)
    assert result["runs"] == 2


def test_backtest_says_when_history_cannot_be_replayed():
    playbook = PlaybookFactory(
        trigger_kind="segment_entered", trigger_params={"segment_plans": ["Enterprise"]}
    )
    result = backtest(playbook, 30, NOW)
    assert result["runs"] == 0 and "cannot be replayed" in result["note"]
