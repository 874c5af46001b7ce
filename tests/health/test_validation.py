"""The validation report: how well a scorecard's stored history predicted churn.

Every expected value is worked out by hand in the comments next to it.
"""

import importlib
import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from accounts.choices import AccountStatus
from health import validation
from health.models import HealthSnapshot, Scorecard
from health.scorecards import publish
from health.scoring import AccountScore, write_scores
from health.validation import Minimums, auc, calibration, deciles, validation_report
from health.validation_data import (
    Period,
    ValidationInputError,
    _measure_points,
    _points_text,
    scorecard_validation,
)
from tests.factories import AccountFactory

ANY = Minimums(churned=1, stayed=1, churners=1)  # tiny histories: judge whatever there is
D = date(2026, 6, 1)  # the observation date of the small portfolio below


def frame(rows, **extra) -> pd.DataFrame:
    """Observations from (account, date, score, colour, churned) tuples."""
    data = pd.DataFrame(rows, columns=["account_id", "date", "score", "color", "churned"])
    data["date"] = pd.to_datetime(data["date"])
    data["ever_churned"] = data["churned"]
    for name, values in extra.items():
        data[name] = values
    return data


NO_LEADS = pd.DataFrame(columns=["account_id", "days_before", "color"])

# Three churners (20, 50, 75) and four stayers (50, 70, 80, 90) on one day.
SEVEN = [
    (1, D, 20, "red", True),
    (2, D, 50, "yellow", True),
    (3, D, 75, "green", True),
    (4, D, 50, "yellow", False),
    (5, D, 70, "green", False),
    (6, D, 80, "green", False),
    (7, D, 90, "green", False),
]


# --- The metrics, on frames ----------------------------------------------------------------


def test_auc_counts_pairs_where_the_churner_scored_lower_and_ties_as_half():
    # 3 x 4 = 12 pairs. Churner 20 is below all four stayers: 4. Churner 50 ties stayer 50
    # (0.5) and is below 70, 80, 90: 3.5. Churner 75 is below 80 and 90: 2. 9.5 / 12.
    data = frame(SEVEN)
    assert auc(data["score"], data["churned"]) == pytest.approx(9.5 / 12)


def test_auc_is_one_half_for_a_constant_score_and_none_without_both_outcomes():
    assert auc([40, 40, 40], [True, False, False]) == 0.5
    assert auc([10, 20], [False, False]) is None


def test_the_report_on_seven_observations():
    report = validation_report(frame(SEVEN), NO_LEADS, measures={}, minimums=ANY, resamples=200)
    assert report["auc"]["value"] == pytest.approx(0.7917, abs=1e-4)  # 9.5 / 12
    assert report["auc"]["observations"] == 7 and report["auc"]["churned"] == 3
    assert report["auc"]["resampled"] == "accounts" and report["auc"]["resamples"] <= 200
    assert report["auc"]["low"] <= report["auc"]["value"] <= report["auc"]["high"]
    bands = {b["color"]: b for b in report["bands"]}
    # green: 75c, 70, 80, 90 -> 1 of 4; yellow: 50c, 50 -> 1 of 2; red: 20c -> 1 of 1.
    assert (bands["green"]["observations"], bands["green"]["churn_rate"]) == (4, 0.25)
    assert (bands["yellow"]["observations"], bands["yellow"]["churn_rate"]) == (2, 0.5)
    assert (bands["red"]["observations"], bands["red"]["churn_rate"]) == (1, 1.0)
    assert report["lift"]["yellow_vs_green"]["value"] == 2.0  # 0.5 / 0.25
    assert report["lift"]["red_vs_green"]["value"] == 4.0  # 1.0 / 0.25
    # Never churned: 4 (yellow), 5, 6, 7 (green): 1 of 4 flagged.
    assert report["false_alarms"]["rate"] == 0.25
    # The ROC starts at nothing flagged and ends at everything flagged; at "20 and below"
    # one churner in three and no stayer is flagged.
    roc = report["roc"]
    assert roc[0] == {"threshold": None, "false_alarm_rate": 0.0, "recall": 0.0}
    assert roc[1] == {"threshold": 20.0, "false_alarm_rate": 0.0, "recall": 0.3333}
    assert roc[-1]["false_alarm_rate"] == 1.0 and roc[-1]["recall"] == 1.0


