"""Each trigger kind fires on its occurrence, and only then (and only once)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from accounts.models import Contact, DailyAccountUsage
from health.models import HealthChange
from health.signals import health_changed
from journeys.escalations import detect_breaches, open_escalation, resolve_escalation
from journeys.models import AccountMilestone, MilestoneDefinition, MilestoneTemplate
from journeys.stages import move_account
from playbooks import scans
from playbooks.models import PlaybookRun
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EventFactory,
    SurveyResponseFactory,
)
from tests.playbooks.factories import (
    AccountHealthFactory,
    HealthChangeFactory,
    HealthSnapshotFactory,
    PlaybookFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
TODAY = NOW.date()


def keys(playbook):
    return sorted(
        PlaybookRun.objects.filter(playbook=playbook).values_list("occurrence_key", flat=True)
    )


def test_it_fires_on_green_to_yellow_announced_by_health(django_capture_on_commit_callbacks):
    playbook = PlaybookFactory()
    match = HealthChangeFactory()
    HealthChangeFactory(from_color="yellow", to_color="red")
    HealthChangeFactory(backfilled=True)
    with django_capture_on_commit_callbacks(execute=True):
        health_changed.send(
            sender=HealthChange, change_ids=list(HealthChange.objects.values_list("pk", flat=True))
        )
    assert keys(playbook) == [f"health:{match.pk}"]
    run = PlaybookRun.objects.get()
    assert run.explanation.startswith("health went green -> yellow at 2026-03-02 14:02;")
    assert "weekly active admins fell from 4 to 1" in run.explanation


def test_it_fires_when_the_score_starts_being_down_n_points():
    playbook = PlaybookFactory(
        trigger_kind="score_dropped", trigger_params={"points": 20, "days": 7}
    )
    fell = AccountHealthFactory(score=50).account
    HealthSnapshotFactory(account=fell, date=TODAY - timedelta(days=5), score=80)
    HealthSnapshotFactory(account=fell, date=TODAY - timedelta(days=1), score=78)
    already = AccountHealthFactory(score=50).account  # was already down yesterday
    HealthSnapshotFactory(account=already, date=TODAY - timedelta(days=5), score=80)
    HealthSnapshotFactory(account=already, date=TODAY - timedelta(days=1), score=52)
    steady = AccountHealthFactory(score=70).account
    HealthSnapshotFactory(account=steady, date=TODAY - timedelta(days=3), score=80)
    scans.scan_time_triggers(NOW)
    scans.scan_time_triggers(NOW + timedelta(minutes=5))
    assert keys(playbook) == [f"score_drop:{fell.pk}:{TODAY}:20:7"]
    assert "fell 30 points in 5 days, from 80" in PlaybookRun.objects.get().explanation


def test_it_fires_when_the_stage_is_entered(django_capture_on_commit_callbacks):
    renewal = PlaybookFactory(trigger_kind="stage_entered", trigger_params={"stage": "renewal"})
    adoption = PlaybookFactory(trigger_kind="stage_entered", trigger_params={"stage": "adoption"})
    account = AccountFactory()
    with django_capture_on_commit_callbacks(execute=True):
        move_account(account, "renewal", reason="Renews soon", at=NOW)
    assert len(keys(renewal)) == 1 and keys(adoption) == []


def _milestone(account, name="First report shared", **fields):
    template, _ = MilestoneTemplate.objects.get_or_create(name="Default")
    definition = MilestoneDefinition.objects.create(
        template=template, name=name, target_days=30, rule="manual"
    )
    return AccountMilestone.objects.create(
        account=account, definition=definition, due_date=date(2026, 2, 1), **fields
    )


def test_it_fires_when_a_named_milestone_is_reached():
    playbook = PlaybookFactory(
        trigger_kind="milestone_reached", trigger_params={"milestone": "first report shared"}
    )
    reached = _milestone(AccountFactory(), reached_at=NOW)
    other = _milestone(AccountFactory(), name="Integration live", reached_at=NOW)
    scans.evaluate_announced("milestone_reached", [reached.pk, other.pk])
    assert keys(playbook) == [f"milestone_reached:{reached.pk}"]


def test_it_fires_when_a_milestone_is_overdue_and_the_scan_catches_up_once():
    playbook = PlaybookFactory(trigger_kind="milestone_overdue", trigger_params={})
    late = _milestone(AccountFactory(), overdue_at=NOW - timedelta(hours=1))
    _milestone(AccountFactory(), name="Not late")
    scans.evaluate_announced("milestone_overdue", [late.pk])
    scans.scan_time_triggers(NOW)  # the catch-up finds it again: same key, no second run
    assert keys(playbook) == [f"milestone_overdue:{late.pk}"]


def test_it_fires_once_per_renewal_within_n_days():
    playbook = PlaybookFactory(trigger_kind="renewal_within", trigger_params={"days": 90})
    soon = AccountFactory(renewal_date=TODAY + timedelta(days=30))
    AccountFactory(renewal_date=TODAY + timedelta(days=120))
    scans.scan_time_triggers(NOW)
    scans.scan_time_triggers(NOW + timedelta(hours=1))
    assert keys(playbook) == [f"renewal:{soon.pk}:{soon.renewal_date}:90"]
    assert PlaybookRun.objects.get().explanation.startswith(
        f"renewal on {soon.renewal_date} is 30 days away"
    )


def test_it_fires_when_a_key_contact_leaves_or_is_replaced():
    playbook = PlaybookFactory(
        trigger_kind="key_contact_changed", trigger_params={"changes": ["left", "replaced"]}
    )
    account = AccountFactory()
    old = ContactFactory(account=account, is_key_contact=True, persona="champion", name="Ada")
    scans.scan_new_rows(NOW, [account.pk])  # the first look only records who is key
    assert keys(playbook) == []
    Contact.objects.filter(pk=old.pk).update(is_active=False)
    new = ContactFactory(account=account, is_key_contact=True, persona="admin", name="Bo")
    scans.scan_new_rows(NOW, [account.pk])
    scans.scan_new_rows(NOW, [account.pk])
    found = keys(playbook)
    assert len(found) == 2
    assert found[0].startswith(f"key_contact_left:{old.pk}:")
    assert found[1] == f"key_contact_replaced:{new.pk}:{account.pk}"
    replaced = PlaybookRun.objects.get(occurrence_key=found[1])
    assert replaced.explanation == "Bo (admin) became a key contact, replacing Ada"


def test_it_fires_when_a_key_contact_is_inactive_for_n_days():
    playbook = PlaybookFactory(
        trigger_kind="key_contact_changed",
        trigger_params={"changes": ["inactive"], "inactive_days": 30},
    )
    quiet = ContactFactory(is_key_contact=True, last_seen_at=NOW - timedelta(days=40))
    ContactFactory(is_key_contact=True, last_seen_at=NOW - timedelta(days=3))
    ContactFactory(is_key_contact=False, last_seen_at=NOW - timedelta(days=90))
    scans.scan_time_triggers(NOW)
    assert keys(playbook) == [
        f"key_contact_inactive:{quiet.pk}:{(NOW - timedelta(days=40)):%Y%m%d}:30"
    ]


def test_it_fires_on_an_nps_detractor_answer_only():
    playbook = PlaybookFactory(trigger_kind="nps_detractor", trigger_params={})
    detractor = SurveyResponseFactory(score=4, responded_at=NOW, comment="Too slow")
    SurveyResponseFactory(score=8, responded_at=NOW)
    SurveyResponseFactory(kind="csat", score=1, responded_at=NOW)
    scans.scan_new_rows(NOW)
    scans.scan_new_rows(NOW)
    assert keys(playbook) == [f"nps:{detractor.pk}"]
    assert "NPS 4" in PlaybookRun.objects.get().explanation


@pytest.mark.parametrize(
    ("kind", "step"),
    [
        ("escalation_opened", "open"),
        ("escalation_breached", "breach"),
        ("escalation_resolved", "resolve"),
    ],
)
def test_it_fires_on_each_escalation_step(kind, step, django_capture_on_commit_callbacks):
    playbook = PlaybookFactory(trigger_kind=kind, trigger_params={"severities": ["high"]})
    low = PlaybookFactory(trigger_kind=kind, trigger_params={"severities": ["low"]})
    account = AccountFactory()
    opened = NOW - timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        escalation = open_escalation(
            account, severity="high", title="Sync failing", opened_at=opened
        )
    with django_capture_on_commit_callbacks(execute=True):
        if step == "breach":
            detect_breaches()
        if step == "resolve":
            resolve_escalation(escalation, at=NOW)
    assert keys(playbook) == [f"{kind}:{escalation.pk}"]
    assert keys(low) == []


def test_it_fires_when_an_account_has_no_activity_for_n_days():
    playbook = PlaybookFactory(trigger_kind="no_activity", trigger_params={"days": 14})
    quiet, busy = AccountFactory(), AccountFactory()
    DailyAccountUsage.objects.create(account=quiet, date=TODAY - timedelta(days=20), event_count=5)
    DailyAccountUsage.objects.create(account=busy, date=TODAY - timedelta(days=20), event_count=5)
    DailyAccountUsage.objects.create(account=busy, date=TODAY - timedelta(days=1), event_count=5)
    scans.scan_time_triggers(NOW)
    scans.scan_time_triggers(NOW + timedelta(hours=1))
    assert keys(playbook) == [f"no_activity:{quiet.pk}:{TODAY - timedelta(days=20)}:14"]


def test_it_fires_on_a_tenure_anniversary_every_n_months():
    playbook = PlaybookFactory(trigger_kind="tenure_anniversary", trigger_params={"months": 36})
    three_years = AccountFactory(contract_start=date(2023, 3, 2), renewal_date=date(2027, 3, 2))
    AccountFactory(contract_start=date(2024, 3, 2), renewal_date=date(2027, 3, 2))
    AccountFactory(contract_start=date(2023, 6, 2), renewal_date=date(2027, 6, 2))
    scans.scan_time_triggers(NOW)
    assert keys(playbook) == [f"tenure:{three_years.pk}:2026-03-02:36"]
    assert PlaybookRun.objects.get().explanation.startswith("3 years since the contract started")


def test_it_fires_on_a_named_product_event():
    playbook = PlaybookFactory(
        trigger_kind="product_event", trigger_params={"event_name": "export_failed"}
    )
    failed = EventFactory(name="export_failed", occurred_at=NOW)
    EventFactory(name="login", occurred_at=NOW)
    EventFactory(name="export_failed", occurred_at=NOW - timedelta(days=30))  # too old to act on
    scans.scan_new_rows(NOW)
    scans.scan_new_rows(NOW)
    assert keys(playbook) == [f"event:{failed.pk}"]


def test_it_fires_when_an_account_enters_the_segment_but_not_for_those_already_in():
    playbook = PlaybookFactory(
        trigger_kind="segment_entered", trigger_params={"segment_plans": ["Enterprise"]}
    )
    AccountFactory(plan="Enterprise")
    mover = AccountFactory(plan="Growth")
    scans.scan_time_triggers(NOW)
    assert keys(playbook) == []
    mover.plan = "Enterprise"
    mover.save()
    scans.scan_time_triggers(NOW + timedelta(minutes=5))
    scans.scan_time_triggers(NOW + timedelta(minutes=10))
    assert len(keys(playbook)) == 1
    assert PlaybookRun.objects.get().account == mover


def test_a_disabled_playbook_never_fires():
    playbook = PlaybookFactory(enabled=False)
    scans.evaluate_announced("health", [HealthChangeFactory().pk])
    assert keys(playbook) == []
