"""Where trigger occurrences come from, each with a stable key and a plain-words explanation.

Three sources, all set-based (a few queries per batch, never one per account):
- announced ids (health changes, stage moves, milestones, escalations) read in one query;
- new rows (NPS answers, product events) read past a cursor (ScanCursor), re-reading a margin
  of ids so a transaction that committed late is not skipped (keys make that harmless);
- states and dates found by the scheduler (renewal near, no activity, tenure, score drops,
  key contacts, segments), each occurrence keyed by what makes it that occurrence.
"""

import calendar
from collections import defaultdict
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.choices import AccountStatus, SurveyKind
from accounts.models import Account, Contact, Event, SurveyResponse
from health.models import AccountHealth, HealthChange, HealthSnapshot
from journeys.models import AccountMilestone, Escalation, StageTransition
from playbooks.choices import KeyContactChange, TriggerKind
from playbooks.conditions import segment_params_q
from playbooks.models import KnownKeyContact, ScanCursor, SegmentMember
from playbooks.triggers import Occurrence


def _when(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


# --- announced ids --------------------------------------------------------------------------


def health_occurrences(change_ids) -> list[Occurrence]:
    rows = HealthChange.objects.filter(pk__in=change_ids, backfilled=False).values(
        "pk", "account_id", "changed_at", "from_color", "to_color", "from_score", "to_score",
        "explanation",
    )  # fmt: skip
    return [health_occurrence(r) for r in rows]


def health_occurrence(r: dict) -> Occurrence:
    went = f"{r['from_color'] or 'unscored'} -> {r['to_color']}"
    return Occurrence(
        TriggerKind.HEALTH_COLOR_CHANGED,
        f"health:{r['pk']}",
        r["account_id"],
        r["changed_at"],
        f"health went {went} at {_when(r['changed_at'])}; {r['explanation']}",
        {
            "from_color": r["from_color"],
            "to_color": r["to_color"],
            "score": r["to_score"],
            "change_id": r["pk"],
        },
    )


def stage_occurrences(transition_ids) -> list[Occurrence]:
    rows = StageTransition.objects.filter(pk__in=transition_ids).values(
        "pk", "account_id", "from_stage", "to_stage", "moved_at", "reason"
    )
    return [stage_occurrence(r) for r in rows]


def stage_occurrence(r: dict) -> Occurrence:
    reason = f" ({r['reason']})" if r["reason"] else ""
    return Occurrence(
        TriggerKind.STAGE_ENTERED,
        f"stage:{r['pk']}",
        r["account_id"],
        r["moved_at"],
        f"entered {r['to_stage']} from {r['from_stage'] or 'nothing'} at "
        f"{_when(r['moved_at'])}{reason}",
        {"stage": r["to_stage"], "from_stage": r["from_stage"], "transition_id": r["pk"]},
    )


def milestone_occurrences(milestone_ids, kind: str) -> list[Occurrence]:
    rows = AccountMilestone.objects.filter(pk__in=milestone_ids).values(
        "pk", "account_id", "due_date", "reached_at", "overdue_at", "definition__name"
    )
    return [milestone_occurrence(r, kind) for r in rows if _milestone_time(r, kind)]


def _milestone_time(r, kind):
    return r["reached_at"] if kind == TriggerKind.MILESTONE_REACHED else r["overdue_at"]


def milestone_occurrence(r: dict, kind: str) -> Occurrence:
    at = _milestone_time(r, kind)
    name = r["definition__name"]
    if kind == TriggerKind.MILESTONE_REACHED:
        text = f"milestone “{name}” reached at {_when(at)} (due {r['due_date']:%Y-%m-%d})"
    else:
        text = f"milestone “{name}” was due on {r['due_date']:%Y-%m-%d} and is not reached"
    return Occurrence(kind, f"{kind}:{r['pk']}", r["account_id"], at, text, {"milestone": name})


ESCALATION_TIME = {
    TriggerKind.ESCALATION_OPENED: "opened_at",
    TriggerKind.ESCALATION_BREACHED: "breached_at",
    TriggerKind.ESCALATION_RESOLVED: "resolved_at",
}


def escalation_occurrences(escalation_ids, kind: str) -> list[Occurrence]:
    rows = Escalation.objects.filter(pk__in=escalation_ids).values(
        "pk", "account_id", "title", "severity", "opened_at", "breached_at", "resolved_at",
        "response_due_at",
    )  # fmt: skip
    return [escalation_occurrence(r, kind) for r in rows if r[ESCALATION_TIME[kind]]]


def escalation_occurrence(r: dict, kind: str) -> Occurrence:
    at = r[ESCALATION_TIME[kind]]
    verb = {
        TriggerKind.ESCALATION_OPENED: "opened",
        TriggerKind.ESCALATION_BREACHED: "passed its response deadline without a response",
        TriggerKind.ESCALATION_RESOLVED: "was resolved",
    }[kind]
    return Occurrence(
        kind,
        f"{kind}:{r['pk']}",
        r["account_id"],
        at,
        f"{r['severity']} escalation “{r['title']}” {verb} at {_when(at)}",
        {"severity": r["severity"], "escalation_id": r["pk"]},
    )


def catch_up_occurrences(now: datetime) -> list[Occurrence]:
    """Overdue milestones and breached escalations of the last days, in case a signal was lost."""
    since = now - timedelta(days=settings.PLAYBOOK_CATCH_UP_DAYS)
    milestones = AccountMilestone.objects.filter(overdue_at__gte=since, reached_at__isnull=True)
    breaches = Escalation.objects.filter(breached_at__gte=since)
    return milestone_occurrences(
        milestones.values_list("pk", flat=True), TriggerKind.MILESTONE_OVERDUE
    ) + escalation_occurrences(
        breaches.values_list("pk", flat=True), TriggerKind.ESCALATION_BREACHED
    )


# --- new rows past a cursor ----------------------------------------------------------------


def _new_rows(name: str, model, queryset, time_field: str, now: datetime):
    """Rows of ``queryset`` added since the last read, and move the cursor."""
    cursor, _ = ScanCursor.objects.get_or_create(name=name)
    top = model.objects.aggregate(top=Max("pk"))["top"] or 0
    start = max(0, cursor.position - settings.PLAYBOOK_SCAN_ID_OVERLAP)
    max_age = now - timedelta(days=settings.PLAYBOOK_CATCH_UP_DAYS)
    rows = queryset.filter(pk__gt=start, pk__lte=top, **{f"{time_field}__gte": max_age})
    ScanCursor.objects.filter(name=name, position__lt=top).update(position=top)
    return rows


def _who(r: dict) -> str:
    name = r.get("contact__name") or r.get("contact__email") or "a contact"
    return f"{name} ({r['contact__persona']})" if r.get("contact__persona") else name


def survey_row_occurrence(r: dict) -> Occurrence:
    comment = f": “{r['comment'][:120]}”" if r["comment"] else ""
    return Occurrence(
        TriggerKind.NPS_DETRACTOR,
        f"nps:{r['pk']}",
        r["account_id"],
        r["responded_at"],
        f"NPS {r['score']} from {_who(r)} on {_when(r['responded_at'])}{comment}",
        {"score": r["score"], "persona": r["contact__persona"], "contact_id": r["contact_id"]},
    )


SURVEY_FIELDS = (
    "pk", "account_id", "score", "comment", "responded_at", "contact_id", "contact__name",
    "contact__email", "contact__persona",
)  # fmt: skip
EVENT_FIELDS = (
    "pk", "account_id", "name", "occurred_at", "contact_id", "contact__name", "contact__email",
    "contact__persona",
)  # fmt: skip


def new_survey_occurrences(now: datetime, wanted: bool) -> list[Occurrence]:
    detractors = SurveyResponse.objects.filter(kind=SurveyKind.NPS, score__lte=6)
    rows = _new_rows("surveys", SurveyResponse, detractors, "responded_at", now)
    return [survey_row_occurrence(r) for r in rows.values(*SURVEY_FIELDS)] if wanted else []


def event_row_occurrence(r: dict) -> Occurrence:
    return Occurrence(
        TriggerKind.PRODUCT_EVENT,
        f"event:{r['pk']}",
        r["account_id"],
        r["occurred_at"],
        f"{_who(r)} did {r['name']} at {_when(r['occurred_at'])}",
        {"event_name": r["name"], "persona": r["contact__persona"], "contact_id": r["contact_id"]},
    )


def new_event_occurrences(now: datetime, names: set[str]) -> list[Occurrence]:
    rows = _new_rows("events", Event, Event.objects.filter(name__in=names), "occurred_at", now)
    return [event_row_occurrence(r) for r in rows.values(*EVENT_FIELDS)] if names else []


# --- key contacts --------------------------------------------------------------------------


def key_contact_occurrences(
    now: datetime, inactive_days: set[int], account_ids=None
) -> list[Occurrence]:
    """Compare today's key contacts with the last scan's: who left, who replaced whom.

    Also key contacts not seen for N days. The first scan only records who is key.
    """
    scope = Q(account_id__in=list(account_ids)) if account_ids is not None else Q()
    fields = ("pk", "account_id", "name", "email", "persona", "last_seen_at")
    current = {
        r["pk"]: r
        for r in Contact.objects.filter(scope, is_key_contact=True, is_active=True).values(*fields)
    }
    known = {k.contact_id: k for k in KnownKeyContact.objects.filter(scope)}
    left_ids = set(known) - set(current)
    arrived = [r for pk, r in current.items() if pk not in known]
    left = {r["pk"]: r for r in Contact.objects.filter(pk__in=left_ids).values(*fields)}
    occurrences = []
    left_by_account = defaultdict(list)
    for pk in left_ids:
        k = known[pk]
        r = left.get(pk, {"pk": pk, "name": "", "email": "", "persona": ""})
        left_by_account[k.account_id].append(_name(r))
        occurrences.append(
            Occurrence(
                TriggerKind.KEY_CONTACT_CHANGED,
                f"key_contact_left:{pk}:{k.since:%Y%m%d%H%M%S}",
                k.account_id,
                now,
                f"key contact {_name(r)} is no longer an active key contact "
                f"(key since {k.since:%Y-%m-%d})",
                {"change": KeyContactChange.LEFT, "persona": r["persona"], "contact_id": pk},
            )
        )
    had_key = {k.account_id for k in known.values()}
    for r in arrived:
        if r["account_id"] not in had_key:
            continue
        before = left_by_account.get(r["account_id"])
        previous = f"replacing {', '.join(before)}" if before else "beside the existing ones"
        occurrences.append(
            Occurrence(
                TriggerKind.KEY_CONTACT_CHANGED,
                f"key_contact_replaced:{r['pk']}:{r['account_id']}",
                r["account_id"],
                now,
                f"{_name(r)} ({r['persona']}) became a key contact, {previous}",
                {
                    "change": KeyContactChange.REPLACED,
                    "persona": r["persona"],
                    "contact_id": r["pk"],
                },
            )
        )
    for days in inactive_days:
        cutoff = now - timedelta(days=days)
        for r in current.values():
            seen = r["last_seen_at"]
            if seen is not None and seen < cutoff:
                occurrences.append(
                    Occurrence(
                        TriggerKind.KEY_CONTACT_CHANGED,
                        f"key_contact_inactive:{r['pk']}:{seen:%Y%m%d}:{days}",
                        r["account_id"],
                        now,
                        f"key contact {_name(r)} ({r['persona']}) was last seen on "
                        f"{seen:%Y-%m-%d}, {(now - seen).days} days ago",
                        {
                            "change": KeyContactChange.INACTIVE,
                            "days": days,
                            "persona": r["persona"],
                            "contact_id": r["pk"],
                        },
                    )  # fmt: skip
                )
    with transaction.atomic():
        KnownKeyContact.objects.filter(contact_id__in=left_ids).delete()
        KnownKeyContact.objects.bulk_create(
            [
                KnownKeyContact(contact_id=r["pk"], account_id=r["account_id"], since=now)
                for r in arrived
            ],
            ignore_conflicts=True,
        )
    return occurrences


def _name(r: dict) -> str:
    return r.get("name") or r.get("email") or f"contact {r['pk']}"


# --- dates and states found by the scheduler ------------------------------------------------


def renewal_occurrences(today: date, windows: set[int], now: datetime) -> list[Occurrence]:
    if not windows:
        return []
    rows = Account.objects.filter(
        status=AccountStatus.ACTIVE,
        renewal_date__gte=today,
        renewal_date__lte=today + timedelta(days=max(windows)),
    ).values_list("pk", "renewal_date")
    return [
        Occurrence(
            TriggerKind.RENEWAL_WITHIN,
            f"renewal:{pk}:{renewal}:{days}",
            pk,
            now,
            f"renewal on {renewal} is {(renewal - today).days} days away (within {days})",
            {"days": days, "renewal_date": renewal.isoformat()},
        )
        for pk, renewal in rows
        for days in windows
        if (renewal - today).days <= days
    ]


def no_activity_occurrences(today: date, spans: set[int], now: datetime) -> list[Occurrence]:
    if not spans:
        return []
    shortest = min(spans)
    rows = (
        Account.objects.filter(status=AccountStatus.ACTIVE)
        .annotate(last=Max("daily_usage__date", filter=Q(daily_usage__event_count__gt=0)))
        .filter(
            Q(last__lt=today - timedelta(days=shortest))
            | Q(last__isnull=True, created_at__lt=now - timedelta(days=shortest))
        )
        .values_list("pk", "last", "created_at")
    )
    out = []
    for pk, last, created in rows:
        since = last or timezone.localdate(created)
        for days in spans:
            if (today - since).days > days:
                seen = f"last active on {last}" if last else f"no activity since {since}"
                out.append(
                    Occurrence(
                        TriggerKind.NO_ACTIVITY,
                        f"no_activity:{pk}:{last or 'never'}:{days}",
                        pk,
                        now,
                        f"no product activity for {(today - since).days} days ({seen}; "
                        f"threshold {days})",
                        {"days": days, "last_active": str(last or "")},
                    )
                )
    return out


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def tenure_checkpoints(start: date, months: int, first: date, last: date) -> list[tuple[date, int]]:
    """Every ``months`` since ``start``: the (date, months of tenure) falling in [first, last]."""
    out = []
    k = max(1, ((first.year - start.year) * 12 + first.month - start.month) // months - 1)
    while True:
        day = add_months(start, k * months)
        if day > last:
            return out
        if day >= first:
            out.append((day, k * months))
        k += 1


def tenure_occurrence(pk, start, months, day, tenure, at) -> Occurrence:
    years = f"{tenure // 12} years" if tenure % 12 == 0 else f"{tenure} months"
    return Occurrence(
        TriggerKind.TENURE_ANNIVERSARY,
        f"tenure:{pk}:{day}:{months}",
        pk,
        at,
        f"{years} since the contract started on {start} (checkpoint every {months} months)",
        {"months": months, "tenure_months": tenure},
    )


def tenure_occurrences(today: date, periods: set[int], now: datetime) -> list[Occurrence]:
    if not periods:
        return []
    first = today - timedelta(days=settings.PLAYBOOK_CATCH_UP_DAYS)
    rows = Account.objects.filter(
        status=AccountStatus.ACTIVE, contract_start__lt=today
    ).values_list("pk", "contract_start")
    return [
        tenure_occurrence(pk, start, months, day, tenure, now)
        for pk, start in rows
        for months in periods
        for day, tenure in tenure_checkpoints(start, months, first, today)
    ]


def score_drop(series: dict[date, float], day: date, current: float, points: int, days: int):
    """(peak, peak date) if ``current`` on ``day`` is >= points below the peak of the D days
    before it; else None."""
    window = [(s, d) for d, s in series.items() if day - timedelta(days=days) <= d < day]
    if not window:
        return None
    peak, peak_day = max(window)
    return (peak, peak_day) if peak - current >= points else None


def score_drop_occurrence(pk, day, current, peak, peak_day, points, days, at) -> Occurrence:
    return Occurrence(
        TriggerKind.SCORE_DROPPED,
        f"score_drop:{pk}:{day}:{points}:{days}",
        pk,
        at,
        f"health score fell {peak - current:.0f} points in {(day - peak_day).days} days, from "
        f"{peak:.0f} on {peak_day} to {current:.0f} (threshold {points} within {days} days)",
        {"points": points, "days": days, "drop": round(peak - current, 1)},
    )


def score_drop_occurrences(
    today: date, params: set[tuple[int, int]], now: datetime, account_ids=None
) -> list[Occurrence]:
    """Accounts whose score just started being N points below its D-day peak (not yesterday)."""
    if not params:
        return []
    longest = max(d for _, d in params)
    scope = Q(account_id__in=list(account_ids)) if account_ids is not None else Q()
    series = defaultdict(dict)
    for pk, day, score in HealthSnapshot.objects.filter(
        scope, date__gte=today - timedelta(days=longest + 1), date__lte=today
    ).values_list("account_id", "date", "score"):
        series[pk][day] = score
    current = dict(AccountHealth.objects.filter(scope).values_list("account_id", "score"))
    out = []
    yesterday = today - timedelta(days=1)
    for pk, score in current.items():
        history = series.get(pk, {})
        for points, days in params:
            drop = score_drop(history, today, score, points, days)
            if drop is None:
                continue
            before = history.get(yesterday)
            if before is not None and score_drop(history, yesterday, before, points, days):
                continue  # already down yesterday: the same drop, not a new one
            out.append(score_drop_occurrence(pk, today, score, *drop, points, days, now))
    return out


def segment_occurrences(playbooks, now: datetime) -> list[Occurrence]:
    """Accounts that entered each segment playbook's segment since the last scan.

    A playbook's first scan records the members it starts with, without firing.
    """
    out = []
    for playbook in playbooks:
        members = set(
            Account.objects.filter(
                segment_params_q(playbook.trigger_params), status=AccountStatus.ACTIVE
            ).values_list("pk", flat=True)
        )
        stored = set(
            SegmentMember.objects.filter(playbook=playbook).values_list("account_id", flat=True)
        )
        entered, gone = members - stored, stored - members
        with transaction.atomic():
            SegmentMember.objects.filter(playbook=playbook, account_id__in=gone).delete()
            SegmentMember.objects.bulk_create(
                [SegmentMember(playbook=playbook, account_id=a, since=now) for a in entered],
                ignore_conflicts=True,
            )
            if playbook.segment_baseline_at is None:
                playbook.segment_baseline_at = now
                playbook.save(update_fields=["segment_baseline_at"])
                continue
        out += [
            Occurrence(
                TriggerKind.SEGMENT_ENTERED,
                f"segment:{playbook.pk}:{a}:{now:%Y%m%d%H%M}",
                a,
                now,
                f"entered the segment of {playbook.name} ({playbook.trigger_summary()})",
                {"playbook_id": playbook.pk},
            )
            for a in sorted(entered)
        ]
    return out
