"""manage.py learn_scorecard: what it prints, --json, --publish, and its refusals."""

import json
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from accounts.models import DailyAccountUsage
from health.management.commands.learn_scorecard import _lines, _value
from health.models import LearnedScorecard, Scorecard
from tests.factories import AccountFactory
from tests.health.test_learning import AS_OF, KEY, START, key_feature, portfolio  # noqa: F401

pytestmark = pytest.mark.django_db


def test_thresholds_read_as_people_write_them():
    assert [_value(v) for v in (1160.4, 100, 61.2, 4.5, 0.25, -75.0, -1200)] == [
        "1,160", "100", "61.2", "4.5", "0.25", "-75", "-1,200",
    ]  # fmt: skip


def _side(label, auc, churned):
    return {
        "label": label, "available": True, "observations": 500, "churned": churned,
        "auc": auc, "auc_low": auc and auc - 0.05, "auc_high": auc and auc + 0.05,
        "recall_30": auc and 0.8, "false_alarms": 0.14,
    }  # fmt: skip


def test_the_report_says_each_measure_and_when_too_few_outcomes_to_judge():
    report = {
        "as_of": "2026-08-01", "observations": 1524, "observation_dates": ["d"] * 6,
        "churned_observations": 26, "window_days": 60,
        "cross_validation": {"c": 1.0, "auc_by_c": {"0.1": 0.9, "1.0": 0.968}},
        "measures": [
            {"kind": "tenure", "weight": 16.34, "says": "more tenure raises risk",
             "zero_at": 1160.0, "full_at": 61.0},
        ],
        "left_out": {"nps": "no value on any training observation"},
        "bands": {"green_min": 34, "yellow_min": 21, "hysteresis": 2.0},
        "compare_training": {"what": "Cross-validated:", "draft": _side("learned", None, 7),
                             "current": _side("current version", None, 7)},
        "compare_after": {"what": "Out of sample:", "draft": _side("learned", 0.98, 11),
                          "current": _side("current version", 0.87, 11)},
    }  # fmt: skip
    lines = _lines(SimpleNamespace(report=report, version="Default v2", pk=3))
    assert "   16.34%  tenure                   more tenure raises risk (0 points at 1,160, " \
        "100 at 61)" in lines  # fmt: skip
    assert "  left out nps: no value on any training observation" in lines
    assert (
        "  learned                  too few outcomes to judge the AUC or recall (7 churned of "
        "500 observations, 10 needed); false alarms 14%"
    ) in lines
    assert (
        "  learned                  AUC 0.98 (0.93-1.03), 30-day recall 80%, false alarms "
        "14%, 500 observations, 11 churned"
    ) in lines
    assert lines[-1].startswith("Nothing is published")


def test_publish_makes_the_draft_current_and_json_says_which_version(key_feature):  # noqa: F811
    portfolio(n=70, churners=30)
    card = Scorecard.objects.get(is_default=True)
    before = card.current_version.number
    out = StringIO()
    call_command("learn_scorecard", "--as-of", AS_OF.isoformat(), "--publish", "--json", stdout=out)
    body = json.loads(out.getvalue())
    card.refresh_from_db()
    assert body["published_version"] == card.current_version.number == before + 1
    assert LearnedScorecard.objects.get(pk=body["id"]).status == "published"
    assert any(m["kind"] == "activity_change" for m in body["measures"])
    assert KEY in json.dumps(card.current_version.definition)


def test_a_failed_fit_publishes_nothing_and_names_the_reason():
    account = AccountFactory(contract_start=START)
    DailyAccountUsage.objects.create(account=account, date=START, event_count=1)
    card = Scorecard.objects.get(is_default=True)
    before = card.current_version
    with pytest.raises(CommandError, match=r"^--as-of: Too few churned accounts"):
        call_command("learn_scorecard", "--as-of", AS_OF.isoformat(), "--publish")
    with pytest.raises(CommandError, match=r"^--as-of: 'soon' is not a date"):
        call_command("learn_scorecard", "--as-of", "soon")
    card.refresh_from_db()
    assert card.current_version == before and not LearnedScorecard.objects.exists()
