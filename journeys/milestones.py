"""Success milestones: assigned from the account's segment template, reached by rule or by hand.

Evaluation is set-based: one query per rule kind reads the daily roll-ups of every pending
milestone at once, pandas finds the day each threshold was crossed (so time to value is the
real day, not the day we noticed), and the results are written in bulk. Reaching and missing
milestones are announced; onboarding ends when an account's required milestones are reached.
"""

from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from django.db import transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from accounts.choices import AccountStatus, TouchModel
from accounts.models import Account, DailyContactUsage, DailyFeatureUsage
from journeys.choices import MilestoneRule, Stage
from journeys.models import AccountMilestone, AccountStage, Handoff, MilestoneTemplate
from journeys.signals import milestone_overdue, milestone_reached
from journeys.stages import move_accounts


def _announce(signal, ids):
    if ids:
        transaction.on_commit(lambda: signal.send(sender=AccountMilestone, milestone_ids=ids))


def assign_milestones(accounts=None) -> int:
    """Give accounts without milestones those of the first template matching them.

    Churned accounts too: one imported with its history and marked churned keeps the
    milestones it reached while it was a customer (history and validation read them)."""
    templates = list(MilestoneTemplate.objects.prefetch_related("milestones"))
    if not templates:
        return 0
    pending = Account.objects.filter(contract_start__isnull=False, milestones__isnull=True)
    if accounts is not None:
        pending = pending.filter(pk__in=[getattr(a, "pk", a) for a in accounts])
    rows = []
    for account in pending.only("id", "touch_model", "plan", "contract_start"):
        template = next(
            (
                t
                for t in templates
                if t.touch_model in ("", account.touch_model)
                and t.plan.lower() in ("", account.plan.lower())
            ),
            None,
        )
        if template is None:
            continue
        rows += [
            AccountMilestone(
                account=account,
                definition=d,
                due_date=account.contract_start + timedelta(days=d.target_days),
            )
            for d in template.milestones.all()
        ]
    AccountMilestone.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return len(rows)


def reach_milestone(milestone: AccountMilestone, *, by=None, at=None) -> AccountMilestone:
    """Mark a milestone reached by hand (manual rule, or a CSM confirming one)."""
    if milestone.reached_at:
        raise ValueError("This milestone is already reached.")
    milestone.reached_at, milestone.reached_by = at or timezone.now(), by
    milestone.save(update_fields=["reached_at", "reached_by"])
    _announce(milestone_reached, [milestone.pk])
    return milestone


def _crossing_days(usage: pd.DataFrame, thresholds: pd.DataFrame) -> pd.Series:
    """The first day each milestone's running total reached its threshold (by milestone id).

    ``usage`` has columns key, date, n (one row per key and day); ``thresholds`` maps each
    milestone id to its key, threshold and start date.
    """
    if usage.empty or thresholds.empty:
        return pd.Series(dtype="object")
    joined = thresholds.merge(usage, on="key")
    joined = joined[joined["date"] >= joined["start"]].sort_values(["id", "date"])
    joined["total"] = joined.groupby("id")["n"].cumsum()
    crossed = joined[joined["total"] >= joined["threshold"]]
    return crossed.groupby("id")["date"].min()