def test_below_the_minimums_there_is_no_number_but_a_reason():
    report = validation_report(frame(SEVEN), NO_LEADS, measures={})  # default minimums: 10
    assert report["judged"] is False
    assert report["auc"]["value"] is None and report["auc"]["judged"] is False
    assert report["auc"]["note"] == (
        "too few outcomes to judge: 3 churned observations, at least 10 needed and "
        "4 observations that stayed, at least 10 needed"
    )
    assert report["lift"]["red_vs_green"]["value"] is None
    assert report["false_alarms"]["rate"] is None
    # Sample sizes are still given.
    assert report["observations"]["observations"] == 7
    assert report["bands"][0]["observations"] == 4


def test_a_separation_gives_an_interval_of_one():
    # Every churner below every stayer: whatever accounts a resample draws, its AUC is 1.
    rows = [(n, D, 10 + n, "red", True) for n in range(3)]
    rows += [(n, D, 60 + n, "green", False) for n in range(3, 8)]
    first = validation_report(frame(rows), NO_LEADS, measures={}, minimums=ANY, resamples=100)
    assert (first["auc"]["value"], first["auc"]["low"], first["auc"]["high"]) == (1.0, 1.0, 1.0)


def test_the_bootstrap_is_seeded():
    def interval(seed):
        report = validation_report(
            frame(SEVEN), NO_LEADS, measures={}, minimums=ANY, resamples=300, seed=seed
        )
        return report["auc"]["low"], report["auc"]["high"]

    assert interval(3) == interval(3)


def test_the_bootstrap_counts_resamples_in_batches_as_drawn_one_at_a_time(monkeypatch):
    # Three accounts: 1 churned at 10; 2 stayed at 20; 3 stayed at 5 and, a month later, 30.
    # Two resamples per batch (6 draws of 3 accounts), so 7 resamples end on a partial batch.
    monkeypatch.setattr(validation, "BOOTSTRAP_DRAWS", 6)
    rows = [(1, D, 10, "red", True), (2, D, 20, "green", False), (3, D, 5, "red", False),
            (3, date(2026, 7, 1), 30, "green", False)]  # fmt: skip
    low, high, used = validation.bootstrap_auc(frame(rows), resamples=7, seed=3, confidence=0.5)
    # By hand: the same draws, one resample at a time (accounts numbered in order of first
    # row), each resample's AUC by counting its (churner, stayer) pairs one by one.
    by_account = {0: [(10, True)], 1: [(20, False)], 2: [(5, False), (30, False)]}
    rng, aucs = np.random.default_rng(3), []
    for _ in range(7):
        drawn = [row for i in rng.integers(0, 3, 3) for row in by_account[int(i)]]
        churned = [score for score, churn in drawn if churn]
        stayed = [score for score, churn in drawn if not churn]
        if churned and stayed:
            won = sum((c < s) + 0.5 * (c == s) for c in churned for s in stayed)
            aucs.append(won / (len(churned) * len(stayed)))
    assert used == len(aucs) > 0
    assert (low, high) == tuple(round(float(v), 4) for v in np.percentile(aucs, [25, 75]))


def test_recall_counts_churners_flagged_n_days_before_among_those_scored_that_day():
    # Churner 1: red 14 days before, yellow at 30, green at 60. Churner 2: yellow at 14,
    # green at 30, not yet scored at 60. Churner 3: green throughout.
    leads = pd.DataFrame(
        [
            (1, 14, "red"), (1, 30, "yellow"), (1, 60, "green"),
            (2, 14, "yellow"), (2, 30, "green"), (2, 60, None),
            (3, 14, "green"), (3, 30, "green"), (3, 60, "green"),
        ],
        columns=["account_id", "days_before", "color"],
    )  # fmt: skip
    report = validation_report(frame(SEVEN), leads, measures={}, minimums=ANY, resamples=10)
    recall = {r["days_before"]: r for r in report["recall"]}
    assert (recall[14]["flagged"], recall[14]["scored"], recall[14]["recall"]) == (2, 3, 0.6667)
    assert (recall[30]["flagged"], recall[30]["scored"], recall[30]["recall"]) == (1, 3, 0.3333)
    assert (recall[60]["churners"], recall[60]["scored"], recall[60]["recall"]) == (3, 2, 0.0)


