"""The cohort funnel: share of each start-month cohort reaching each milestone in time."""

from datetime import UTC, date, datetime, timedelta

import pytest

from journeys.cohorts import cohort_funnel
from journeys.models import AccountMilestone, MilestoneDefinition, MilestoneTemplate
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def funnel_data():
    template = MilestoneTemplate.objects.create(name="All")
    report = MilestoneDefinition.objects.create(
        template=template, name="First report", target_days=30, rule="manual"
    )

    def account(start, reached_after_days):
        a = AccountFactory(contract_start=start, renewal_date=start + timedelta(days=365))
        reached = None
        if reached_after_days is not None:
            reached = datetime.combine(
                start + timedelta(days=reached_after_days), datetime.min.time(), UTC
            )
        AccountMilestone.objects.create(
            account=a, definition=report, due_date=start, reached_at=reached
        )

    # January cohort: 4 accounts, reached after 10, 45, 80 days and never.
    for days in (10, 45, 80, None):
        account(date(2026, 1, 5), days)
    # February cohort: 2 accounts, both within 30 days.
    for days in (3, 30):
        account(date(2026, 2, 10), days)


def test_each_cohort_shows_the_share_reaching_each_milestone_in_30_60_90_days(funnel_data):
    from accounts.models import Account

    table = cohort_funnel(Account.objects.all())
    rows = table.to_dict(orient="records")
    assert rows == [
        {"cohort": "2026-01", "milestone": "First report", "accounts": 4,
         "within_30_days": 25.0, "within_60_days": 50.0, "within_90_days": 75.0},
        {"cohort": "2026-02", "milestone": "First report", "accounts": 2,
         "within_30_days": 100.0, "within_60_days": 100.0, "within_90_days": 100.0},
    ]  # fmt: skip


def test_the_funnel_is_served_as_json_and_as_csv(funnel_data, client, viewer):
    client.force_login(viewer)
    rows = client.get("/api/v1/cohort-funnel/").json()
    assert [r["cohort"] for r in rows] == ["2026-01", "2026-02"]
    assert [
        r["cohort"] for r in client.get("/api/v1/cohort-funnel/", {"since": "2026-02"}).json()
    ] == ["2026-02"]
    csv = client.get("/api/v1/cohort-funnel/", {"export": "csv"})
    assert csv["Content-Type"] == "text/csv"
    assert csv.content.decode().splitlines()[0] == (
        "cohort,milestone,accounts,within_30_days,within_60_days,within_90_days"
    )
    bad = client.get("/api/v1/cohort-funnel/", {"since": "January"})
    assert bad.status_code == 400 and "since" in bad.json()


def test_no_milestones_gives_an_empty_table():
    from accounts.models import Account

    assert cohort_funnel(Account.objects.all()).empty
