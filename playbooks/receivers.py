"""Thin receivers: every announcement becomes a Celery task with ids (signals arrive after
commit, so the rows are there for the worker)."""

import logging

from accounts.signals import accounts_changed
from health.signals import health_changed
from journeys import signals as journey
from playbooks.choices import TriggerKind

log = logging.getLogger(__name__)


def _queue(source: str, ids) -> None:
    from playbooks.tasks import evaluate_announced_task

    ids = sorted({int(i) for i in ids})
    if ids:
        _send(evaluate_announced_task, str(source), ids)


def _send(task, *args) -> None:
    # The sender has committed: a broker outage must not turn its request into an error.
    # Time-based scans catch up on overdue milestones and breaches; the rest is logged.
    try:
        task.delay(*args)
    except Exception:  # noqa: BLE001
        log.exception("Could not queue %s%r", task.name, args)


def on_health_changed(sender, change_ids, **kwargs):
    _queue("health", change_ids)


def on_stage_entered(sender, account_id, transition, **kwargs):
    _queue("stage", [transition.pk])


def _ids_receiver(kind: str, argument: str):
    """A receiver for signals that carry a list of ids (escalation_ids, milestone_ids)."""

    def receive(sender, **kwargs):
        _queue(kind, kwargs[argument])

    return receive


def on_accounts_changed(sender, account_ids, **kwargs):
    from playbooks.tasks import scan_new_rows_task

    _send(scan_new_rows_task, sorted(account_ids))


RECEIVERS = [
    (health_changed, on_health_changed),
    (journey.stage_entered, on_stage_entered),
    (journey.escalation_opened, _ids_receiver(TriggerKind.ESCALATION_OPENED, "escalation_ids")),
    (journey.escalation_breached, _ids_receiver(TriggerKind.ESCALATION_BREACHED, "escalation_ids")),
    (journey.escalation_resolved, _ids_receiver(TriggerKind.ESCALATION_RESOLVED, "escalation_ids")),
    (journey.milestone_reached, _ids_receiver(TriggerKind.MILESTONE_REACHED, "milestone_ids")),
    (journey.milestone_overdue, _ids_receiver(TriggerKind.MILESTONE_OVERDUE, "milestone_ids")),
    (accounts_changed, on_accounts_changed),
]


def connect() -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"playbooks.{receiver.__qualname__}.{id(receiver)}")
