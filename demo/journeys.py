"""The demo's journeys: stage history, escalations, success plans, handoffs, milestones.

Accounts in trouble (``TROUBLED`` stories of ``demo.behaviour``) escalate more often; the
escalation opens in the last weeks of their time as a customer, as they sour.
"""

import random
from datetime import UTC, datetime, time, timedelta

from accounts.choices import TouchModel
from demo import names
from demo.simulation import add_years
from journeys.choices import MilestoneRule, Severity, Stage
from journeys.milestones import assign_milestones, evaluate_milestones
from journeys.models import (
    AccountMilestone,
    AccountStage,
    Escalation,
    Handoff,
    MilestoneDefinition,
    MilestoneTemplate,
    StageTransition,
)

BATCH = 5000
TROUBLED = {"leaving", "churned", "eroding", "fading admin", "champion left"}
SEVERITIES = [
    (Severity.LOW, 0.2), (Severity.MEDIUM, 0.4), (Severity.HIGH, 0.3), (Severity.CRITICAL, 0.1),
]  # fmt: skip
SUCCESS_PLANS = {
    # template: (touch model or "", priority, [(name, days, rule, event, threshold, first value)])
    "High-touch onboarding": ("high", 1, [
        ("Kick-off call held", 7, MilestoneRule.MANUAL, "", 1, False),
        ("First report shared", 30, MilestoneRule.EVENT_COUNT, "report_shared", 1, True),
        ("Three people active", 45, MilestoneRule.ACTIVE_USERS, "", 3, False),
    ]),
    "Guided onboarding": ("", 10, [
        ("Two reports created", 21, MilestoneRule.EVENT_COUNT, "report_created", 2, True),
        ("Two people active", 30, MilestoneRule.ACTIVE_USERS, "", 2, False),
    ]),
}  # fmt: skip


def _weighted(rng: random.Random, options):
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights=weights)[0]


def _stage_moves(rng, account, end) -> list[tuple]:
    """(moved at, stage, reason, rule): onboarding, adoption, a renewal window each year."""
    start_at = datetime.combine(account.contract_start, time(hour=9), UTC)
    moves = [(start_at, Stage.ONBOARDING, "Handoff from sales completed", "contract_start")]
    onboarding = rng.randint(30, 60) if account.touch_model == "tech" else rng.randint(45, 100)
    adoption_at = start_at + timedelta(days=onboarding)
    if adoption_at < end:
        moves.append(
            (adoption_at, Stage.ADOPTION, "Onboarding milestones completed", "milestones_done")
        )
    anniversary = add_years(account.contract_start, 1)
    while True:
        renewal_start = datetime.combine(anniversary - timedelta(days=90), time(hour=6), UTC)
        if renewal_start >= end or renewal_start <= moves[-1][0]:
            break
        moves.append((renewal_start, Stage.RENEWAL, "Renewal within 90 days", "renewal_window"))
        renewed_at = datetime.combine(anniversary, time(hour=12), UTC)
        if renewed_at >= end or (account.churned_at and anniversary >= account.renewal_date):
            break  # a churned account left at this renewal instead of renewing
        moves.append((renewed_at, Stage.ADOPTION, "Renewed for another year", "renewed"))
        anniversary = add_years(anniversary, 1)
    return moves


def _escalation(rng, account, end, moves) -> Escalation | None:
    """An escalation opened in the account's last 40 days (moves gain its stage changes)."""
    opened = end - timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 8))
    if opened <= moves[-1][0]:
        return None
    severity = _weighted(rng, SEVERITIES)
    resolved = opened + timedelta(days=rng.randint(2, 20)) if rng.random() < 0.5 else None
    if resolved and resolved >= end:
        resolved = None
    escalation = Escalation(
        account=account,
        title=rng.choice(names.ESCALATION_TITLES),
        description="Raised by the customer's champion.",
        severity=severity,
        opened_at=opened,
        first_response_at=opened + timedelta(hours=rng.randint(1, 60)),
        resolved_at=resolved,
        owner=account.owner,
        response_due_at=opened + timedelta(hours=names.RESPONSE_HOURS[severity]),
        feedback_requested_at=resolved,
    )
    if escalation.first_response_at > end:
        escalation.first_response_at = None
    if (escalation.first_response_at or end) > escalation.response_due_at:
        escalation.breached_at = escalation.response_due_at
    # As the default policies say: high and critical ones escalate the journey.
    if severity in {Severity.HIGH, Severity.CRITICAL}:
        before = moves[-1][1]
        reason = f"{severity.label} escalation: {escalation.title}"
        moves.append((opened, Stage.ESCALATION, reason, "severe_escalation"))
        if resolved:
            moves.append((resolved, before, "Escalation resolved", "escalation_resolved"))
    return escalation


