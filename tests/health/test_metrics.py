"""Portfolio metrics on a hand-computed example, an empty period and a segment."""

from datetime import UTC, date, datetime

import pytest

from accounts.models import DailyFeatureUsage
from health.metrics import MetricsError, Segment, portfolio_metrics
from journeys.models import AccountMilestone, MilestoneDefinition, MilestoneTemplate
from tests.factories import AccountFactory, EscalationFactory, SurveyResponseFactory

pytestmark = pytest.mark.django_db
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def at(month, day):
    return datetime(2026, month, day, 12, tzinfo=UTC)


@pytest.fixture
def book():
    """Five accounts active on 1 March (one churns on the 10th), one lost before, one new."""
    a1 = AccountFactory(arr=12000, contract_start=date(2026, 1, 1))
    a2 = AccountFactory(arr=12000, contract_start=date(2026, 2, 1))
    a3 = AccountFactory(arr=12000, contract_start=date(2025, 6, 1), plan="Enterprise")
    a4 = AccountFactory(arr=12000, contract_start=date(2025, 6, 1))
    AccountFactory(
        arr=24000, contract_start=date(2025, 6, 1), status="churned", churned_at=at(3, 10)
    )
    AccountFactory(
        arr=50000, contract_start=date(2025, 6, 1), status="churned", churned_at=at(2, 1)
    )
    a7 = AccountFactory(arr=6000, contract_start=date(2026, 3, 15), renewal_date=date(2027, 3, 15))
    for score in (10, 9, 8, 3):
        SurveyResponseFactory(account=a1, kind="nps", score=score, responded_at=at(3, 5))
    SurveyResponseFactory(account=a1, kind="nps", score=0, responded_at=at(2, 5))  # outside
    for score in (5, 4, 2):
        SurveyResponseFactory(account=a2, kind="csat", score=score, responded_at=at(3, 6))
    for account, name in ((a1, "report_created"), (a2, "login"), (a7, "report_shared")):
        DailyFeatureUsage.objects.create(
            account=account, date=date(2026, 3, 20), name=name, event_count=3
        )
    template = MilestoneTemplate.objects.create(name="All")
    first_value = MilestoneDefinition.objects.create(
        template=template,
        name="First report",
        target_days=30,
        rule="manual",
        marks_first_value=True,
    )
    AccountMilestone.objects.create(
        account=a1, definition=first_value, due_date=date(2026, 2, 1), reached_at=at(3, 5)
    )
    AccountMilestone.objects.create(
        account=a2, definition=first_value, due_date=date(2026, 3, 1), reached_at=at(3, 20)
    )
    EscalationFactory(
        account=a3, opened_at=at(3, 2), response_due_at=at(3, 3), first_response_at=at(3, 2)
    )
    EscalationFactory(account=a4, opened_at=at(3, 2), response_due_at=at(3, 3))
    return a1, a2, a3, a4, a7


def values(result):
    return {m["name"]: m["value"] for m in result["metrics"]}


def test_the_metrics_match_the_hand_computed_example(book, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        result = portfolio_metrics(*MARCH)
    got = values(result)
    assert got["churn_rate"] == 20.0  # 1 of 5
    assert got["revenue_churn_rate"] == pytest.approx(33.33, abs=0.01)  # 24,000 of 72,000
    assert got["nps"] == 25.0  # 50% promoters - 25% detractors
    assert got["csat"] == pytest.approx(66.67, abs=0.01)
    # 1,200 a month x 1 / (20% over 31 days, i.e. 19.64% a month) = 6,111
    assert got["customer_lifetime_value"] == pytest.approx(6110.9, abs=0.5)
    assert got["adoption_rate"] == pytest.approx(33.33, abs=0.01)  # 2 of 6 active in March
    assert (got["time_to_value_median_days"], got["time_to_value_p75_days"]) == (55.0, 59.0)
    assert (got["new_escalations"], got["escalation_response_attainment"]) == (2, 50.0)
    assert result["counts"]["accounts_at_start"] == 5
    assert all(m["definition"] for m in result["metrics"])


def test_an_empty_period_gives_no_numbers_rather_than_errors(book):
    got = values(portfolio_metrics(date(2020, 1, 1), date(2020, 1, 31)))
    assert got["churn_rate"] is None and got["nps"] is None and got["new_escalations"] == 0
    assert got["customer_lifetime_value"] is None


def test_a_period_without_churn_has_no_finite_lifetime(book):
    got = values(portfolio_metrics(date(2026, 3, 11), date(2026, 3, 31)))
    assert got["churn_rate"] == 0.0 and got["customer_lifetime_value"] is None


def test_a_segment_narrows_every_metric(book):
    got = values(portfolio_metrics(*MARCH, Segment(plan="enterprise")))
    assert (got["churn_rate"], got["new_escalations"], got["escalation_response_attainment"]) == (
        0.0,
        1,
        100.0,
    )


def test_a_period_ending_before_it_starts_is_refused(book, client, csm):
    with pytest.raises(MetricsError) as excinfo:
        portfolio_metrics(date(2026, 3, 31), date(2026, 3, 1))
    assert excinfo.value.field == "end"
    client.force_login(csm)
    response = client.get("/api/v1/metrics/", {"start": "2026-03-31", "end": "2026-03-01"})
    assert response.status_code == 400 and "end" in response.json()
    response = client.get("/api/v1/metrics/", {"start": "March"})
    assert response.status_code == 400 and {"start", "end"} <= set(response.json())
    ok = client.get("/api/v1/metrics/", {"start": "2026-03-01", "end": "2026-03-31"})
    assert ok.status_code == 200 and values(ok.json())["churn_rate"] == 20.0


def test_an_escalation_still_within_its_deadline_is_not_counted_as_missed(book):
    EscalationFactory(
        account=book[0], opened_at=at(3, 20), response_due_at=datetime(2099, 1, 1, tzinfo=UTC)
    )
    got = values(portfolio_metrics(*MARCH))
    assert (got["new_escalations"], got["escalation_response_attainment"]) == (3, 50.0)
