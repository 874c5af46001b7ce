"""Milestones from a segment's template, reached by rule on the day it happened."""

from datetime import UTC, date, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.usage import rebuild_daily_usage
from journeys.milestones import (
    assign_milestones,
    evaluate_milestones,
    first_value_days,
    reach_milestone,
)
from journeys.models import (
    AccountMilestone,
    AccountStage,
    Handoff,
    MilestoneDefinition,
    MilestoneTemplate,
)
from journeys.signals import milestone_overdue, milestone_reached
from journeys.stages import move_accounts
from tests.factories import AccountFactory, ContactFactory, EventFactory

pytestmark = pytest.mark.django_db
START = date(2026, 3, 1)


@pytest.fixture
def tracks():
    high = MilestoneTemplate.objects.create(name="High touch", touch_model="high", priority=1)
    low = MilestoneTemplate.objects.create(name="Everyone else", priority=10)
    MilestoneDefinition.objects.create(
        template=high, name="Kick-off held", target_days=7, rule="manual"
    )
    for template in (high, low):
        MilestoneDefinition.objects.create(
            template=template, name="First report shared", target_days=30, rule="event_count",
            event_name="report_shared", threshold=2, marks_first_value=True,
        )  # fmt: skip
        MilestoneDefinition.objects.create(
            template=template, name="Three active users", target_days=45, rule="active_users",
            threshold=3,
        )  # fmt: skip
    return high, low


def customer(**extra):
    account = AccountFactory(contract_start=START, renewal_date=date(2027, 3, 1), **extra)
    move_accounts({account.pk: ("onboarding", "", "contract_start")})
    return account


def use(account, day, name="login", contact=None):
    EventFactory(
        account=account,
        contact=contact,
        name=name,
        occurred_at=datetime(2026, 3, day, 10, tzinfo=UTC),
    )


def names(account):
    return list(
        AccountMilestone.objects.filter(account=account).values_list("definition__name", flat=True)
    )


def test_each_account_gets_the_milestones_of_the_first_matching_template(tracks):
    high, low = customer(touch_model="high"), customer(touch_model="tech")
    assert assign_milestones() == 5
    assert names(high) == ["Kick-off held", "First report shared", "Three active users"]
    assert names(low) == ["First report shared", "Three active users"]
    due = AccountMilestone.objects.get(account=low, definition__name="First report shared").due_date
    assert due == date(2026, 3, 31)
    assert assign_milestones() == 0  # never twice


def test_rules_reach_milestones_on_the_day_the_threshold_was_crossed(tracks):
    account = customer()
    ann, bob, cy = (ContactFactory(account=account) for _ in range(3))
    use(account, 3, "report_shared", ann)
    use(account, 5, "login", bob)
    use(account, 9, "report_shared", ann)  # the second share: first value on 9 March
    use(account, 12, "login", cy)  # the third user: 12 March
    rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 31))
    assign_milestones()
    heard = []
    milestone_reached.connect(
        receiver := lambda sender, milestone_ids, **kw: heard.extend(milestone_ids)
    )
    try:
        result = evaluate_milestones(today=date(2026, 3, 20))
    finally:
        milestone_reached.disconnect(receiver)
    assert result["reached"] == 2
    reached = dict(
        AccountMilestone.objects.filter(account=account).values_list(
            "definition__name", "reached_at"
        )
    )
    assert reached["First report shared"].date() == date(2026, 3, 9)
    assert reached["Three active users"].date() == date(2026, 3, 12)
    assert first_value_days([account]) == {account.pk: 8}
    # Required milestones reached: onboarding is over.
    assert AccountStage.objects.get(account=account).stage == "adoption"
    assert evaluate_milestones(today=date(2026, 3, 20))["reached"] == 0