def test_false_alarms_are_the_mean_of_each_days_share():
    # Day one: 1 of 4 stayers flagged; day two: 1 of 2. Mean (0.25 + 0.5) / 2 = 0.375 (the
    # pooled share would be 2 / 6). The churner is never counted.
    day2 = date(2026, 7, 1)
    rows = [
        (1, D, 45, "yellow", False), (2, D, 80, "green", False),
        (3, D, 80, "green", False), (4, D, 80, "green", False),
        (1, day2, 30, "red", False), (2, day2, 75, "green", False),
        (9, day2, 20, "red", True),
    ]  # fmt: skip
    report = validation_report(frame(rows), NO_LEADS, measures={}, minimums=ANY, resamples=10)
    alarms = report["false_alarms"]
    assert alarms["rate"] == 0.375 and alarms["observations"] == 6 and alarms["accounts"] == 4
    assert [(d["stayers"], d["flagged"]) for d in alarms["per_date"]] == [(4, 1), (2, 1)]


def test_calibration_deciles_of_twenty_scores():
    # Scores 5, 10, ..., 100: two per decile. The two lowest churn (rate 1), of the next two
    # the lower one churns (0.5), nobody else does.
    rows = [(n, D, 5 * n, "green", n in (1, 2, 3)) for n in range(1, 21)]
    table = calibration(frame(rows))
    assert [d["decile"] for d in table] == list(range(1, 11))
    assert [d["observations"] for d in table] == [2] * 10
    assert [d["churn_rate"] for d in table] == [1.0, 0.5] + [0.0] * 8
    assert (table[0]["score_min"], table[0]["score_max"]) == (5.0, 10.0)


def test_tied_scores_share_a_decile():
    # Ten scores, the three lowest tied: ranks 1, 1, 1, 4, 5, ..., 10 -> deciles 1, 1, 1, 4 ...
    scores = pd.Series([10, 10, 10, 20, 30, 40, 50, 60, 70, 80], dtype=float)
    assert deciles(scores).tolist() == [1, 1, 1, 4, 5, 6, 7, 8, 9, 10]


def test_each_measure_has_its_auc_missing_share_and_constancy():
    # "usage" ranks the seven as the score does but for churner 75 at 95 (above every
    # stayer): pairs won 4 + 3.5 + 0 = 7.5 of 12. "nps" is missing for 4 of 7. "breadth" is
    # constant.
    usage = [20, 50, 95, 50, 70, 80, 90]
    nps = [10, None, None, 60, None, None, 90]
    report = validation_report(
        frame(SEVEN, usage=usage, nps=nps, breadth=[100] * 7, csat=[None] * 7),
        NO_LEADS,
        measures={"usage": "Usage", "nps": "NPS", "breadth": "Breadth", "csat": "CSAT"},
        minimums=ANY,
        resamples=10,
    )
    by = {m["measure"]: m for m in report["measures"]}
    assert by["usage"]["auc"] == pytest.approx(7.5 / 12, abs=1e-4)
    # nps with data: churner 10, stayers 60 and 90 -> 2 of 2 pairs won.
    assert (by["nps"]["missing_share"], by["nps"]["with_data"], by["nps"]["auc"]) == (
        0.5714,  # 4 / 7
        3,
        1.0,
    )
    assert by["breadth"]["auc"] is None and by["breadth"]["modal_share"] == 1.0
    assert by["breadth"]["note"] == "constant: every observation with data scored 100"
    # Never any data: said so once, not as too few outcomes.
    assert (by["csat"]["missing_share"], by["csat"]["auc"]) == (1.0, None)
    assert by["csat"]["note"] == "no data: the measure had no value on any observation"