def write_journeys(rng, accounts, stories, now) -> tuple[int, int]:
    """Stage history and current stage of each account, and escalations; (moves, escalations)."""
    transitions, stages, escalations = [], [], []
    for account in accounts:
        end = account.churned_at or now
        moves = _stage_moves(rng, account, end)
        if rng.random() < (0.25 if stories[account.pk] in TROUBLED else 0.04):
            escalation = _escalation(rng, account, end, moves)
            if escalation:
                escalations.append(escalation)
        previous = ""
        for moved_at, stage, reason, rule in moves:
            transitions.append(
                StageTransition(
                    account=account, from_stage=previous, to_stage=stage, moved_at=moved_at,
                    reason=reason, rule=rule, moved_by=account.owner if not rule else None,
                )
            )  # fmt: skip
            previous = stage
        last_at, last_stage = moves[-1][0], moves[-1][1]
        back = moves[-2][1] if last_stage == Stage.ESCALATION else ""
        stages.append(
            AccountStage(account=account, stage=last_stage, entered_at=last_at, return_stage=back)
        )
    StageTransition.objects.bulk_create(transitions, batch_size=BATCH)
    AccountStage.objects.bulk_create(stages, batch_size=BATCH)
    Escalation.objects.bulk_create(escalations, batch_size=BATCH)
    return len(transitions), len(escalations)


def _install_templates() -> None:
    for name, (touch, priority, milestones) in SUCCESS_PLANS.items():
        template, created = MilestoneTemplate.objects.get_or_create(
            name=name, defaults={"touch_model": touch, "priority": priority}
        )
        if created:
            MilestoneDefinition.objects.bulk_create(
                MilestoneDefinition(
                    template=template, name=title, order=i, target_days=days, rule=rule,
                    event_name=event, threshold=threshold, marks_first_value=first_value,
                )
                for i, (title, days, rule, event, threshold, first_value) in enumerate(milestones)
            )  # fmt: skip


def write_success_plans(rng, accounts, window_start, now) -> int:
    """Milestone templates, sales handoffs for high-touch accounts, milestones evaluated."""
    _install_templates()
    high = [a for a in accounts if a.touch_model == TouchModel.HIGH and rng.random() < 0.9]
    Handoff.objects.bulk_create(
        Handoff(
            account=a,
            reasons_for_buying=rng.choice(names.HANDOFF_REASONS),
            problems_to_solve=rng.choice(names.HANDOFF_PROBLEMS),
            success_criteria=rng.choice(names.HANDOFF_CRITERIA),
            expected_go_live=a.contract_start + timedelta(days=rng.randint(30, 90)),
            sold_by=f"{rng.choice(names.FIRST)} {rng.choice(names.LAST)} (AE)",
        )
        for a in high
    )
    assigned = assign_milestones(accounts)
    # Kick-off calls happened a few days into the contract, as the CSMs recorded them.
    kickoffs = AccountMilestone.objects.filter(
        account__in=accounts, definition__rule=MilestoneRule.MANUAL
    ).select_related("account")
    for milestone in kickoffs:
        held = milestone.account.contract_start + timedelta(days=rng.randint(2, 9))
        if held <= now.date():
            milestone.reached_at = datetime.combine(held, time(15), UTC)
            milestone.reached_by_id = milestone.account.owner_id
    AccountMilestone.objects.bulk_update(kickoffs, ["reached_at", "reached_by"])
    # Customers older than the usage window reached their milestones before it began: give
    # them the dates they would have had, so time to value is about onboarding, not history.
    history = list(
        AccountMilestone.objects.filter(
            account__in=accounts, account__contract_start__lt=window_start, reached_at__isnull=True
        ).select_related("account", "definition")
    )
    for milestone in history:
        took = int(milestone.definition.target_days * rng.uniform(0.3, 1.4))
        day = min(milestone.account.contract_start + timedelta(days=took), window_start)
        milestone.reached_at = datetime.combine(day, time(12), UTC)
    AccountMilestone.objects.bulk_update(history, ["reached_at"], batch_size=BATCH)
    evaluate_milestones(today=now.date(), now=now)
    return assigned
