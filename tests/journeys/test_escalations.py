"""Escalations: deadlines per severity, breaches, the journey detour and the feedback."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from accounts.models import DirtyAccount, SurveyResponse
from journeys.choices import Stage
from journeys.escalations import (
    EscalationError,
    detect_breaches,
    open_escalation,
    record_feedback,
    record_first_response,
    resolve_escalation,
)
from journeys.models import AccountStage, EscalationPolicy, StageTransition
from journeys.signals import escalation_breached
from journeys.stages import move_account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def account():
    account = AccountFactory()
    move_account(account, Stage.RENEWAL, at=T0 - timedelta(days=10))
    return account


def test_the_default_policies_give_each_severity_a_deadline():
    hours = dict(EscalationPolicy.objects.values_list("severity", "response_hours"))
    assert hours == {"critical": 4, "high": 24, "medium": 72, "low": 120}


def test_a_deadline_must_be_positive():
    policy = EscalationPolicy.objects.get(severity="low")
    policy.response_hours = 0
    with pytest.raises(ValidationError) as excinfo:
        policy.full_clean()
    assert "response_hours" in excinfo.value.message_dict


def test_a_severe_escalation_detours_the_journey_and_resolving_returns_it(account):
    escalation = open_escalation(account, severity="critical", title="Outage", opened_at=T0)
    assert escalation.response_due_at == T0 + timedelta(hours=4)
    state = AccountStage.objects.get(account=account)
    assert (state.stage, state.return_stage) == ("escalation", "renewal")
    resolve_escalation(escalation, at=T0 + timedelta(days=1))
    state.refresh_from_db()
    assert state.stage == "renewal"
    rules = list(
        StageTransition.objects.filter(account=account)
        .order_by("moved_at")
        .values_list("rule", flat=True)
    )
    assert rules[-2:] == ["severe_escalation", "escalation_resolved"]
    assert escalation.feedback_requested_at is not None
    assert DirtyAccount.objects.filter(account=account).exists()


def test_a_minor_escalation_leaves_the_journey_alone(account):
    open_escalation(account, severity="low", title="Typo in export", opened_at=T0)
    assert AccountStage.objects.get(account=account).stage == "renewal"


def test_the_journey_returns_only_when_the_last_severe_escalation_is_resolved(account):
    first = open_escalation(account, severity="high", title="A", opened_at=T0)
    second = open_escalation(
        account, severity="critical", title="B", opened_at=T0 + timedelta(hours=1)
    )
    resolve_escalation(first, at=T0 + timedelta(hours=5))
    assert AccountStage.objects.get(account=account).stage == "escalation"
    resolve_escalation(second, at=T0 + timedelta(hours=6))
    assert AccountStage.objects.get(account=account).stage == "renewal"


def test_breaches_are_detected_once_and_announced(account, django_capture_on_commit_callbacks):
    late = open_escalation(account, severity="critical", title="Down", opened_at=T0)
    answered = open_escalation(account, severity="critical", title="Slow", opened_at=T0)
    record_first_response(answered, at=T0 + timedelta(hours=1))
    heard = []
    escalation_breached.connect(
        receiver := lambda sender, escalation_ids, **kw: heard.extend(escalation_ids)
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert detect_breaches(now=T0 + timedelta(hours=3)) == []
            assert detect_breaches(now=T0 + timedelta(hours=5)) == [late.pk]
            assert detect_breaches(now=T0 + timedelta(hours=6)) == []
    finally:
        escalation_breached.disconnect(receiver)
    assert heard == [late.pk]
    late.refresh_from_db()
    assert late.breached_at == T0 + timedelta(hours=5)


def test_a_late_first_response_counts_as_a_breach(account):
    escalation = open_escalation(account, severity="high", title="x", opened_at=T0)
    record_first_response(escalation, at=T0 + timedelta(hours=30))
    assert escalation.breached_at == T0 + timedelta(hours=24)


def test_feedback_is_a_csat_answer_after_resolution(account):
    escalation = open_escalation(account, severity="medium", title="x", opened_at=T0)
    with pytest.raises(EscalationError, match="once the escalation is resolved"):
        record_feedback(escalation, score=4)
    resolve_escalation(escalation, at=T0 + timedelta(hours=2))
    with pytest.raises(EscalationError, match="from 1 to 5"):
        record_feedback(escalation, score=9)
    record_feedback(escalation, score=4, comment="Quick fix, thanks")
    answer = SurveyResponse.objects.get()
    assert (answer.kind, answer.score, answer.escalation) == ("csat", 4, escalation)
    with pytest.raises(EscalationError, match="already recorded"):
        record_feedback(escalation, score=5)


@pytest.mark.parametrize(
    ("step", "field"),
    [(record_first_response, "first_response_at"), (resolve_escalation, "resolved_at")],
)
def test_a_step_before_the_opening_is_refused_naming_the_field(account, step, field):
    escalation = open_escalation(account, severity="low", title="x", opened_at=T0)
    with pytest.raises(EscalationError) as excinfo:
        step(escalation, at=T0 - timedelta(hours=1))
    assert excinfo.value.field == field


def test_the_api_opens_responds_resolves_and_takes_feedback(client, csm, account):
    account.owner = csm
    account.save()
    client.force_login(csm)
    created = client.post(
        "/api/v1/escalations/", {"account": account.external_id, "title": "Outage",
                                 "severity": "critical", "opened_at": T0.isoformat()},
        content_type="application/json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["response_due_at"].startswith("2026-03-02T13:00")
    url = f"/api/v1/escalations/{body['id']}/"
    assert (
        client.post(
            url + "respond/", {"at": "2026-03-02T10:00:00Z"}, content_type="application/json"
        ).status_code
        == 200
    )
    early = client.post(
        url + "resolve/", {"at": "2020-01-01T00:00:00Z"}, content_type="application/json"
    )
    assert early.status_code == 400 and "resolved_at" in early.json()
    assert client.post(url + "resolve/", {}, content_type="application/json").status_code == 200
    bad = client.post(url + "feedback/", {"score": 0}, content_type="application/json")
    assert bad.status_code == 400 and "score" in bad.json()
    done = client.post(url + "feedback/", {"score": 5}, content_type="application/json")
    assert done.status_code == 200 and done.json()["feedback_score"] == 5
    assert AccountStage.objects.get(account=account).stage == "renewal"


def test_an_escalation_keeps_its_account_severity_and_opening_and_is_never_deleted(
    client, csm, account
):
    account.owner = csm
    account.save()
    escalation = open_escalation(account, severity="low", title="x", opened_at=T0)
    client.force_login(csm)
    url = f"/api/v1/escalations/{escalation.pk}/"
    for body in ({"severity": "critical"}, {"opened_at": "2030-01-01T00:00:00Z"}):
        response = client.patch(url, body, content_type="application/json")
        assert response.status_code == 400 and set(body) <= set(response.json())
    assert client.delete(url).status_code == 405
    renamed = client.patch(url, {"title": "Export typo"}, content_type="application/json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "Export typo"


def test_a_step_in_the_future_is_refused(account):
    escalation = open_escalation(account, severity="low", title="x", opened_at=T0)
    with pytest.raises(EscalationError) as excinfo:
        record_first_response(escalation, at=datetime(2099, 1, 1, tzinfo=UTC))
    assert excinfo.value.field == "first_response_at"


def test_resolving_a_minor_escalation_keeps_a_manual_escalation_stage(account, csm):
    move_account(account, Stage.ESCALATION, reason="Exec unhappy", by=csm)
    minor = open_escalation(account, severity="low", title="Typo", opened_at=T0)
    resolve_escalation(minor, at=T0 + timedelta(hours=1))
    assert AccountStage.objects.get(account=account).stage == "escalation"
