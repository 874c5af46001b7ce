"""Gathering occurrences from their sources and evaluating them in batches.

The entry points of tasks.py: what was announced, what rows are new, what the clock says.
Only the trigger kinds (and parameters) of enabled playbooks are looked for.
"""

from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from playbooks import occurrences as found
from playbooks.choices import KeyContactChange, TriggerKind
from playbooks.engine import Evaluation, enabled_playbooks, evaluate

ANNOUNCED = {
    "health": found.health_occurrences,
    "stage": found.stage_occurrences,
    TriggerKind.MILESTONE_REACHED: lambda ids: found.milestone_occurrences(
        ids, TriggerKind.MILESTONE_REACHED
    ),
    TriggerKind.MILESTONE_OVERDUE: lambda ids: found.milestone_occurrences(
        ids, TriggerKind.MILESTONE_OVERDUE
    ),
    **{
        kind: (lambda k: lambda ids: found.escalation_occurrences(ids, k))(kind)
        for kind in found.ESCALATION_TIME
    },
}


def evaluate_batches(occurrences, playbooks=None) -> Evaluation:
    """Evaluate in batches, so that one huge scan is many modest transactions."""
    total = Evaluation()
    unique = list({o.key: o for o in occurrences}.values())
    size = settings.PLAYBOOK_EVALUATION_BATCH
    for start in range(0, len(unique), size):
        _add(total, evaluate(unique[start : start + size], playbooks=playbooks))
    return total


def params_of(playbooks, kind, *names):
    values = set()
    for p in playbooks:
        if p.trigger_kind == kind:
            params = p.trigger_params
            values.add(
                tuple(params.get(n) for n in names) if len(names) > 1 else params.get(names[0])
            )
    return {v for v in values if v is not None}


def evaluate_announced(source: str, ids: list[int]) -> Evaluation:
    occurrences = ANNOUNCED[source](ids)
    result = evaluate_batches(occurrences)
    if source == "health":
        # A colour change is also the moment to look for a score drop on those accounts.
        playbooks = enabled_playbooks([TriggerKind.SCORE_DROPPED])
        wanted = params_of(playbooks, TriggerKind.SCORE_DROPPED, "points", "days")
        if wanted:
            accounts = {o.account_id for o in occurrences}
            drops = found.score_drop_occurrences(
                timezone.localdate(), wanted, timezone.now(), accounts
            )
            _add(result, evaluate_batches(drops, playbooks))
    return result


def _add(total: Evaluation, part: Evaluation) -> None:
    total.fired += part.fired
    total.suppressed += part.suppressed
    total.repeated += part.repeated
    total.matched += part.matched


def scan_new_rows(now: datetime, account_ids=None) -> Evaluation:
    playbooks = enabled_playbooks(
        [TriggerKind.NPS_DETRACTOR, TriggerKind.PRODUCT_EVENT, TriggerKind.KEY_CONTACT_CHANGED]
    )
    kinds = {p.trigger_kind for p in playbooks}
    occurrences = found.new_survey_occurrences(now, TriggerKind.NPS_DETRACTOR in kinds)
    occurrences += found.new_event_occurrences(
        now, params_of(playbooks, TriggerKind.PRODUCT_EVENT, "event_name")
    )
    if account_ids:
        # Contacts changed on these accounts: who left or replaced whom (inactivity is hourly).
        occurrences += found.key_contact_occurrences(now, set(), account_ids)
    return evaluate_batches(occurrences, playbooks)


RENEWAL, QUIET = TriggerKind.RENEWAL_WITHIN, TriggerKind.NO_ACTIVITY
TENURE = TriggerKind.TENURE_ANNIVERSARY


def scan_time_triggers(now: datetime) -> Evaluation:
    today = timezone.localdate(now)
    playbooks = enabled_playbooks([kind for kind, spec in _scanned()])
    by_kind = defaultdict(list)
    for playbook in playbooks:
        by_kind[playbook.trigger_kind].append(playbook)
    inactive = {
        p.trigger_params.get("inactive_days")
        for p in by_kind[TriggerKind.KEY_CONTACT_CHANGED]
        if KeyContactChange.INACTIVE in p.trigger_params.get("changes", [])
    } - {None}
    occurrences = [
        *found.renewal_occurrences(today, params_of(playbooks, RENEWAL, "days"), now),
        *found.no_activity_occurrences(today, params_of(playbooks, QUIET, "days"), now),
        *found.tenure_occurrences(today, params_of(playbooks, TENURE, "months"), now),
        *found.score_drop_occurrences(
            today, params_of(playbooks, TriggerKind.SCORE_DROPPED, "points", "days"), now
        ),
        *found.key_contact_occurrences(now, inactive),
        *found.segment_occurrences(by_kind[TriggerKind.SEGMENT_ENTERED], now),
    ]
    if by_kind[TriggerKind.MILESTONE_OVERDUE] or by_kind[TriggerKind.ESCALATION_BREACHED]:
        occurrences += found.catch_up_occurrences(now)
    result = evaluate_batches(occurrences, playbooks)
    _add(result, scan_new_rows(now))
    return result


def _scanned():
    from playbooks.triggers import TRIGGERS

    return [(kind, spec) for kind, spec in TRIGGERS.items() if spec.scanned]
