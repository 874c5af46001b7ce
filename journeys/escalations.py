"""Escalations: response deadlines by severity, breaches, the journey detour, feedback.

A severe escalation (its policy says so) moves the account into the escalation stage, from
any stage; resolving the last severe one returns it to where it came from. Every step is
announced for playbooks.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.choices import SurveyKind
from accounts.dirty import mark_dirty
from accounts.models import SurveyResponse
from journeys.choices import Stage
from journeys.models import AccountStage, Escalation, EscalationPolicy
from journeys.signals import escalation_breached, escalation_opened, escalation_resolved
from journeys.stages import move_account


class EscalationError(ValueError):
    """A step that does not fit the escalation's state, with the field it concerns."""

    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(reason)


def _announce(signal, ids):
    transaction.on_commit(lambda: signal.send(sender=Escalation, escalation_ids=list(ids)))


def open_escalation(account, *, severity, title, description="", opened_at=None, by=None):
    """Open an escalation with its response deadline; a severe one escalates the journey."""
    opened_at = opened_at or timezone.now()
    policy = EscalationPolicy.objects.filter(severity=severity).first()
    with transaction.atomic():
        escalation = Escalation.objects.create(
            account=account,
            severity=severity,
            title=title,
            description=description,
            opened_at=opened_at,
            opened_by=by,
            owner=account.owner,
            response_due_at=opened_at + timedelta(hours=policy.response_hours) if policy else None,
        )
        if policy and policy.moves_to_escalation_stage:
            stage = AccountStage.objects.filter(account=account).values_list("stage", flat=True)
            if stage.first() != Stage.ESCALATION:
                move_account(
                    account, Stage.ESCALATION, reason=f"{escalation.get_severity_display()} "
                    f"escalation: {title}", rule="severe_escalation", at=opened_at,
                )  # fmt: skip
        mark_dirty([account.pk])
        _announce(escalation_opened, [escalation.pk])
    return escalation


def _not_in_future(at, field):
    if at > timezone.now() + timedelta(minutes=5):
        raise EscalationError(field, "Cannot be in the future.")


def record_first_response(escalation, at=None):
    at = at or timezone.now()
    _not_in_future(at, "first_response_at")
    if escalation.first_response_at:
        raise EscalationError("first_response_at", "The first response is already recorded.")
    if at < escalation.opened_at:
        raise EscalationError("first_response_at", "Cannot be before the escalation opened.")
    escalation.first_response_at = at
    fields = ["first_response_at"]
    if (
        escalation.response_due_at
        and at > escalation.response_due_at
        and not escalation.breached_at
    ):
        escalation.breached_at = escalation.response_due_at  # answered, but late
        fields.append("breached_at")
    escalation.save(update_fields=fields)
    return escalation


def resolve_escalation(escalation, at=None, by=None):
    """Close it, ask the customer for feedback, and end the journey detour if it was the last."""
    at = at or timezone.now()
    _not_in_future(at, "resolved_at")
    if escalation.resolved_at:
        raise EscalationError("resolved_at", "This escalation is already resolved.")
    if at < escalation.opened_at:
        raise EscalationError("resolved_at", "Cannot be before the escalation opened.")
    with transaction.atomic():
        escalation.resolved_at = at
        escalation.feedback_requested_at = timezone.now()
        escalation.save(update_fields=["resolved_at", "feedback_requested_at"])
        state = AccountStage.objects.filter(account=escalation.account_id).first()
        severe = EscalationPolicy.objects.filter(moves_to_escalation_stage=True).values("severity")
        still_open = Escalation.objects.filter(
            account=escalation.account_id, resolved_at__isnull=True, severity__in=severe
        )
        was_severe = EscalationPolicy.objects.filter(
            severity=escalation.severity, moves_to_escalation_stage=True
        ).exists()
        # Only a severe escalation detoured the journey; a CSM's manual move stays.
        if was_severe and state and state.stage == Stage.ESCALATION and not still_open.exists():
            move_account(
                escalation.account, state.return_stage or Stage.ADOPTION,
                reason=f"Escalation resolved: {escalation.title}", by=by,
                rule="" if by else "escalation_resolved", at=at,
            )  # fmt: skip
        mark_dirty([escalation.account_id])
        _announce(escalation_resolved, [escalation.pk])
    return escalation


def record_feedback(escalation, *, score: int, comment: str = "", contact=None, at=None):
    """Store the customer's CSAT (1-5) about how the escalation was handled."""
    if not escalation.resolved_at:
        raise EscalationError("score", "Feedback is asked for once the escalation is resolved.")
    if escalation.feedback_id:
        raise EscalationError("score", "Feedback for this escalation is already recorded.")
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise EscalationError("score", "A CSAT score is a whole number from 1 to 5.")
    with transaction.atomic():
        escalation.feedback = SurveyResponse.objects.create(
            account_id=escalation.account_id,
            contact=contact,
            kind=SurveyKind.CSAT,
            score=score,
            comment=comment,
            responded_at=at or timezone.now(),
        )
        escalation.save(update_fields=["feedback"])
        mark_dirty([escalation.account_id])
    return escalation


def detect_breaches(now=None) -> list[int]:
    """Mark every escalation whose response deadline passed without a first response.

    Set-based and idempotent: a breach is marked (and announced) once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = Escalation.objects.select_for_update(skip_locked=True).filter(
            breached_at__isnull=True, response_due_at__lt=now, first_response_at__isnull=True
        )
        ids = list(due.values_list("id", flat=True))
        if ids:
            Escalation.objects.filter(pk__in=ids).update(breached_at=now)
            accounts = Escalation.objects.filter(pk__in=ids).values_list("account_id", flat=True)
            mark_dirty(set(accounts))
            _announce(escalation_breached, ids)
    return ids
