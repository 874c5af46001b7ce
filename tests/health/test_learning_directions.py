"""A learned scorecard never says "more use raises risk": measures fitted against their
meaning are left out and the rest refitted; bands count the false alarms."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from health import learning, learning_data


def test_a_measure_fitted_against_its_meaning_is_left_out_with_the_reason():
    rng = np.random.default_rng(1)
    n = 2000
    license = rng.uniform(0, 100, n)
    churned = rng.random(n) < 1 / (1 + np.exp((license - 30) / 8))  # low utilisation churns
    # Usage follows utilisation but runs higher in the accounts that churn: once utilisation
    # is counted, more usage "raises risk". Tenure may point either way: it stays.
    usage = license + 40 * churned + rng.normal(0, 5, n)
    tenure = rng.uniform(0, 1000, n) + 300 * churned
    rows = pd.DataFrame(
        {"license_utilisation": license, "usage_frequency": usage, "tenure": tenure}
    )
    y = pd.Series(churned)
    plain = learning._model(1.0).fit(learning.fit_scaling(rows, list(rows)).transform(rows), y)
    assert plain.coef_[0][1] > 0  # the unconstrained fit: more usage, more churn

    model, scaling = learning._fit_expected_directions(rows, y, list(rows), 1.0)

    assert list(scaling.low) == ["license_utilisation", "tenure"]
    assert model.coef_[0][0] < 0 < model.coef_[0][1]  # utilisation lowers, tenure raises
    assert scaling.dropped == {
        "usage_frequency": "on the training data more active days against each persona's "
        "benchmark raises risk once the other measures are counted, against what it measures: "
        "it stood in for them, so it is left out"
    }


def test_words_say_what_a_higher_raw_value_means():
    assert learning._direction_words("key_contact_engagement", False) == (
        "more days since a key contact was active raises risk"
    )
    assert learning._direction_words("event_rate", True, {"events": ["a", "b"]}) == (
        "more key-feature events per active user lowers risk"
    )
    assert learning._direction_words("event_rate", True, {"events": ["a"], "per": "seat"}) == (
        "more a events per seat lowers risk"
    )
    assert learning._direction_words("activity_change", True) == (
        "more growth of activity (the last 28 days against the 56 before) lowers risk"
    )
    assert learning.against_expectation("key_contact_engagement", -0.5)  # more days, less risk
    assert not learning.against_expectation("key_contact_engagement", 0.5)
    assert not learning.against_expectation("tenure", 0.5)  # no expected direction
    assert not learning.against_expectation("tenure", -0.5)


def test_the_budget_counts_false_alarms_when_outcomes_are_given():
    # Scores 1..100; the ten lowest churned. Of the 90 that stayed (11..100), 10% are at most
    # 19 and 30% at most 37: red below 20, yellow below 38.
    scores = pd.Series(np.arange(1, 101, dtype=float))
    churned = pd.Series(np.arange(100) < 10)
    bands = learning.bands_by_budget(scores, 0.1, 0.2, churned=churned)
    assert (bands["yellow_min"], bands["green_min"]) == (20, 38)
    # Without outcomes, the shares are of every observation: red below 11, yellow below 31.
    plain = learning.bands_by_budget(scores, 0.1, 0.2)
    assert (plain["yellow_min"], plain["green_min"]) == (11, 31)


@pytest.mark.parametrize("kind", sorted(learning.REGISTRY))
def test_every_measure_says_which_way_is_healthy_or_that_either_can_be(kind):
    assert learning.REGISTRY[kind].higher_is_better in (True, False, None)


def test_a_measure_that_may_point_either_way_must_earn_its_place():
    # 400 accounts on 6 dates: churn follows low usage and a near renewal; tenure is noise.
    rng = np.random.default_rng(3)
    dates = [date(2026, m, 1) for m in range(1, 7)]
    rows = pd.DataFrame(
        [(a, d) for d in dates for a in range(1, 401)], columns=["account_id", "date"]
    )
    rows["usage_frequency"] = rng.uniform(0, 100, len(rows))
    rows["days_to_renewal"] = rng.uniform(0, 60, len(rows))
    rows["tenure"] = rng.uniform(0, 2000, len(rows))
    risk = -3 - rows["usage_frequency"] / 25 + (60 - rows["days_to_renewal"]) / 15
    y = pd.Series(rng.random(len(rows)) < 1 / (1 + np.exp(-risk)), index=rows.index)
    keys, left_out, kept = learning._earned(
        rows, y, ["usage_frequency", "days_to_renewal", "tenure"], window=60
    )
    assert keys == ["usage_frequency", "days_to_renewal"]
    assert set(left_out) == {"tenure"}
    assert left_out["tenure"].startswith("it may point either way and did not raise the")
    # The one that earned its place says so, with the AUC it added.
    assert set(kept) == {"days_to_renewal"}
    assert kept["days_to_renewal"].startswith(
        "it may point either way and raised the cross-validated AUC by at least 0.02 ("
    )


def test_usage_is_ranked_among_the_accounts_of_each_date_as_the_peer_benchmark_ranks_it():
    rows = pd.DataFrame(
        {
            "date": [date(2026, 1, 1)] * 4 + [date(2026, 2, 1)] * 2,
            "event_rate": [1.0, 5.0, 5.0, np.nan, 100.0, 0.0],
        }
    )
    # January, 3 with data: 1 -> (0 + 1) / 2 of 3; each 5 -> (1 + 3) / 2 of 3; no data stays.
    # February: 100 -> (1 + 2) / 2 of 2, 0 -> (0 + 1) / 2 of 2.
    ranked = learning_data.ranked_on_each_date(rows, "event_rate").round(2).tolist()
    assert ranked[:3] == [16.67, 66.67, 66.67] and ranked[3] != ranked[3]
    assert ranked[4:] == [75.0, 25.0]
    from health.peers import percentiles

    peers = pd.DataFrame({"raw": rows["event_rate"][:4], "group": ""})
    assert percentiles(rows["event_rate"][:3], peers).round(2).tolist() == ranked[:3]
