"""Before enabling a playbook: which accounts match now, and what it would have done lately.

``preview`` applies the conditions (and, for state triggers, the state: currently yellow,
renewing within N days, inactive...) in one queryset. ``backtest`` replays the stored
history of the last N days through the same matching and cooldown as the engine, set-based
(one query for the history of the trigger kind, one for the conditions), and counts runs
per ISO week and per account. Account conditions are judged on today's attributes.
"""

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.choices import AccountStatus, SurveyKind
from accounts.models import Account, Contact, DailyAccountUsage, Event, SurveyResponse
from health.models import HealthChange, HealthSnapshot
from journeys.models import AccountMilestone, Escalation, StageTransition
from playbooks import occurrences as found
from playbooks.choices import KeyContactChange, TriggerKind
from playbooks.conditions import conditions_q, segment_params_q
from playbooks.engine import apply_cooldown, match
from playbooks.triggers import Occurrence

PREVIEW_LIMIT = 100


def _state_q(playbook, today: date, now: datetime) -> tuple[Q, str]:
    """For state triggers, the accounts currently in the state; else everything."""
    p, kind = playbook.trigger_params, playbook.trigger_kind
    if kind == TriggerKind.HEALTH_COLOR_CHANGED and p.get("to_colors"):
        return Q(health__color__in=p["to_colors"]), "currently " + " or ".join(p["to_colors"])
    if kind == TriggerKind.RENEWAL_WITHIN:
        horizon = today + timedelta(days=p["days"])
        return Q(renewal_date__gte=today, renewal_date__lte=horizon), f"renewing by {horizon}"
    if kind == TriggerKind.NO_ACTIVITY:
        active = DailyAccountUsage.objects.filter(
            event_count__gt=0, date__gte=today - timedelta(days=p["days"])
        ).values("account_id")
        return ~Q(pk__in=active), f"no activity in the last {p['days']} days"
    if kind == TriggerKind.SEGMENT_ENTERED:
        return segment_params_q(p), "in the segment now"
    if kind == TriggerKind.STAGE_ENTERED:
        return Q(journey__stage=p["stage"]), f"in {p['stage']} now"
    if kind in {TriggerKind.ESCALATION_OPENED, TriggerKind.ESCALATION_BREACHED}:
        open_ = Escalation.objects.filter(resolved_at__isnull=True)
        if p.get("severities"):
            open_ = open_.filter(severity__in=p["severities"])
        if kind == TriggerKind.ESCALATION_BREACHED:
            open_ = open_.filter(breached_at__isnull=False)
        return Q(pk__in=open_.values("account_id")), "with such an escalation open now"
    if kind == TriggerKind.MILESTONE_OVERDUE:
        late = AccountMilestone.objects.filter(reached_at__isnull=True, overdue_at__isnull=False)
        if p.get("milestone"):
            late = late.filter(definition__name__iexact=p["milestone"])
        return Q(pk__in=late.values("account_id")), "with the milestone overdue now"
    if kind == TriggerKind.KEY_CONTACT_CHANGED and p.get("inactive_days"):
        quiet = Contact.objects.filter(
            is_key_contact=True,
            is_active=True,
            last_seen_at__lt=now - timedelta(days=p["inactive_days"]),
        )
        return Q(pk__in=quiet.values("account_id")), "with a key contact inactive now"
    return Q(), "meeting the conditions (this trigger is an event, not a state)"