# --- From stored history -------------------------------------------------------------------


def snapshot(account, day, score, color, version, **points):
    """A stored score with the points of some measures, as scoring writes them: in the
    components and, in the version's order of measures, in ``measure_points``."""
    components = [{"measure": kind, "points": value} for kind, value in points.items()]
    ordered = [points.get(m["kind"]) for m in version.definition["measures"]]
    return HealthSnapshot(
        account=account, date=day, score=score, color=color, components=components,
        measure_points=ordered, scorecard_version=version,
    )  # fmt: skip


def customer(churned_on=None, **fields):
    if churned_on is None:
        return AccountFactory(**fields)
    at = datetime(churned_on.year, churned_on.month, churned_on.day, 10, tzinfo=UTC)
    return AccountFactory(status=AccountStatus.CHURNED, churned_at=at, **fields)


@pytest.fixture
def portfolio(db):
    """The seven of SEVEN stored on June 1st under the default scorecard (cut down to usage
    and NPS), with lead-day snapshots, plus four accounts the report must treat with care."""
    card = Scorecard.objects.get(is_default=True)
    old = card.current_version
    card.measures.exclude(kind__in=["usage_frequency", "nps"]).delete()
    version = publish(card)
    c1 = customer(date(2026, 7, 1))
    c2 = customer(date(2026, 7, 15))
    c3 = customer(date(2026, 7, 31))  # the window's last day: within it
    stayers = [customer() for _ in range(4)]
    on_churn_day = customer(date(2026, 6, 1))  # churned on the observation date: not active
    later = customer(date(2026, 8, 1))  # one day after the window: stayed, but churned later
    not_yet = customer(contract_start=date(2026, 7, 1))  # a customer from July only
    other_version = customer()
    rows = [
        snapshot(c1, D, 20, "red", version, usage_frequency=10, nps=0),
        snapshot(c2, D, 50, "yellow", version, usage_frequency=40),
        snapshot(c3, D, 75, "green", version, usage_frequency=100),
        *[
            snapshot(account, D, score, color, version, usage_frequency=100, nps=80)
            for account, score, color in zip(
                stayers, (50, 70, 80, 90), ("yellow", "green", "green", "green"), strict=True
            )
        ],
        snapshot(on_churn_day, D, 10, "red", version),
        snapshot(later, D, 85, "green", version, usage_frequency=100),
        snapshot(not_yet, D, 10, "red", version),
        snapshot(other_version, D, 10, "red", old),
        # Lead days: 14, 30 (= June 1st for c1) and 60 days before each churn.
        snapshot(c1, date(2026, 6, 17), 15, "red", version),
        snapshot(c1, date(2026, 5, 2), 72, "green", version),
        snapshot(c2, date(2026, 7, 1), 45, "yellow", version),
        snapshot(c2, date(2026, 6, 15), 45, "yellow", old),  # another version: not counted
        snapshot(c3, date(2026, 7, 17), 71, "green", version),
        snapshot(c3, date(2026, 7, 1), 65, "yellow", version),
        snapshot(c3, date(2026, 6, 20), 60, "yellow", version),  # no lead day: not read
    ]
    HealthSnapshot.objects.bulk_create(rows)
    return card, version


JUNE = Period(start=date(2026, 6, 1), end=date(2026, 6, 30), window=60)


