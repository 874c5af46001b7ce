"""Moving accounts between journey stages, with the history of every move."""

from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.choices import AccountStatus, TouchModel
from accounts.models import Account
from journeys.choices import Stage
from journeys.models import AccountStage, Handoff, StageTransition
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


def move_accounts(moves: dict[int, tuple[str, str, str]], *, at: datetime | None = None) -> int:
    """Move many accounts at once: {account_id: (to_stage, reason, rule)}.

    The set-based form of move_account for the scheduler: three queries whatever the count.
    Accounts already in their target stage are left alone. Returns how many moved.
    """
    at = at or timezone.now()
    with transaction.atomic():
        current = dict(
            AccountStage.objects.select_for_update()
            .filter(account_id__in=moves)
            .values_list("account_id", "stage")
        )
        changes = {a: m for a, m in moves.items() if current.get(a, "") != m[0]}
        transitions = [
            StageTransition(
                account_id=a, from_stage=current.get(a, ""), to_stage=stage, moved_at=at,
                reason=reason, rule=rule,
            )
            for a, (stage, reason, rule) in changes.items()
        ]  # fmt: skip
        StageTransition.objects.bulk_create(transitions)
        AccountStage.objects.bulk_create(
            [
                AccountStage(
                    account_id=a,
                    stage=stage,
                    entered_at=at,
                    return_stage=(current.get(a) or Stage.ONBOARDING)
                    if stage == Stage.ESCALATION
                    else "",
                )
                for a, (stage, _, _) in changes.items()
            ],
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=["stage", "entered_at", "return_stage"],
        )

        def announce():
            for transition in transitions:
                stage_entered.send(
                    sender=StageTransition, account_id=transition.account_id, transition=transition
                )

        transaction.on_commit(announce)
    return len(transitions)


def apply_renewal_windows(today: date, window_days: int) -> int:
    """Accounts renewing within ``window_days`` enter renewal; renewed ones go back to adoption.

    Only onboarding and adoption accounts enter renewal (an escalated account stays escalated
    and returns to renewal when resolved, through its return stage); an account in renewal
    whose renewal date moved beyond the window (the contract was renewed) returns to adoption.
    """
    horizon = today + timedelta(days=window_days)
    active = Account.objects.filter(status=AccountStatus.ACTIVE)
    entering = active.filter(
        renewal_date__gte=today,
        renewal_date__lte=horizon,
        journey__stage__in=[Stage.ONBOARDING, Stage.ADOPTION],
    ).values_list("id", "renewal_date")
    renewed = active.filter(renewal_date__gt=horizon, journey__stage=Stage.RENEWAL).values_list(
        "id", flat=True
    )
    moves = {
        a: (Stage.RENEWAL, f"Renews on {renewal:%Y-%m-%d}", "renewal_window")
        for a, renewal in entering
    }
    moves.update(dict.fromkeys(renewed, (Stage.ADOPTION, "Renewed", "renewed")))
    # Escalated during a renewal that has since been signed: come back to adoption.
    AccountStage.objects.filter(
        stage=Stage.ESCALATION,
        return_stage=Stage.RENEWAL,
        account__status=AccountStatus.ACTIVE,
        account__renewal_date__gt=horizon,
    ).update(return_stage=Stage.ADOPTION)
    # Escalated accounts will come back to renewal, not to the stage they left.
    AccountStage.objects.filter(
        stage=Stage.ESCALATION,
        return_stage__in=[Stage.ONBOARDING, Stage.ADOPTION],
        account__status=AccountStatus.ACTIVE,
        account__renewal_date__gte=today,
        account__renewal_date__lte=horizon,
    ).update(return_stage=Stage.RENEWAL)
    return move_accounts(moves)


def onboarding_started(account) -> bool:
    """High-touch onboarding starts with a complete sales handoff; other tracks need none."""
    if account.touch_model != TouchModel.HIGH:
        return True
    handoff = Handoff.objects.filter(account=account).first()
    return bool(handoff and handoff.is_complete)
