"""Portfolio metrics on a hand-computed example, an empty period and a segment."""

from datetime import UTC, date, datetime

import pytest

from accounts.models import Account, DailyFeatureUsage
from health.metrics import MetricsError, Segment, portfolio_metrics
from journeys.models import AccountMilestone, MilestoneDefinition, MilestoneTemplate
from tests.factories import (
    AccountFactory,
    EscalationFactory,
    SurveyResponseFactory,
    change_contract,
    contract_account,
)

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
    with django_assert_max_num_queries(8):  # 7, and the event catalogue's key features
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


# --- revenue retention and renewals, from the contract history ------------------------------


@pytest.fixture
def retention():
    """Start ARR 1,000 across 3 accounts on 1 March: one expands, one contracts, one churns.

    Plus a new customer signed on 5 March (new business, not in the start ARR), and an
    account that churned in February (not active at the start).
    """
    grows = contract_account(500, contract_start=date(2025, 1, 1))
    shrinks = contract_account(200, contract_start=date(2025, 1, 1))
    leaves = contract_account(
        300, contract_start=date(2025, 1, 1), status="churned", churned_at=at(3, 15)
    )
    # Its ARR was cut in April, after the period: March's end ARR is still 500.
    change_contract(grows, at(2, 10), arr=450)  # before the period: start ARR is 450
    change_contract(grows, at(3, 10), arr=650)  # +200
    change_contract(grows, at(4, 10), arr=100)
    change_contract(shrinks, at(3, 20), arr=100)  # -100
    contract_account(400, since=date(2026, 3, 5), contract_start=date(2026, 3, 5))
    contract_account(999, contract_start=date(2025, 1, 1), status="churned", churned_at=at(2, 1))
    return grows, shrinks, leaves


def test_revenue_retention_matches_the_hand_computed_example(retention):
    result = portfolio_metrics(*MARCH)
    got = values(result)
    # Start ARR 450 + 200 + 300 = 950; expansion 200, contraction 100, churn 300.
    # GRR = (950 - 100 - 300) / 950 = 57.89%; NRR = (950 + 200 - 100 - 300) / 950 = 78.95%.
    assert got["gross_revenue_retention"] == pytest.approx(57.89, abs=0.01)
    assert got["net_revenue_retention"] == pytest.approx(78.95, abs=0.01)
    assert got["revenue_churn_rate"] == pytest.approx(31.58, abs=0.01)  # 300 of 950
    counts = result["counts"]
    assert (counts["arr_at_start"], counts["arr_expansion"], counts["arr_contraction"]) == (
        950.0,
        200.0,
        100.0,
    )
    assert counts["churned_arr"] == 300.0


def test_the_brief_example_start_1000_gives_grr_60_and_nrr_80():
    # 500 + 200 + 300 = 1,000 at the start; +200, -100, churn 300:
    # GRR = (1000 - 100 - 300) / 1000 = 60%, NRR = (1000 + 200 - 100 - 300) / 1000 = 80%.
    grows = contract_account(500)
    shrinks = contract_account(200)
    contract_account(300, status="churned", churned_at=at(3, 31))
    change_contract(grows, at(3, 2), arr=700)
    change_contract(shrinks, at(3, 3), arr=100)
    got = values(portfolio_metrics(*MARCH))
    assert (got["gross_revenue_retention"], got["net_revenue_retention"]) == (60.0, 80.0)


def test_expansion_never_lifts_gross_retention_above_100():
    grows = contract_account(1000)
    change_contract(grows, at(3, 2), arr=1500)
    got = values(portfolio_metrics(*MARCH))
    assert (got["gross_revenue_retention"], got["net_revenue_retention"]) == (100.0, 150.0)


def test_a_change_on_the_first_or_last_day_belongs_to_the_period():
    account = contract_account(1000)
    change_contract(account, datetime(2026, 3, 1, 0, 0, tzinfo=UTC), arr=1500)
    change_contract(account, datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC), arr=1200)
    # March: 1,000 at the start (the change at midnight on the 1st is in March), 1,200 at the end.
    assert values(portfolio_metrics(*MARCH))["net_revenue_retention"] == 120.0
    # 2-31 March: the 1st's change is before the start (1,500), the 31st's is in: 1,200 / 1,500.
    assert (
        values(portfolio_metrics(date(2026, 3, 2), date(2026, 3, 31)))["net_revenue_retention"]
        == 80.0
    )
    # 1-30 March: the change on the 31st falls after the end: 1,500 / 1,000.
    assert (
        values(portfolio_metrics(date(2026, 3, 1), date(2026, 3, 30)))["net_revenue_retention"]
        == 150.0
    )