def test_missed_milestones_are_flagged_overdue_once(tracks, django_capture_on_commit_callbacks):
    account = customer()
    assign_milestones()
    heard = []
    milestone_overdue.connect(
        receiver := lambda sender, milestone_ids, **kw: heard.extend(milestone_ids)
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert evaluate_milestones(today=date(2026, 4, 5))["overdue"] == 1
            assert evaluate_milestones(today=date(2026, 4, 6))["overdue"] == 0
    finally:
        milestone_overdue.disconnect(receiver)
    assert len(heard) == 1
    late = AccountMilestone.objects.get(pk=heard[0])
    assert late.is_overdue and late.definition.name == "First report shared"
    assert AccountStage.objects.get(account=account).stage == "onboarding"


def test_high_touch_onboarding_waits_for_the_manual_milestone_and_the_handoff(tracks, csm):
    account = customer(touch_model="high")
    assign_milestones()
    AccountMilestone.objects.filter(account=account).exclude(definition__rule="manual").update(
        reached_at=datetime(2026, 3, 10, tzinfo=UTC)
    )
    kickoff = AccountMilestone.objects.get(account=account, definition__rule="manual")
    reach_milestone(kickoff, by=csm)
    evaluate_milestones(today=date(2026, 3, 20))
    assert AccountStage.objects.get(account=account).stage == "onboarding"  # no handoff yet
    Handoff.objects.create(
        account=account, reasons_for_buying="a", problems_to_solve="b", success_criteria="c",
        sold_by="d",
    )  # fmt: skip
    evaluate_milestones(today=date(2026, 3, 20))
    assert AccountStage.objects.get(account=account).stage == "adoption"
    with pytest.raises(ValueError, match="already reached"):
        reach_milestone(kickoff, by=csm)


def test_an_event_rule_must_name_its_event(tracks):
    high, _ = tracks
    definition = MilestoneDefinition(template=high, name="x", target_days=5, rule="event_count")
    with pytest.raises(ValidationError) as excinfo:
        definition.full_clean()
    assert "event_name" in excinfo.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        definition.save()


def test_evaluation_costs_the_same_queries_for_few_or_many_accounts(
    tracks, django_assert_max_num_queries
):
    for _ in range(3):
        customer()
    assign_milestones()
    with django_assert_max_num_queries(16):
        evaluate_milestones(today=date(2026, 3, 20))
    for _ in range(30):
        customer()
    assign_milestones()
    with django_assert_max_num_queries(16):
        evaluate_milestones(today=date(2026, 3, 20))


def test_the_api_lists_overdue_milestones_and_a_csm_reaches_one(tracks, client, csm):
    account = customer(owner=csm)
    assign_milestones()
    evaluate_milestones(today=date(2026, 4, 20))
    client.force_login(csm)
    overdue = client.get("/api/v1/milestones/", {"overdue_at__isnull": "false"}).json()["results"]
    assert {m["name"] for m in overdue} == {"First report shared", "Three active users"}
    response = client.post(f"/api/v1/milestones/{overdue[0]['id']}/reach/")
    assert response.status_code == 200 and response.json()["reached_by"] == "csm"
    again = client.post(f"/api/v1/milestones/{overdue[0]['id']}/reach/")
    assert again.status_code == 400 and "already reached" in again.json()["reached_at"][0]
    assert client.get("/api/v1/milestone-templates/").json()["count"] == 2
    assert account.pk


def test_users_active_during_a_trial_count_from_the_contract_start(tracks):
    account = customer()
    people = [ContactFactory(account=account) for _ in range(3)]
    EventFactory(
        account=account, contact=people[0], occurred_at=datetime(2026, 2, 20, 10, tzinfo=UTC)
    )
    for person, day in zip(people, (2, 4, 6), strict=True):
        use(account, day, "login", person)
    rebuild_daily_usage(date(2026, 2, 1), date(2026, 3, 31))
    assign_milestones()
    evaluate_milestones(today=date(2026, 3, 20))
    reached = AccountMilestone.objects.get(account=account, definition__name="Three active users")
    assert reached.reached_at.date() == date(2026, 3, 6)


def test_an_account_that_churned_later_keeps_the_milestones_it_reached_as_a_customer(
    tracks, django_capture_on_commit_callbacks
):
    # Imported with its history and already marked churned (on 25 March) before any
    # milestone was assigned or evaluated.
    account = customer(status="churned", churned_at=datetime(2026, 3, 25, tzinfo=UTC))
    ann = ContactFactory(account=account)
    use(account, 4, "report_shared", ann)
    use(account, 6, "report_shared", ann)  # the second share: reached on 6 March
    rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 31))
    assert assign_milestones() == 2
    heard = []
    milestone_reached.connect(
        receiver := lambda sender, milestone_ids, **kw: heard.extend(milestone_ids)
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert evaluate_milestones(today=date(2026, 5, 1))["reached"] == 1
    finally:
        milestone_reached.disconnect(receiver)
    reached = AccountMilestone.objects.get(account=account, definition__name="First report shared")
    assert reached.reached_at.date() == date(2026, 3, 6)
    assert heard == []  # a churned account's history starts no playbook