def test_the_report_from_history(portfolio):
    card, version = portfolio
    report = scorecard_validation(card, JUNE, minimums=ANY, resamples=100)
    assert report["scorecard"] == {"id": card.pk, "name": "Default", "version": version.number}
    assert report["period"]["observation_dates"] == ["2026-06-01"]
    # Observed: the seven, and the account that churned on August 1st (a stayer at 85).
    # Stayers 50, 70, 80, 85, 90 -> 15 pairs: churner 20 wins 5, churner 50 wins 4.5 (a tie),
    # churner 75 wins 3 (80, 85, 90): 12.5 / 15.
    assert report["observations"]["observations"] == 8
    assert report["observations"]["churned"] == 3
    assert report["auc"]["value"] == pytest.approx(12.5 / 15, abs=1e-4)
    bands = {b["color"]: b for b in report["bands"]}
    assert bands["green"]["churn_rate"] == 0.2  # 75c, 70, 80, 85, 90
    assert report["lift"]["yellow_vs_green"]["value"] == 2.5  # 0.5 / 0.2
    assert report["lift"]["red_vs_green"]["value"] == 5.0  # 1.0 / 0.2
    # Never churned: the four stayers (the August churner is left out): 1 of 4 yellow.
    assert report["false_alarms"]["rate"] == 0.25 and report["false_alarms"]["accounts"] == 4
    recall = {r["days_before"]: (r["churners"], r["scored"], r["recall"]) for r in report["recall"]}
    # 14 days: c1 red, c2 yellow, c3 green. 30: c1 red (its June 1st score), c2 none of this
    # version, c3 yellow. 60: c1 green, c2 none, c3 green (June 1st).
    assert recall == {14: (3, 3, 0.6667), 30: (3, 2, 1.0), 60: (3, 2, 0.0)}
    by = {m["measure"]: m for m in report["measures"]}
    # usage: churners 10, 40, 100; stayers 100 x 5 -> 4 + 4 + 2.5 = ... see below.
    # Churner 10 beats all 5 stayers (5), churner 40 too (5), churner 100 ties all (2.5).
    assert by["usage_frequency"]["auc"] == pytest.approx(12.5 / 15, abs=1e-4)
    assert by["usage_frequency"]["label"] == "Usage frequency"
    # nps: only c1 (0, churned) and the four stayers (80) have it: missing for 3 of 8.
    assert by["nps"]["missing_share"] == 0.375 and by["nps"]["auc"] == 1.0


def test_an_unknown_version_and_a_version_without_history(portfolio):
    card, version = portfolio
    with pytest.raises(ValidationInputError) as error:
        scorecard_validation(card, JUNE, version=version.number + 1)
    assert error.value.field == "version"
    assert str(error.value) == f"Default has no version {version.number + 1}."
    card.measures.filter(kind="nps").delete()
    publish(card)  # a new current version, never scored
    with pytest.raises(ValidationInputError) as error:
        scorecard_validation(card, JUNE)
    assert error.value.field == "version" and "no stored history" in str(error.value)


def test_an_older_versions_history_replaced_by_a_backfill_says_so(portfolio):
    card, version = portfolio
    card.measures.filter(kind="nps").delete()
    newer = publish(card)
    HealthSnapshot.objects.filter(scorecard_version=version, date__lt=date(2026, 6, 30)).update(
        scorecard_version=newer
    )  # as backfill_health leaves it: the older version's days rescored with the newer one
    with pytest.raises(ValidationInputError) as error:
        scorecard_validation(card, JUNE, version=version.number, today=date(2026, 8, 1))
    assert error.value.field == "version"
    assert str(error.value) == (
        f"Default v{version.number} has scores from 2026-07-01 only (a day keeps one score per "
        "account: backfill_health after a newer version was published replaced this one's); "
        "validate the current version."
    )


def test_a_window_longer_than_the_stored_history(portfolio):
    card, _ = portfolio
    # As of June 20th a 60-day window needs dates up to April 20th; history starts May 2nd.
    spring = Period(start=date(2026, 1, 1), end=date(2026, 6, 1), window=60)
    with pytest.raises(ValidationInputError) as error:
        scorecard_validation(card, spring, today=date(2026, 6, 20))
    assert error.value.field == "window"
    assert "longer than the stored history" in str(error.value)
    # As of July 15th the dates up to May 15th have their outcomes, but no scores.
    with pytest.raises(ValidationInputError) as error:
        scorecard_validation(card, spring, today=date(2026, 7, 15))
    assert error.value.field == "start"
    assert "its history runs from 2026-05-02 to 2026-07-17" in str(error.value)


