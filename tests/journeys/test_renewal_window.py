"""Accounts enter renewal N days before their renewal date and leave it once renewed."""

from datetime import date, timedelta

import pytest

from journeys.choices import Stage
from journeys.escalations import open_escalation, resolve_escalation
from journeys.models import AccountStage, StageTransition
from journeys.stages import apply_renewal_windows, move_accounts
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
TODAY = date(2026, 6, 1)


def at_stage(stage, renewal_in_days, **extra):
    account = AccountFactory(
        contract_start=TODAY - timedelta(days=300),
        renewal_date=TODAY + timedelta(days=renewal_in_days),
        **extra,
    )
    move_accounts({account.pk: (stage, "", "")})
    return account


def stage_of(account):
    return AccountStage.objects.get(account=account).stage


def test_accounts_inside_the_window_enter_renewal_and_others_stay(django_assert_max_num_queries):
    soon = at_stage(Stage.ADOPTION, 30)
    edge = at_stage(Stage.ONBOARDING, 90)
    later = at_stage(Stage.ADOPTION, 91)
    churned = at_stage(Stage.ADOPTION, 10, status="churned", churned_at="2026-05-01T00:00:00Z")
    with django_assert_max_num_queries(10):
        assert apply_renewal_windows(TODAY, 90) == 2
    assert [stage_of(a) for a in (soon, edge, later, churned)] == [
        "renewal", "renewal", "adoption", "adoption",
    ]  # fmt: skip
    move = StageTransition.objects.filter(account=soon).latest("moved_at")
    assert (move.from_stage, move.rule) == ("adoption", "renewal_window")
    assert apply_renewal_windows(TODAY, 90) == 0  # idempotent


def test_a_renewed_account_returns_to_adoption():
    account = at_stage(Stage.RENEWAL, 20)
    account.renewal_date = TODAY + timedelta(days=385)  # the CRM records the new term
    account.save()
    apply_renewal_windows(TODAY, 90)
    assert stage_of(account) == "adoption"
    assert StageTransition.objects.filter(account=account).latest("moved_at").rule == "renewed"


def test_an_escalated_account_comes_back_into_renewal_when_resolved():
    account = at_stage(Stage.ADOPTION, 30)
    escalation = open_escalation(account, severity="critical", title="Outage")
    apply_renewal_windows(TODAY, 90)
    assert stage_of(account) == "escalation"
    resolve_escalation(escalation)
    assert stage_of(account) == "renewal"


def test_an_account_escalated_during_a_renewal_that_got_signed_returns_to_adoption():
    account = at_stage(Stage.ADOPTION, 30)
    apply_renewal_windows(TODAY, 90)
    escalation = open_escalation(account, severity="critical", title="Outage")
    account.renewal_date = TODAY + timedelta(days=395)  # signed while escalated
    account.save()
    apply_renewal_windows(TODAY, 90)
    resolve_escalation(escalation)
    assert stage_of(account) == "adoption"
