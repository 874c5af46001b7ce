"""Matching occurrences against playbooks and creating runs, exactly once, set-based.

``evaluate(occurrences)`` does a fixed number of queries for a batch whatever the number of
accounts: enabled playbooks of the kinds present (with owners and actions), one conditions
query per matched playbook, one cooldown lookup, one insert, one read-back and one insert of
run actions. A run is unique per (playbook, occurrence key): a second worker, a retried task
or a re-sent event inserts nothing.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from playbooks.choices import RunStatus
from playbooks.conditions import matching_account_ids, persona_matches
from playbooks.models import Playbook, PlaybookRun, RunAction
from playbooks.triggers import Occurrence, trigger_matches


@dataclass
class Evaluation:
    """What an evaluation did: runs created (fired), matches suppressed, repeats ignored."""

    fired: list[int] = field(default_factory=list)
    suppressed: int = 0
    repeated: int = 0
    matched: int = 0


def match(occurrences: Iterable[Occurrence], playbooks: list[Playbook]):
    """(playbook, occurrence) pairs whose trigger, persona and account conditions all hold.

    One conditions query per playbook that has candidates; none per account.
    """
    by_playbook = defaultdict(list)
    for occurrence in occurrences:
        for playbook in playbooks:
            if trigger_matches(playbook, occurrence) and persona_matches(
                playbook, occurrence.facts
            ):
                by_playbook[playbook].append(occurrence)
    pairs = []
    for playbook, candidates in by_playbook.items():
        accepted = matching_account_ids(playbook, {o.account_id for o in candidates})
        pairs += [(playbook, o) for o in candidates if o.account_id in accepted]
    return pairs


def apply_cooldown(pairs, last_fired: dict[tuple[int, int], datetime]):
    """Decide, in time order, which pairs fire and which the cooldown suppresses.

    ``last_fired`` maps (playbook id, account id) to the last run that fired; it is updated
    as pairs fire, so two occurrences in one batch respect the cooldown too. Pure: the
    backtest uses it on history.
    """
    decisions = []
    for playbook, occurrence in sorted(pairs, key=lambda p: (p[1].occurred_at, p[1].key)):
        pair_key = (playbook.pk, occurrence.account_id)
        last = last_fired.get(pair_key)
        suppressed = (
            playbook.cooldown_days > 0
            and last is not None
            and occurrence.occurred_at < last + timedelta(days=playbook.cooldown_days)
        )
        if not suppressed:
            last_fired[pair_key] = occurrence.occurred_at
        decisions.append((playbook, occurrence, suppressed))
    return decisions


def enabled_playbooks(kinds) -> list[Playbook]:
    return list(
        Playbook.objects.filter(enabled=True, trigger_kind__in=set(kinds)).prefetch_related(
            "owners", "actions"
        )
    )


def evaluate(
    occurrences: list[Occurrence], *, playbooks: list[Playbook] | None = None, dispatch=True
) -> Evaluation:
    """Create the runs these occurrences call for; queue their first actions after commit."""
    result = Evaluation()
    if not occurrences:
        return result
    if playbooks is None:
        playbooks = enabled_playbooks({o.kind for o in occurrences})
    pairs = match(occurrences, playbooks)
    result.matched = len(pairs)
    if not pairs:
        return result
    playbook_ids = sorted({p.pk for p, _ in pairs})
    account_ids = {o.account_id for _, o in pairs}
    claim = uuid.uuid4().hex
    now = timezone.now()
    with transaction.atomic():
        # Serialise evaluations per playbook so that cooldowns hold between workers too;
        # the unique constraint alone already guarantees one run per occurrence.
        list(
            Playbook.objects.select_for_update()
            .filter(pk__in=playbook_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        last_fired = {
            (row["playbook_id"], row["account_id"]): row["last"]
            for row in PlaybookRun.objects.filter(
                playbook_id__in=playbook_ids, account_id__in=account_ids
            )
            .exclude(status=RunStatus.SUPPRESSED)
            .values("playbook_id", "account_id")
            .annotate(last=Max("occurred_at"))
        }
        decisions = apply_cooldown(pairs, last_fired)
        PlaybookRun.objects.bulk_create(
            [
                PlaybookRun(
                    playbook=playbook,
                    account_id=o.account_id,
                    occurrence_key=o.key,
                    trigger_kind=o.kind,
                    occurred_at=o.occurred_at,
                    status=RunStatus.SUPPRESSED
                    if suppressed
                    else (RunStatus.QUEUED if playbook.actions.all() else RunStatus.SUCCEEDED),
                    explanation=o.explanation,
                    facts=o.facts,
                    claim=claim,
                    created_at=now,
                    finished_at=now if suppressed or not playbook.actions.all() else None,
                )
                for playbook, o, suppressed in decisions
            ],
            ignore_conflicts=True,
        )
        mine = list(
            PlaybookRun.objects.filter(
                playbook_id__in=playbook_ids,
                occurrence_key__in={o.key for _, o in pairs},
                claim=claim,
            ).values_list("pk", "playbook_id", "status")
        )
        result.repeated = len(decisions) - len(mine)
        result.suppressed = sum(1 for _, _, status in mine if status == RunStatus.SUPPRESSED)
        steps = {p.pk: list(p.actions.all()) for p in playbooks}
        fired = [(pk, pb) for pk, pb, status in mine if status != RunStatus.SUPPRESSED]
        result.fired = [pk for pk, _ in fired]
        RunAction.objects.bulk_create(
            [
                RunAction(run_id=pk, position=i, kind=step.kind, params=step.params)
                for pk, pb in fired
                for i, step in enumerate(steps[pb])
            ]
        )
        if dispatch and fired:
            run_ids = [pk for pk, pb in fired if steps[pb]]
            transaction.on_commit(lambda: start_runs(run_ids))
    return result


def start_runs(run_ids: list[int]) -> None:
    """Queue the first action of each run; each action queues the next when it has run once."""
    from playbooks.tasks import execute_action_task

    first = list(
        RunAction.objects.filter(run_id__in=run_ids, position=0).values_list("pk", flat=True)
    )
    if not first:
        return
    # One broker connection for the whole batch, not one round trip per run.
    with execute_action_task.app.producer_or_acquire() as producer:
        for action_id in first:
            execute_action_task.apply_async((action_id,), producer=producer)