@pytest.mark.parametrize(
    ("period", "field", "reason"),
    [
        (Period(date(2026, 6, 30), date(2026, 6, 1)), "start", "2026-06-30 is after end"),
        (Period(date(2026, 6, 2), date(2026, 6, 30)), "start", "No observation date"),
        (Period(date(2026, 11, 1), date(2026, 11, 20)), "window", "ends after yesterday"),
        (Period(date(2026, 6, 1), date(2027, 1, 1)), "end", "outcomes are known up to"),
        # July 1st: c2 and c3 are active, neither churns within 5 days.
        (Period(date(2026, 7, 1), date(2026, 7, 31), window=5), "start", "period without"),
    ],
)
def test_periods_it_cannot_judge_name_the_field(portfolio, period, field, reason):
    with pytest.raises(ValidationInputError) as error:
        scorecard_validation(portfolio[0], period, today=date(2026, 12, 1))
    assert error.value.field == field and reason in str(error.value)


def test_weekly_observation_dates_are_mondays():
    assert Period(date(2026, 6, 3), date(2026, 6, 22), every="week").dates() == [
        date(2026, 6, 8), date(2026, 6, 15), date(2026, 6, 22)
    ]  # fmt: skip
    assert Period(date(2025, 12, 2), date(2026, 2, 1)).dates() == [
        date(2026, 1, 1), date(2026, 2, 1)
    ]  # fmt: skip


def test_by_default_the_period_starts_a_year_ago_or_at_the_first_event_if_later(db):
    from accounts.models import EventDefinition

    today = date(2026, 12, 1)
    assert Period.of(today=today).start == date(2025, 12, 1)  # no event yet
    EventDefinition.objects.create(name="login", first_seen_at=datetime(2025, 6, 1, tzinfo=UTC))
    assert Period.of(today=today).start == date(2025, 12, 1)  # events from before the year
    EventDefinition.objects.create(name="early", first_seen_at=datetime(2026, 3, 15, tzinfo=UTC))
    EventDefinition.objects.filter(name="login").update(
        first_seen_at=datetime(2026, 4, 2, tzinfo=UTC)
    )
    period = Period.of(today=today)
    assert (period.start, period.dates()[0]) == (date(2026, 3, 15), date(2026, 4, 1))
    assert Period.of(start=date(2026, 1, 1), today=today).start == date(2026, 1, 1)  # as asked


# --- The API, the command and the page -------------------------------------------------------

URL = "/api/v1/scorecards/{}/validation?start=2026-06-01&end=2026-06-30"


def test_the_api_answers_with_the_report(
    api, issue_token, portfolio, django_assert_max_num_queries
):
    card, version = portfolio
    client = api(issue_token("read")[0])
    client.get("/api/v1/scorecards/")  # the token's first use is recorded
    with django_assert_max_num_queries(6):
        response = client.get(URL.format(card.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "scorecard", "period", "observations", "minimums", "judged", "auc", "roc", "recall",
        "false_alarms", "bands", "lift", "calibration", "measures", "definitions",
    }  # fmt: skip
    assert body["scorecard"]["version"] == version.number
    assert body["period"]["window_days"] == 60
    assert body["observations"]["observations"] == 8 and body["observations"]["churned"] == 3
    # Three churned observations are fewer than the ten it takes to judge.
    assert body["judged"] is False and body["auc"]["value"] is None
    assert body["minimums"] == {"churned": 10, "stayed": 10, "churners": 10}
    assert [b["observations"] for b in body["bands"]] == [5, 2, 1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2026-06-30&end=2026-06-01", "start"),
        ("start=2026-06-01&end=2026-06-30&version=99", "version"),
        ("start=2026-11-01&end=2026-11-20", "window"),
        ("start=2026-06-01&end=2026-06-30&window=0", "window"),
        ("start=2026-07-01&end=2026-07-31&window=5", "start"),
        ("start=June", "start"),
    ],
)
def test_the_api_refuses_bad_input_naming_the_field(client, viewer, portfolio, query, field):
    client.force_login(viewer)
    response = client.get(f"/api/v1/scorecards/{portfolio[0].pk}/validation?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize("role", ["Admin", "CSM", "Viewer"])
def test_every_role_reads_the_validation(client, make_user, portfolio, role):
    client.force_login(make_user("someone", role))
    assert client.get(URL.format(portfolio[0].pk)).status_code == 200


def test_the_api_refuses_anonymous_callers_tokens_without_read_and_unknown_scorecards(
    client, api, issue_token, portfolio
):
    assert client.get(URL.format(portfolio[0].pk)).status_code in (401, 403)
    client = api(issue_token("ingest")[0])
    assert client.get(URL.format(portfolio[0].pk)).status_code == 403
    client = api(issue_token("read")[0])
    assert client.get(URL.format(99999)).status_code == 404
    assert client.get(URL.format(2**70)).status_code == 404


def test_the_schema_documents_the_endpoint(client, csm):
    client.force_login(csm)
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/scorecards/{id}/validation/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"start", "end", "window", "version"}
    assert "400" in operation["responses"]