def test_without_history_the_current_arr_is_the_arr_at_every_date():
    account = AccountFactory(arr=800, contract_start=date(2025, 1, 1))
    account.contract_changes.all().delete()  # an account older than the history
    result = portfolio_metrics(*MARCH)
    assert result["counts"]["arr_at_start"] == 800.0
    assert values(result)["net_revenue_retention"] == 100.0


@pytest.fixture
def renewals():
    """Renewal dates in March 2026, hand-labelled (today is later than all of them)."""
    start = date(2025, 1, 1)

    def account(renewal, **fields):
        return contract_account(1000, contract_start=start, renewal_date=renewal, **fields)

    early = account(date(2026, 3, 10))
    change_contract(early, at(2, 20), renewal_date=date(2027, 3, 10))  # renewed on time
    late = account(date(2026, 3, 15))
    change_contract(late, at(4, 2), renewal_date=date(2027, 3, 15))  # renewed late
    on_the_day = account(date(2026, 3, 20))
    change_contract(  # on time: on the due date itself, at the last minute
        on_the_day, datetime(2026, 3, 20, 23, 59, tzinfo=UTC), renewal_date=date(2027, 3, 20)
    )
    account(date(2026, 3, 25), status="churned", churned_at=at(3, 25))  # churned: not renewed
    account(date(2026, 3, 31))  # due on the last day, not renewed (yet)
    account(date(2026, 4, 1))  # due after the period
    outside = account(date(2026, 2, 28))
    change_contract(outside, at(2, 1), renewal_date=date(2027, 2, 28))  # due before the period
    corrected = account(date(2026, 3, 5))
    change_contract(corrected, at(1, 2), renewal_date=date(2026, 1, 5))  # a typo fixed: not due
    gone = account(date(2026, 3, 12), status="churned", churned_at=at(1, 15))
    return gone


def test_renewal_rates_match_the_hand_computed_example(renewals):
    result = portfolio_metrics(*MARCH, today=date(2026, 11, 26))
    got = values(result)
    # Due: 10th, 15th, 20th, 25th, 31st (5). Renewed: 10th, 15th (late), 20th (3) = 60%.
    # On time: 10th (early), 20th (on the day) = 2 of 5 = 40%.
    assert (got["renewal_rate"], got["on_time_renewal_rate"]) == (60.0, 40.0)
    counts = result["counts"]
    assert (counts["renewals_due"], counts["renewed"], counts["renewed_on_time"]) == (5, 3, 2)


def test_only_renewal_dates_that_have_passed_count(renewals):
    # On 20 March the 10th and 15th have passed; the 20th can still be renewed on time.
    # The 15th was renewed late (in April): as of the 20th the history already says so.
    got = values(portfolio_metrics(*MARCH, today=date(2026, 3, 20)))
    assert (got["renewal_rate"], got["on_time_renewal_rate"]) == (100.0, 50.0)
    got = values(portfolio_metrics(*MARCH, today=date(2026, 3, 1)))
    assert (got["renewal_rate"], got["on_time_renewal_rate"]) == (None, None)


def test_a_renewal_date_on_the_first_or_last_day_is_in_the_period(renewals):
    got = portfolio_metrics(date(2026, 3, 31), date(2026, 4, 1), today=date(2026, 11, 26))
    assert got["counts"]["renewals_due"] == 2  # the 31st and the 1st, neither renewed
    got = portfolio_metrics(date(2026, 3, 10), date(2026, 3, 10), today=date(2026, 11, 26))
    assert (got["counts"]["renewals_due"], got["counts"]["renewed_on_time"]) == (1, 1)


def test_a_renewal_moved_forward_after_churning_does_not_count():
    account = contract_account(
        1000,
        contract_start=date(2025, 1, 1),
        renewal_date=date(2026, 3, 10),
        status="churned",
        churned_at=at(3, 5),
    )
    change_contract(account, at(3, 8), renewal_date=date(2027, 3, 10))
    got = values(portfolio_metrics(*MARCH, today=date(2026, 11, 26)))
    assert (got["renewal_rate"], got["on_time_renewal_rate"]) == (0.0, 0.0)


