"""The metrics page: every metric with its definition, the monthly chart, the cohort funnel,
refused dates (400 naming the field), and segment filters on a hand-computed churn example."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from accounts.choices import AccountStatus, TouchModel
from health.metrics import DEFINITIONS
from journeys.models import AccountMilestone, MilestoneDefinition, MilestoneTemplate
from tests.dashboard.helpers import external_refs, text
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def logged_in(client, viewer):
    client.force_login(viewer)  # every role reads the metrics: the least of them here
    return client


def metric(response, name):
    return {m["name"]: m["value"] for m in response.context["result"]["metrics"]}[name]


def card(response, label) -> str:
    html = response.content.decode()
    found = re.search(rf"<h2>{re.escape(label)}</h2>\s*<p class=\"metric-value\">(.*?)</p>", html)
    assert found, label
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_every_metric_is_shown_with_its_definition(logged_in):
    AccountFactory()
    response = logged_in.get(reverse("metrics-page"), MARCH)
    assert response.status_code == 200
    html = response.content.decode()
    shown = [m["name"] for m in response.context["result"]["metrics"]]
    assert shown == list(DEFINITIONS)
    labels = {"nps": "NPS", "csat": "CSAT", "time_to_value_p75_days": "Time to value p75 days"}
    for name, definition in DEFINITIONS.items():
        label = labels.get(name, name.replace("_", " ").capitalize())
        assert f"<h2>{label}</h2>" in html
        assert f"<small>{definition}</small>" in html.replace("&#x27;", "'")
    assert card(response, "Churn rate") == "0"
    assert card(response, "NPS") == "n/a"  # no answers: said, not zero


def test_the_monthly_chart_is_inline_svg_and_nothing_loads_from_outside(logged_in):
    AccountFactory()
    response = logged_in.get(reverse("metrics-page"), MARCH)
    html = response.content.decode()
    charts = response.context["monthly_charts"]
    assert len(charts) == 5  # churn, GRR, NRR, adoption, NPS: one small chart each
    assert all(chart.lstrip().startswith("<svg") and chart in html for chart in charts)
    assert "Churn rate %" in charts[0] and "NPS" in charts[-1]
    for month in ("Apr 25", "Mar 26"):
        assert month in charts[0]
    assert "Feb 27" not in charts[0]
    assert external_refs(html) == []


def test_the_period_defaults_to_the_last_90_days(logged_in):
    response = logged_in.get(reverse("metrics-page"))
    assert response.status_code == 200
    assert (response.context["end"] - response.context["start"]).days == 89


def _cohort():
    template = MilestoneTemplate.objects.create(name="Onboarding")
    kickoff = MilestoneDefinition.objects.create(
        template=template, name="Kick-off", target_days=14, rule="manual"
    )
    live = MilestoneDefinition.objects.create(
        template=template, name="Go live", target_days=60, rule="manual"
    )
    for i, (start, kick_days, live_days) in enumerate(
        [
            (date(2026, 1, 5), 10, 45),
            (date(2026, 1, 20), 20, None),
            (date(2026, 2, 2), 40, 100),
            (date(2026, 2, 9), None, None),
        ]
    ):
        account = AccountFactory(contract_start=start, name=f"Cohort {i}")
        for definition, days in ((kickoff, kick_days), (live, live_days)):
            reached = (
                datetime(start.year, start.month, start.day, 12, tzinfo=UTC) + timedelta(days=days)
                if days is not None
                else None
            )
            AccountMilestone.objects.create(
                account=account, definition=definition, due_date=start, reached_at=reached
            )


def test_the_cohort_funnel_table_and_the_chart_for_a_chosen_milestone(logged_in):
    _cohort()
    response = logged_in.get(reverse("metrics-page"), MARCH)
    assert response.context["funnel_milestones"] == ["Go live", "Kick-off"]
    assert response.context["milestone"] == "Go live"  # the first, when none is chosen
    page = text(response)
    # January: 2 accounts; kick-off in 10 and 20 days -> 100% within 30 days
    assert "2026-01 Kick-off 2 100.0% 100.0% 100.0%" in page
    # February: 2 accounts; kick-off in 40 days for one -> 0% / 50% / 50%
    assert "2026-02 Kick-off 2 0.0% 50.0% 50.0%" in page
    assert "2026-01 Go live 2 0.0% 50.0% 50.0%" in page
    assert "2026-02 Go live 2 0.0% 0.0% 0.0%" in page
    html = response.content.decode()
    assert "Reached “Go live” within" in html

    response = logged_in.get(reverse("metrics-page"), {**MARCH, "milestone": "Kick-off"})
    assert response.status_code == 200
    html = response.content.decode()
    figure = html.split('aria-label="Share of each cohort reaching Kick-off"')[1]
    assert figure.lstrip(">").lstrip().startswith("<svg")
    assert "Reached “Kick-off” within" in figure
    assert "<option selected>Kick-off</option>" in html
    # the milestone form keeps the other parameters
    assert '<input type="hidden" name="start" value="2026-03-01">' in html


def test_an_unknown_milestone_falls_back_to_the_first(logged_in):
    _cohort()
    response = logged_in.get(reverse("metrics-page"), {"milestone": "<b>nope</b>"})
    assert response.status_code == 200
    assert response.context["milestone"] == "Go live"
    assert "<b>nope</b>" not in response.content.decode()


def test_without_milestones_the_funnel_explains_itself(logged_in):
    response = logged_in.get(reverse("metrics-page"))
    assert response.context["funnel_chart"] == ""
    assert "No milestones yet: give accounts a success plan" in text(response)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"start": "2026-13-01"}, "start"),
        ({"end": "2026-02-30"}, "end"),
        ({"start": "yesterday", "end": "2026-03-31"}, "start"),
        ({"start": "2026-03-31", "end": "2026-03-01"}, "end"),  # ends before it starts
    ],
)
def test_bad_dates_are_a_400_naming_the_field(logged_in, params, field):
    response = logged_in.get(reverse("metrics-page"), params)
    assert response.status_code == 400
    assert field in response.context["errors"]
    html = response.content.decode()
    assert f"<p><strong>{field}</strong>: " in html
    assert response.context["result"] is None
    assert 'class="metric-value"' not in html


def test_end_before_start_explains_it(logged_in):
    response = logged_in.get(reverse("metrics-page"), {"start": "2026-03-31", "end": "2026-03-01"})
    assert "The period ends (2026-03-01) before it starts (2026-03-31)." in text(response)


@pytest.mark.parametrize(
    "params", [{"end": "9999-12-31"}, {"start": "0001-01-01", "end": "0001-01-31"}]
)
def test_dates_at_the_edge_of_the_calendar_are_refused_not_a_crash(client, viewer, params):
    client.raise_request_exception = False
    client.force_login(viewer)
    response = client.get(reverse("metrics-page"), params)
    assert response.status_code == 400


# --- segments: a hand-computed churn example in March 2026 -----------------------------------


def _churned(**fields):
    return AccountFactory(
        status=AccountStatus.CHURNED, churned_at=datetime(2026, 3, 10, 12, tzinfo=UTC), **fields
    )


@pytest.fixture
def two_segments():
    """Enterprise/high touch: 4 active on 1 March, 1 churns on the 10th  -> 25%.
    Growth/low touch: 2 active on 1 March, 1 churns on the 10th          -> 50%.
    Everyone: 6 active, 2 churn                                          -> 33.33%."""
    start = date(2025, 6, 1)
    for _ in range(3):
        AccountFactory(plan="Enterprise", touch_model=TouchModel.HIGH, contract_start=start)
    _churned(plan="Enterprise", touch_model=TouchModel.HIGH, contract_start=start)
    AccountFactory(plan="Growth", touch_model=TouchModel.LOW, contract_start=start)
    _churned(plan="Growth", touch_model=TouchModel.LOW, contract_start=start)
    # Neither counts: churned before March, or started after it.
    AccountFactory(
        plan="Growth", status=AccountStatus.CHURNED, contract_start=start,
        churned_at=datetime(2026, 2, 1, tzinfo=UTC),
    )  # fmt: skip
    AccountFactory(plan="Enterprise", touch_model=TouchModel.HIGH, contract_start=date(2026, 4, 1),
                   renewal_date=date(2027, 4, 1))  # fmt: skip


@pytest.mark.parametrize(
    "segment, churn, base, shown",
    [
        ({}, 33.33, 6, "33.33"),
        ({"plan": "Enterprise"}, 25.0, 4, "25"),
        ({"plan": "growth"}, 50.0, 2, "50"),  # any case
        ({"touch_model": "high"}, 25.0, 4, "25"),
        ({"touch_model": "low"}, 50.0, 2, "50"),
        ({"plan": "Growth", "touch_model": "high"}, None, 0, "n/a"),
        ({"touch_model": "bogus"}, 33.33, 6, "33.33"),  # an unknown touch model is ignored
    ],
)
def test_segment_filters_narrow_the_numbers(logged_in, two_segments, segment, churn, base, shown):
    response = logged_in.get(reverse("metrics-page"), {**MARCH, **segment})
    assert response.status_code == 200
    assert metric(response, "churn_rate") == churn
    counts = response.context["result"]["counts"]
    assert counts["accounts_at_start"] == base
    assert card(response, "Churn rate") == shown
    html = response.content.decode()
    if segment.get("plan"):
        assert f'name="plan" value="{segment["plan"]}"' in html
    if segment.get("touch_model") in ("high", "low"):
        assert f'<option value="{segment["touch_model"]}" selected>' in html


def test_segment_filters_narrow_the_monthly_chart_too(logged_in, two_segments):
    everyone = logged_in.get(reverse("metrics-page"), {"end": "2026-03-31"})
    enterprise = logged_in.get(reverse("metrics-page"), {"end": "2026-03-31", "plan": "Enterprise"})
    assert "33.33" in everyone.context["monthly_charts"][0]
    assert "33.33" not in enterprise.context["monthly_charts"][0]
    assert "25" in enterprise.context["monthly_charts"][0]


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("metrics-page"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