def test_the_command_prints_a_readable_report_and_json(portfolio, capsys):
    args = ["--scorecard", "default", "--start", "2026-06-01", "--end", "2026-06-30"]
    call_command("validate_health", *args)
    text = capsys.readouterr().out
    assert "Default v" in text and "AUC —" in text
    assert "too few outcomes to judge: 3 churned observations, at least 10 needed" in text
    assert "14 days:" in text and "False alarms:" in text
    call_command("validate_health", *args, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["observations"]["observations"] == 8


def test_the_command_refuses_bad_input(portfolio):
    with pytest.raises(CommandError, match="--start: 2026-06-30 is after end"):
        call_command(
            "validate_health", "--scorecard", "Default", "--start", "2026-06-30", "--end",
            "2026-06-01",
        )  # fmt: skip
    with pytest.raises(CommandError, match="No scorecard 'Nope'"):
        call_command("validate_health", "--scorecard", "Nope")


@pytest.fixture
def separated(db):
    """Twelve churners scoring 10-21 (red) and twelve stayers 60-71 (green) on June 1st."""
    card = Scorecard.objects.get(is_default=True)
    version = card.current_version
    rows = []
    for n in range(12):
        churner = customer(date(2026, 7, 1))
        rows.append(snapshot(churner, D, 10 + n, "red", version, nps=10))
        rows.append(snapshot(churner, date(2026, 6, 17), 10 + n, "red", version))
        rows.append(snapshot(customer(), D, 60 + n, "green", version, nps=60 + n))
    HealthSnapshot.objects.bulk_create(rows)
    return card


def test_the_page_shows_the_verdict_with_charts(client, viewer, separated):
    client.force_login(viewer)
    url = reverse("scorecards:validation", args=[separated.pk])
    response = client.get(url, {"start": "2026-06-01", "end": "2026-06-30"})
    assert response.status_code == 200
    html = response.content.decode()
    report = response.context["report"]
    # Every churner below every stayer: AUC 1, interval 1 to 1; red churns, green never.
    assert (report["auc"]["value"], report["auc"]["low"], report["auc"]["high"]) == (1, 1, 1)
    assert report["recall"][0]["recall"] == 1.0  # 12 of 12 red 14 days before
    assert html.count("<svg") == 3 and "ROC curve" in html and "Strength per measure" in html
    assert "No green observation churned" in html  # the lift has no base


def test_the_page_explains_bad_input_and_small_samples(client, csm, portfolio):
    client.force_login(csm)
    url = reverse("scorecards:validation", args=[portfolio[0].pk])
    response = client.get(url, {"start": "2026-06-30", "end": "2026-06-01"})
    assert response.status_code == 400
    assert "2026-06-30 is after end (2026-06-01)" in response.content.decode()
    response = client.get(url, {"start": "2026-06-01", "end": "2026-06-30"})
    assert response.status_code == 200
    assert "Too few outcomes to judge" in response.content.decode()


def test_the_builder_links_to_the_validation_and_anonymous_visitors_log_in(client, viewer):
    card = Scorecard.objects.get(is_default=True)
    url = reverse("scorecards:validation", args=[card.pk])
    assert client.get(url).status_code == 302
    client.force_login(viewer)
    assert url in client.get(reverse("scorecards:edit", args=[card.pk])).content.decode()


# --- The points validation reads -----------------------------------------------------------


def test_points_in_order_follow_the_kinds_with_none_where_there_is_no_number():
    components = [
        {"measure": "nps", "points": 80.0, "missing": False},
        {"measure": "tenure", "points": float("nan"), "missing": False},
        {"measure": "csat", "points": None, "missing": True},
    ]
    kinds = ["usage_frequency", "nps", "tenure", "csat"]
    assert HealthSnapshot.points_in_order(components, kinds) == [None, 80.0, None, None]


def test_written_scores_keep_each_measures_points_in_the_versions_order(db):
    card = Scorecard.objects.get(is_default=True)
    card.measures.exclude(kind__in=["usage_frequency", "nps"]).delete()
    version = publish(card)
    kinds = [m["kind"] for m in version.definition["measures"]]
    account = AccountFactory()
    # NPS had data (80 points), usage frequency none: [None, 80] in the version's order.
    components = [
        {"measure": "nps", "raw": 8.0, "points": 80.0, "contribution": 80.0, "missing": False},
        {"measure": "usage_frequency", "raw": None, "points": None, "contribution": 0.0,
         "missing": True},
    ]  # fmt: skip
    score = AccountScore(
        account_id=account.pk, score=80.0, color="green", components=components, movers=[],
        explanation="Green (80).", trend_7d=None, trend_30d=None, version=version,
    )  # fmt: skip
    write_scores([score], D, live=False)
    stored = HealthSnapshot.objects.get(account=account, date=D)
    expected = {"usage_frequency": None, "nps": 80.0}
    assert stored.measure_points == [expected[kind] for kind in kinds]


def test_the_migration_backfills_points_from_the_components(db):
    card = Scorecard.objects.get(is_default=True)
    card.measures.exclude(kind__in=["usage_frequency", "nps", "tenure"]).delete()
    version = publish(card)
    kinds = [m["kind"] for m in version.definition["measures"]]
    account = AccountFactory()
    # An older row: components only (tenure 55.5, NPS 0; no usage frequency component).
    HealthSnapshot.objects.create(
        account=account, date=D, score=40, color="yellow", scorecard_version=version,
        components=[{"measure": "tenure", "points": 55.5}, {"measure": "nps", "points": 0}],
    )  # fmt: skip
    migration = importlib.import_module("health.migrations.0007_snapshot_measure_points")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKFILL)
    expected = {"usage_frequency": None, "nps": 0.0, "tenure": 55.5}
    stored = HealthSnapshot.objects.get(account=account, date=D)
    assert stored.measure_points == [expected[kind] for kind in kinds]


def test_points_are_parsed_from_the_text_the_database_prints(portfolio):
    card, version = portfolio
    texts = pd.Series(["10,nan", None, "30,40.5"], index=[7, 8, 9])
    points = _measure_points(texts, ["usage_frequency", "nps"])
    assert points.loc[7, "usage_frequency"] == 10.0 and pd.isna(points.loc[7, "nps"])
    assert points.loc[8].isna().all()  # no points (an array of another length)
    assert points.loc[9].tolist() == [30.0, 40.5]
    # The database's side: the text of the stored arrays, NULL for a wrong length.
    account = AccountFactory()
    HealthSnapshot.objects.create(
        account=account, date=D, score=1, color="red", scorecard_version=version,
        measure_points=[None],  # one value for the version's two measures
    )  # fmt: skip
    texts = dict(
        HealthSnapshot.objects.filter(date=D, scorecard_version=version)
        .annotate(text=_points_text(2))
        .values_list("account_id", "text")
    )
    assert texts[account.pk] is None
    # c1 of the portfolio: usage frequency 10 and NPS 0, in the version's order.
    order = [m["kind"] for m in version.definition["measures"]]
    c1 = {"usage_frequency": "10", "nps": "0"}
    assert ",".join(c1[k] for k in order) in texts.values()