def test_a_segment_narrows_retention_and_renewals(retention, renewals):
    Account.objects.filter(pk=retention[0].pk).update(plan="Enterprise")
    got = values(portfolio_metrics(*MARCH, Segment(plan="enterprise"), today=date(2026, 11, 26)))
    # Only the account that grew 450 -> 650: GRR 100%, NRR 144.44%; it renews nothing in March.
    assert (got["gross_revenue_retention"], got["net_revenue_retention"]) == (100.0, 144.44)
    assert got["renewal_rate"] is None


def test_an_empty_period_has_no_retention_or_renewal_numbers(retention, renewals):
    result = portfolio_metrics(date(2020, 1, 1), date(2020, 1, 31))
    got = values(result)
    for name in (
        "gross_revenue_retention",
        "net_revenue_retention",
        "renewal_rate",
        "on_time_renewal_rate",
    ):
        assert got[name] is None, name
        assert "definition" in next(m for m in result["metrics"] if m["name"] == name)
    assert result["counts"]["renewals_due"] == 0
    # A segment without accounts is no error either.
    got = values(portfolio_metrics(*MARCH, Segment(plan="no such plan")))
    assert got["net_revenue_retention"] is None and got["renewal_rate"] is None


def test_the_queries_do_not_grow_with_the_accounts(django_assert_max_num_queries):
    for i in range(40):
        account = contract_account(1000 + i, renewal_date=date(2026, 3, 1 + i % 28))
        change_contract(account, at(3, 1 + i % 28), arr=900 + i, renewal_date=date(2027, 3, 1))
    with django_assert_max_num_queries(8):  # 7, and the event catalogue's key features
        result = portfolio_metrics(*MARCH, today=date(2026, 11, 26))
    assert result["counts"]["renewals_due"] == 40


def test_at_risk_renewals_are_the_not_green_accounts_renewing_within_90_days():
    from health.models import AccountHealth, HealthSnapshot

    today = date(2026, 6, 1)

    def account(renewal, color, arr=1000, **extra):
        acc = AccountFactory(
            contract_start=date(2025, 1, 1), renewal_date=renewal, arr=arr, **extra
        )
        if color:
            AccountHealth.objects.create(
                account=acc, score=50, color=color, explanation="", as_of=today,
                computed_at=datetime(2026, 6, 1, tzinfo=UTC),
            )  # fmt: skip
            HealthSnapshot.objects.create(account=acc, date=date(2026, 3, 1), score=80,
                                          color="green")  # fmt: skip
        return acc

    account(date(2026, 7, 1), "yellow", arr=2000)  # at risk
    account(date(2026, 8, 30), "red", arr=500)  # day 90: at risk
    account(date(2026, 8, 31), "red")  # day 91: not yet
    account(date(2026, 7, 1), "green")  # renewing but green
    account(date(2026, 7, 1), None)  # not scored: counted apart
    account(date(2026, 5, 31), "red")  # renewal passed
    account(date(2026, 7, 1), "red", status="churned", churned_at=datetime(2026, 5, 1, tzinfo=UTC))
    result = portfolio_metrics(date(2026, 5, 1), date(2026, 6, 30), today=today)
    values = {m["name"]: m["value"] for m in result["metrics"]}
    # 2 of the 5 active accounts renewing 2026-06-01..2026-08-30 are not green
    assert values["at_risk_renewals"] == 2
    assert result["counts"]["at_risk_renewal_arr"] == 2500.0
    assert result["counts"]["renewing_within_90_days"] == 4
    assert result["counts"]["renewing_not_scored"] == 1
    # A past period uses that day's snapshot colour: everyone was green on 2026-03-01.
    past = portfolio_metrics(date(2026, 2, 1), date(2026, 3, 1), today=today)
    assert {m["name"]: m["value"] for m in past["metrics"]}["at_risk_renewals"] == 0


def test_adoption_counts_the_event_catalogues_key_features(book):
    from accounts.models import EventDefinition

    # The admin chose login as the key feature: a2's login counts, a1's report_created not.
    EventDefinition.objects.create(name="login", key_feature=True, first_seen_at=at(1, 1))
    got = values(portfolio_metrics(*MARCH))
    assert got["adoption_rate"] == pytest.approx(16.67, abs=0.01)  # 1 of 6 active in March