def evaluate_milestones(today: date | None = None, now: datetime | None = None) -> dict[str, int]:
    """Reach what the data says is reached, flag what is overdue, end finished onboardings.

    ``now`` stamps the changes (default: the present); a backfill or the demo passes its own.
    """
    now = now or timezone.now()
    today = today or now.date()
    # Churned accounts too: what their data shows reached before they left is recorded (the
    # usage that reaches it ends with them), though only active accounts' reach is announced.
    pending = AccountMilestone.objects.filter(reached_at__isnull=True).annotate(
        rule=F("definition__rule"),
        event_name=F("definition__event_name"),
        threshold=F("definition__threshold"),
        start=F("account__contract_start"),
    )
    rows = pd.DataFrame(
        pending.exclude(rule=MilestoneRule.MANUAL).values(
            "id", "account_id", "rule", "event_name", "threshold", "start"
        )
    )
    reached: dict[int, date] = {}
    if not rows.empty:
        events = rows[rows["rule"] == MilestoneRule.EVENT_COUNT]
        if not events.empty:
            usage = pd.DataFrame(
                DailyFeatureUsage.objects.filter(
                    account_id__in=events["account_id"].unique().tolist(),
                    name__in=events["event_name"].unique().tolist(),
                ).values_list("account_id", "name", "date", "event_count"),
                columns=["account_id", "name", "date", "n"],
            )
            usage["key"] = list(zip(usage["account_id"], usage["name"], strict=True))
            events = events.assign(
                key=list(zip(events["account_id"], events["event_name"], strict=True))
            )
            reached.update(_crossing_days(usage[["key", "date", "n"]], events).to_dict())
        people = rows[rows["rule"] == MilestoneRule.ACTIVE_USERS]
        if not people.empty:
            # Each contact counts once, on the first day it was active in the account.
            first_days = pd.DataFrame(
                DailyContactUsage.objects.filter(
                    account_id__in=people["account_id"].unique().tolist(),
                    date__gte=F("account__contract_start"),  # a trial's users count from the start
                )
                .values("account_id", "contact_id")
                .annotate(first=Min("date"))
                .values_list("account_id", "first"),
                columns=["key", "date"],
            ).assign(n=1)
            first_days = first_days.groupby(["key", "date"], as_index=False)["n"].sum()
            reached.update(
                _crossing_days(first_days, people.rename(columns={"account_id": "key"})).to_dict()
            )

    with transaction.atomic():
        done = list(AccountMilestone.objects.filter(pk__in=reached, reached_at__isnull=True))
        for milestone in done:
            day = reached[milestone.pk]
            milestone.reached_at = min(now, datetime.combine(day, time(23, 59), UTC))
        AccountMilestone.objects.bulk_update(done, ["reached_at"], batch_size=2000)
        active = set(
            Account.objects.filter(
                pk__in={m.account_id for m in done}, status=AccountStatus.ACTIVE
            ).values_list("pk", flat=True)
        )
        _announce(milestone_reached, [m.pk for m in done if m.account_id in active])

        overdue = AccountMilestone.objects.filter(
            reached_at__isnull=True, overdue_at__isnull=True, due_date__lt=today,
            account__status=AccountStatus.ACTIVE,
        )  # fmt: skip
        overdue_ids = list(overdue.values_list("id", flat=True))
        AccountMilestone.objects.filter(pk__in=overdue_ids).update(overdue_at=now)
        _announce(milestone_overdue, overdue_ids)
        finished = _finish_onboardings(now)
    return {"reached": len(done), "overdue": len(overdue_ids), "onboarded": finished}


def _finish_onboardings(now: datetime) -> int:
    """Onboarding accounts whose required milestones are all reached move to adoption."""
    onboarding = AccountStage.objects.filter(stage=Stage.ONBOARDING).values("account_id")
    open_required = AccountMilestone.objects.filter(
        account_id__in=onboarding, definition__required_for_onboarding=True, reached_at__isnull=True
    ).values("account_id")
    candidates = (
        Account.objects.filter(
            Q(pk__in=onboarding) & Q(milestones__definition__required_for_onboarding=True)
        )
        .exclude(pk__in=open_required)
        .distinct()
    )
    candidates = list(candidates.only("id", "touch_model"))
    # High-touch onboarding counts only with a complete sales handoff (see onboarding_started).
    handed_off = {
        h.account_id
        for h in Handoff.objects.filter(account__in=[a.pk for a in candidates])
        if h.is_complete
    }
    ready = [a for a in candidates if a.touch_model != TouchModel.HIGH or a.pk in handed_off]
    reason = "Required onboarding milestones reached"
    return move_accounts({a.pk: (Stage.ADOPTION, reason, "milestones_done") for a in ready}, at=now)


def first_value_days(accounts) -> dict[int, int]:
    """Days from contract start to the first-value milestone, per account that reached it."""
    rows = AccountMilestone.objects.filter(
        account__in=accounts, definition__marks_first_value=True, reached_at__isnull=False
    ).values_list("account_id", "reached_at", "account__contract_start")
    return {a: (reached.date() - start).days for a, reached, start in rows if start}