def preview(playbook, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    state, note = _state_q(playbook, timezone.localdate(now), now)
    accounts = (
        Account.objects.filter(conditions_q(playbook), state, status=AccountStatus.ACTIVE)
        .select_related("owner")
        .order_by("name", "pk")
    )
    if playbook.trigger_kind == TriggerKind.SCORE_DROPPED:
        p = playbook.trigger_params
        drops = found.score_drop_occurrences(
            timezone.localdate(now), {(p["points"], p["days"])}, now
        )
        accounts = accounts.filter(pk__in=[o.account_id for o in drops])
        note = f"down {p['points']}+ points from their {p['days']}-day peak now"
    return {"count": accounts.count(), "accounts": list(accounts[:PREVIEW_LIMIT]), "state": note}


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


def history(playbook, start: datetime, end: datetime) -> tuple[list[Occurrence], str]:
    """The occurrences of the playbook's trigger kind in [start, end] from stored history."""
    p, kind = playbook.trigger_params, playbook.trigger_kind
    window = {"__gte": start, "__lte": end}

    def between(field):
        return {f"{field}{op}": value for op, value in window.items()}

    if kind == TriggerKind.HEALTH_COLOR_CHANGED:
        rows = HealthChange.objects.filter(**between("changed_at")).values(
            "pk", "account_id", "changed_at", "from_color", "to_color", "from_score",
            "to_score", "explanation",
        )  # fmt: skip
        return [found.health_occurrence(r) for r in rows], ""
    if kind == TriggerKind.STAGE_ENTERED:
        rows = StageTransition.objects.filter(to_stage=p["stage"], **between("moved_at"))
        return [found.stage_occurrence(r) for r in rows.values(
            "pk", "account_id", "from_stage", "to_stage", "moved_at", "reason")], ""  # fmt: skip
    if kind in {TriggerKind.MILESTONE_REACHED, TriggerKind.MILESTONE_OVERDUE}:
        field = "reached_at" if kind == TriggerKind.MILESTONE_REACHED else "overdue_at"
        rows = AccountMilestone.objects.filter(**between(field)).values(
            "pk", "account_id", "due_date", "reached_at", "overdue_at", "definition__name"
        )
        return [found.milestone_occurrence(r, kind) for r in rows], ""
    if kind in found.ESCALATION_TIME:
        rows = Escalation.objects.filter(**between(found.ESCALATION_TIME[kind])).values(
            "pk", "account_id", "title", "severity", "opened_at", "breached_at", "resolved_at",
            "response_due_at",
        )  # fmt: skip
        return [found.escalation_occurrence(r, kind) for r in rows], ""
    if kind == TriggerKind.NPS_DETRACTOR:
        rows = SurveyResponse.objects.filter(
            kind=SurveyKind.NPS, score__lte=p.get("max_score", 6), **between("responded_at")
        ).values(*found.SURVEY_FIELDS)
        return [found.survey_row_occurrence(r) for r in rows], ""
    if kind == TriggerKind.PRODUCT_EVENT:
        rows = Event.objects.filter(name=p["event_name"], **between("occurred_at"))
        return [found.event_row_occurrence(r) for r in rows.values(*found.EVENT_FIELDS)], ""
    if kind == TriggerKind.RENEWAL_WITHIN:
        return _renewal_history(p["days"], start.date(), end.date()), (
            "Renewals are replayed from today's renewal dates."
        )
    if kind == TriggerKind.TENURE_ANNIVERSARY:
        rows = Account.objects.filter(contract_start__lt=end.date()).values_list(
            "pk", "contract_start"
        )
        return [
            found.tenure_occurrence(pk, s, p["months"], day, tenure, _at(day))
            for pk, s in rows
            for day, tenure in found.tenure_checkpoints(s, p["months"], start.date(), end.date())
        ], ""
    if kind == TriggerKind.NO_ACTIVITY:
        return _quiet_history(p["days"], start.date(), end.date()), ""
    if kind == TriggerKind.SCORE_DROPPED:
        return _drop_history(p["points"], p["days"], start.date(), end.date()), ""
    if kind == TriggerKind.KEY_CONTACT_CHANGED:
        return _inactive_contact_history(p, start, end), (
            "Only inactivity can be replayed: who was a key contact in the past is not stored."
        )
    return [], "Segment entries cannot be replayed: past account attributes are not stored."


def _renewal_history(days, first: date, last: date):
    rows = Account.objects.filter(
        renewal_date__gte=first + timedelta(days=days),
        renewal_date__lte=last + timedelta(days=days),
    ).values_list("pk", "renewal_date")
    return [
        Occurrence(
            TriggerKind.RENEWAL_WITHIN,
            f"renewal:{pk}:{renewal}:{days}",
            pk,
            _at(renewal - timedelta(days=days)),
            f"renewal on {renewal} is {days} days away",
            {"days": days},
        )  # fmt: skip
        for pk, renewal in rows
    ]


def _quiet_history(days, first: date, last: date):
    """A quiet spell of more than ``days`` after an active day fires on its (days+1)th day."""
    active = defaultdict(list)
    for pk, day in (
        DailyAccountUsage.objects.filter(
            event_count__gt=0, date__gte=first - timedelta(days=days + 1), date__lte=last
        )
        .order_by("account_id", "date")
        .values_list("account_id", "date")
    ):
        active[pk].append(day)
    out = []
    for pk, dates in active.items():
        for before, after in zip(dates, [*dates[1:], None], strict=True):
            fires = before + timedelta(days=days + 1)
            if first <= fires <= last and (after is None or after > fires):
                out.append(
                    Occurrence(
                        TriggerKind.NO_ACTIVITY,
                        f"no_activity:{pk}:{before}:{days}",
                        pk,
                        _at(fires),
                        f"no product activity since {before}",
                        {"days": days},
                    )  # fmt: skip
                )
    return out


def _drop_history(points, days, first: date, last: date):
    series = defaultdict(dict)
    for pk, day, score in HealthSnapshot.objects.filter(
        date__gte=first - timedelta(days=days + 1), date__lte=last
    ).values_list("account_id", "date", "score"):
        series[pk][day] = score
    out = []
    for pk, history in series.items():
        for day in sorted(d for d in history if d >= first):
            drop = found.score_drop(history, day, history[day], points, days)
            if drop is None:
                continue
            yesterday = day - timedelta(days=1)
            if yesterday in history and found.score_drop(
                history, yesterday, history[yesterday], points, days
            ):
                continue
            out.append(
                found.score_drop_occurrence(pk, day, history[day], *drop, points, days, _at(day))
            )
    return out


def _inactive_contact_history(params, start, end):
    if KeyContactChange.INACTIVE not in params.get("changes", []):
        return []
    days = params["inactive_days"]
    rows = Contact.objects.filter(
        is_key_contact=True,
        last_seen_at__gte=start - timedelta(days=days),
        last_seen_at__lte=end - timedelta(days=days),
    ).values_list("pk", "account_id", "persona", "last_seen_at")
    return [
        Occurrence(
            TriggerKind.KEY_CONTACT_CHANGED,
            f"key_contact_inactive:{pk}:{seen:%Y%m%d}:{days}",
            account,
            seen + timedelta(days=days),
            f"key contact last seen on {seen:%Y-%m-%d}",
            {"change": KeyContactChange.INACTIVE, "days": days, "persona": persona},
        )  # fmt: skip
        for pk, account, persona, seen in rows
    ]


def _week(at: datetime) -> str:
    year, week, _ = timezone.localtime(at).isocalendar()
    return f"{year}-W{week:02d}"


def backtest(playbook, days: int, now: datetime | None = None) -> dict:
    """How many runs the playbook would have created per week over the last ``days`` days."""
    now = now or timezone.now()
    start = now - timedelta(days=days)
    occurrences, note = history(playbook, start, now)
    decisions = apply_cooldown(match(occurrences, [playbook]), {})
    weeks = {}
    day = start
    while day <= now + timedelta(days=7):
        if _week(day) <= _week(now):
            weeks.setdefault(_week(day), {"week": _week(day), "runs": 0, "suppressed": 0})
        day += timedelta(days=7)
    per_account = Counter()
    for _, occurrence, suppressed in decisions:
        row = weeks.setdefault(
            _week(occurrence.occurred_at),
            {"week": _week(occurrence.occurred_at), "runs": 0, "suppressed": 0},
        )
        row["suppressed" if suppressed else "runs"] += 1
        if not suppressed:
            per_account[occurrence.account_id] += 1
    names = dict(Account.objects.filter(pk__in=per_account).values_list("pk", "name"))
    return {
        "days": days,
        "start": start.date().isoformat(),
        "end": now.date().isoformat(),
        "runs": sum(per_account.values()),
        "suppressed": sum(1 for *_, s in decisions if s),
        "weeks": sorted(weeks.values(), key=lambda w: w["week"]),
        "accounts": [
            {"id": pk, "name": names.get(pk, ""), "runs": n} for pk, n in per_account.most_common()
        ],
        "note": note,
    }
