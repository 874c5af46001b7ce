"""Moving accounts between journey stages, with the history of every move."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from journeys.choices import Stage
from journeys.models import AccountStage, StageTransition
from journeys.signals import stage_entered


class StageMoveError(ValueError):
    """A move that makes no sense (unknown stage, or the account is already there)."""


def move_account(
    account,
    to_stage: str,
    *,
    reason: str = "",
    by=None,
    rule: str = "",
    at: datetime | None = None,
) -> StageTransition:
    """Put ``account`` into ``to_stage`` and record the move.

    Entering escalation remembers the stage it came from so that resolving the escalation can
    return there; any other move clears it.
    """
    if to_stage not in Stage.values:
        raise StageMoveError(
            f"Unknown stage {to_stage!r}; expected one of {', '.join(Stage.values)}."
        )
    at = at or timezone.now()
    with transaction.atomic():
        current = AccountStage.objects.select_for_update().filter(account=account).first()
        from_stage = current.stage if current else ""
        if from_stage == to_stage:
            raise StageMoveError(f"{account} is already in {to_stage}.")
        return_stage = ""
        if to_stage == Stage.ESCALATION:
            return_stage = from_stage or Stage.ONBOARDING
        AccountStage.objects.update_or_create(
            account=account,
            defaults={"stage": to_stage, "entered_at": at, "return_stage": return_stage},
        )
        transition = StageTransition.objects.create(
            account=account,
            from_stage=from_stage,
            to_stage=to_stage,
            moved_at=at,
            reason=reason,
            moved_by=by,
            rule=rule,
        )
        transaction.on_commit(
            lambda: stage_entered.send(
                sender=StageTransition, account_id=account.pk, transition=transition
            )
        )
    return transition
