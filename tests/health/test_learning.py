"""A scorecard learned from churn outcomes: leakage, refusals, alert-budget bands, the draft
and its publication, and generated data with a known signal."""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from accounts.choices import Persona
from accounts.models import (
    Account,
    Contact,
    DailyAccountUsage,
    DailyContactUsage,
    DailyFeatureUsage,
    EventDefinition,
)
from health import learning, learning_data
from health.drafts import learn_scorecard, publish_learned
from health.learning_runs import resume_learning, run_learning
from health.models import LearnedScorecard, LearningRun, Scorecard
from health.scoring import score_chunk
from health.validation import auc
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
START, TODAY, AS_OF = date(2025, 1, 1), date(2026, 3, 31), date(2025, 12, 31)
KEY = "insight_shared"


def _churn_at(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


def portfolio(n=90, churners=36, seed=4):
    """Accounts whose churn follows their key-feature use: in the 75 days before a churner
    leaves, its users share fewer and fewer insights (a tenth of their own pace at the end),
    while logging in as before. Accounts differ tenfold in their normal pace."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, TODAY).date
    churn_days = sorted(rng.choice(np.arange(90, len(days) - 10), churners, replace=False))
    contact_rows, feature_rows, account_rows = [], [], []
    for i in range(n):
        churn = days[churn_days[i]] if i < churners else None
        account = AccountFactory(
            contract_start=START,
            status="churned" if churn else "active",
            churned_at=_churn_at(churn) if churn else None,
            licenses_purchased=10,
        )
        contacts = [
            Contact.objects.create(
                account=account,
                external_id=f"c{i}-{k}",
                email=f"c{i}-{k}@x.example",
                persona=persona,
            )  # fmt: skip
            for k, persona in enumerate((Persona.ADMIN, Persona.CHAMPION, Persona.END_USER))
        ]
        pace = rng.lognormal(0, 0.8)  # insights per active user per day, normally
        for day in days:
            if churn and day >= churn:
                break
            fade = 1.0
            if churn and (churn - day).days <= 75:
                fade = 0.1 + 0.9 * (churn - day).days / 75
            active = [c for c in contacts if rng.random() < 0.6]
            for contact in active:
                contact_rows.append(
                    DailyContactUsage(contact=contact, account=account, date=day, event_count=3)
                )
            if active:
                account_rows.append(
                    DailyAccountUsage(account=account, date=day, event_count=len(active))
                )
                feature_rows.append(
                    DailyFeatureUsage(
                        account=account, date=day, name="login", event_count=len(active)
                    )
                )
                shared = rng.poisson(pace * fade * len(active))
                if shared:
                    feature_rows.append(
                        DailyFeatureUsage(account=account, date=day, name=KEY, event_count=shared)
                    )
    DailyContactUsage.objects.bulk_create(contact_rows, batch_size=5000)
    DailyAccountUsage.objects.bulk_create(account_rows, batch_size=5000)
    DailyFeatureUsage.objects.bulk_create(feature_rows, batch_size=5000)


@pytest.fixture
def key_feature():
    # As the event catalogue holds it once it has folded the events: chosen by the admin.
    EventDefinition.objects.create(name=KEY, key_feature=True, first_seen_at=_churn_at(START))


def test_bands_follow_the_alert_budget():
    scores = pd.Series(np.arange(100, dtype=float))  # 0, 1, ..., 99
    # 10% quantile 9.9 -> yellow from 10 (0-9 red: 10 of 100); 30% quantile 29.7 -> green
    # from 30 (10-29 yellow: 20 of 100)
    assert learning.bands_by_budget(scores, 0.10, 0.20) == {
        "green_min": 30,
        "yellow_min": 10,
        "hysteresis": 2.0,
    }


def test_a_feature_whose_median_drifts_with_the_calendar_is_left_out():
    # Four accounts 100 apart, four monthly dates. "older" grows 30 a month for every account
    # (tenure of a young portfolio), "steady" does not, "ranked" drifts but is a percentile
    # of the day, which cannot drift, so it is not tested.
    dates = [date(2026, m, 1) for m in (1, 2, 3, 4)]
    rows = pd.DataFrame(
        [
            {"date": d, "older": base + 30 * t, "steady": base, "ranked": base + 30 * t}
            for t, d in enumerate(dates)
            for base in (0, 100, 200, 300)
        ]
    )
    features = [
        learning_data.Candidate("tenure"),
        learning_data.Candidate("price_per_seat"),
        learning_data.Candidate("license_utilisation", dict(learning_data.RANKED)),
    ]
    rows = rows.rename(columns={"older": "tenure", "steady": "price_per_seat"})
    rows["license_utilisation"] = rows.pop("ranked")
    keys, dropped = learning.without_calendar(rows, features)
    assert keys == ["price_per_seat", "license_utilisation"]
    # Within a day the values sit -150, -50, 50, 150 from the day's mean: standard deviation
    # sqrt(4 * 50,000 / 15) = 115.5 over the 16 rows; the median moved from 150 to 240,
    # 90 / 115.5 = 0.78 of it (more than MAX_DRIFT, 0.5). The share of the variance within
    # days is 200,000 / 218,000 = 92%, so the older test alone would have kept it.
    assert dropped["tenure"] == (
        "it moves with the calendar: its median went from 150 on 2026-01-01 to 240 on "
        "2026-04-01, 0.8 times its spread between accounts, so a score on it would drift "
        "after the fit"
    )


def test_observation_dates_are_the_first_of_each_month():
    assert learning_data.observation_dates(date(2025, 11, 15), date(2026, 2, 1)) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


def test_bad_inputs_are_refused_naming_the_reason():
    with pytest.raises(learning.LearningError, match="in the future") as exc:
        learning.fit(date(2026, 4, 2), today=TODAY)
    assert exc.value.field == "as_of"
    account = AccountFactory(contract_start=START)
    DailyAccountUsage.objects.create(account=account, date=START, event_count=1)
    with pytest.raises(learning.LearningError, match="at least 20") as exc:
        learning.fit(AS_OF, today=TODAY)
    assert "0 churned observations" in str(exc.value)
    with pytest.raises(learning.LearningError, match="1 to 365"):
        learning.fit(AS_OF, window=0, today=TODAY)


def test_an_outcome_after_as_of_changes_nothing_in_the_fit(key_feature):
    portfolio(n=70, churners=30)
    first = learning.fit(AS_OF, key_features=[KEY], today=TODAY)
    # An account that stayed until as_of churns the day after: a fact from the future.
    stayer = Account.objects.filter(status="active").order_by("pk").first()
    stayer.status, stayer.churned_at = "churned", _churn_at(AS_OF + timedelta(days=1))
    stayer.save()
    second = learning.fit(AS_OF, key_features=[KEY], today=TODAY)
    assert second["measures"] == first["measures"]
    assert second["bands"] == first["bands"]
    assert second["cv"]["auc_by_c"] == first["cv"]["auc_by_c"]
    assert second["churned"] == first["churned"]


def test_without_key_features_the_fit_says_why_it_has_no_key_feature_measures():
    portfolio(n=70, churners=30)
    report = learning.fit(AS_OF, key_features=[], today=TODAY)
    assert {m["kind"] for m in report["measures"]}.isdisjoint({"event_rate", "feature_breadth"})
    assert report["dropped"]["event_rate"].startswith("no key features: none is chosen")
    assert report["dropped"]["feature_breadth"] == report["dropped"]["event_rate"]


def test_a_learned_score_beats_the_default_out_of_sample_and_publishes_on_confirm(key_feature):
    portfolio()
    card = Scorecard.objects.get(is_default=True)
    current = card.current_version
    draft = learn_scorecard(card, AS_OF, today=TODAY)
    card.refresh_from_db()
    assert card.current_version == current  # a fit publishes nothing
    assert draft.status == LearnedScorecard.Status.DRAFT
    report = draft.report
    # The signal is the key feature's fade before churning: its change over time carries it.
    top = report["measures"][0]
    assert top["kind"] == "activity_change" and top["weight"] > 50
    assert top["says"] == (
        "more growth of key-feature activity (the last 28 days against the 56 before) than "
        "the day's other accounts lowers risk"
    )
    # Fitted as a percentile among the day's accounts: the scorer's peer benchmark.
    assert 0 <= top["zero_at"] < top["full_at"] <= 100
    assert draft.version.definition["measures"][0]["params"]["benchmark"] == "peers"
    # Every account started on the same day: tenure is the calendar, and is left out.
    assert "moves with the calendar" in report["left_out"]["tenure"]

    # Out of sample: observation dates from as_of on, the default scorecard scored with the
    # data of each date against the draft.
    after = learning_data.observation_dates(AS_OF, TODAY - timedelta(days=61))
    accounts = learning_data._accounts()
    learned = report["compare_after"]["draft"]
    assert learned["available"] and learned["churned"] >= 5
    default_scores, labels = [], []
    for day in after:
        ids = learning_data.active_on(accounts, day)
        for result in score_chunk(ids, day, live=False):
            churn = accounts.at[result.account_id, "churn_day"]
            default_scores.append(result.score)
            labels.append(pd.notna(churn) and day < churn <= day + timedelta(days=60))
    default_auc = auc(pd.Series(default_scores), pd.Series(labels))
    assert learned["auc"] > default_auc
    assert learned["auc"] >= 0.75

    version = publish_learned(draft)
    card.refresh_from_db()
    assert card.current_version == version == draft.version
    assert card.versions.count() == current.number + 1  # publishing made no extra version
    (result,) = score_chunk([accounts.index[-1]], TODAY)
    assert result.version == version and result.explanation
    assert {c["measure"] for c in result.components} == {
        m["kind"] for m in version.definition["measures"]
    }


def test_the_builder_learns_a_draft_that_only_an_admin_publishes(
    client, cs_admin, csm, key_feature
):
    portfolio(n=70, churners=30)
    card = Scorecard.objects.get(is_default=True)
    client.force_login(csm)
    assert client.post(f"/scorecards/{card.pk}/learn/", {"as_of": AS_OF}).status_code == 403
    client.force_login(cs_admin)
    page = client.get(f"/scorecards/{card.pk}/")
    assert b"Learn from churn" in page.content
    # Bad input: a day in the future is refused with the reason, nothing is stored.
    future = client.post(
        f"/scorecards/{card.pk}/learn/",
        {"as_of": "2999-01-01", "window": 60, "red_share": 0.1, "yellow_share": 0.2},
        follow=True,
    )
    assert b"is in the future" in future.content and not LearnedScorecard.objects.exists()

    response = client.post(
        f"/scorecards/{card.pk}/learn/",
        {"as_of": AS_OF, "window": 60, "red_share": 0.1, "yellow_share": 0.2},
    )
    run = LearningRun.objects.get()
    assert response.url == f"/scorecards/{card.pk}/learning/{run.pk}/"
    waiting = client.get(response.url)
    assert b"Waiting for a worker" in waiting.content
    assert b'hx-trigger="every 2s"' in waiting.content and not LearnedScorecard.objects.exists()
    # No worker took its message: the sweep starts it once it has waited 30 seconds.
    created = run.created_at
    assert resume_learning(now=created + timedelta(seconds=20)) == {"failed_lost": 0, "started": 0}
    assert resume_learning(now=created + timedelta(seconds=31)) == {"failed_lost": 0, "started": 1}
    draft = LearnedScorecard.objects.get()
    run.refresh_from_db()
    assert (run.status, run.learned, run.error) == ("done", draft, "")
    assert run_learning(run.pk) is None  # a late message fits nothing twice
    polled = client.get(response.url, HTTP_HX_REQUEST="true")
    assert polled.headers["HX-Redirect"] == f"/scorecards/{card.pk}/learned/{draft.pk}/"
    shown = client.get(polled.headers["HX-Redirect"])
    assert b"more growth of key-feature activity" in shown.content
    assert b"<td>Activity change</td>" in shown.content
    assert b"<td>activity_change</td>" not in shown.content
    assert b"current version" in shown.content
    url = f"/scorecards/{card.pk}/learned/{draft.pk}/publish/"
    client.post(url, {})  # not confirmed: nothing happens
    card.refresh_from_db()
    assert card.current_version != draft.version
    client.force_login(csm)
    assert client.post(url, {"confirm": "yes"}).status_code == 403
    client.force_login(cs_admin)
    client.post(url, {"confirm": "yes"})
    card.refresh_from_db()
    assert card.current_version == draft.version


def test_a_failed_run_says_why_and_a_run_whose_worker_died_is_not_left_running(client, cs_admin):
    portfolio(n=20, churners=3)
    card = Scorecard.objects.get(is_default=True)
    client.force_login(cs_admin)
    client.post(
        f"/scorecards/{card.pk}/learn/",
        {"as_of": AS_OF, "window": 60, "red_share": 0.1, "yellow_share": 0.2},
    )
    run = LearningRun.objects.get()
    run_learning(run.pk)
    run.refresh_from_db()
    assert (run.status, run.error_field) == ("failed", "as_of")
    assert run.error.startswith("Too few churned accounts to learn from")
    page = client.get(f"/scorecards/{card.pk}/learning/{run.pk}/")
    assert b"Nothing was learned (as_of): Too few churned" in page.content
    assert b"hx-trigger" not in page.content and not LearnedScorecard.objects.exists()
    assert b"Too few churned" in client.get(f"/scorecards/{card.pk}/").content

    # A worker killed mid-fit leaves its run running: after 30 minutes the sweep fails it.
    started = datetime(2026, 5, 1, 9, tzinfo=UTC)
    stuck = LearningRun.objects.create(
        scorecard=card, as_of=AS_OF, window_days=60, red_share=0.1, yellow_share=0.2,
        status="running", started_at=started,
    )  # fmt: skip
    assert resume_learning(now=started + timedelta(minutes=29))["failed_lost"] == 0
    assert resume_learning(now=started + timedelta(minutes=31))["failed_lost"] == 1
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "worker stopped during the fit" in stuck.error
