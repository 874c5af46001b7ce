"""Celery tasks of the playbooks app: thin wrappers that take ids and call the domain modules."""

from celery import shared_task
from django.utils import timezone

from playbooks import scans
from playbooks.actions import run_attempt
from playbooks.models import RunAction


@shared_task
def evaluate_announced_task(source: str, ids: list[int]) -> int:
    """Occurrences announced by a lower app (health changes, stage moves, ...): runs fired."""
    return len(scans.evaluate_announced(source, ids).fired)


@shared_task
def scan_new_rows_task(account_ids: list[int] | None = None) -> int:
    """New NPS answers and product events, and key-contact changes of these accounts."""
    return len(scans.scan_new_rows(timezone.now(), account_ids).fired)


@shared_task
def scan_time_triggers_task() -> int:
    """Renewals near, no activity, tenure, score drops, key contacts, segments, catch-up."""
    return len(scans.scan_time_triggers(timezone.now()).fired)


@shared_task(bind=True, acks_late=True, max_retries=None)
def execute_action_task(self, action_id: int, manual: bool = False) -> str:
    """One attempt of a run's action; failures retry with exponential backoff."""
    outcome = run_attempt(action_id, manual=manual)
    if outcome.first:
        queue_next_action(action_id)
    if outcome.retry_in is not None:
        raise self.retry(args=(action_id,), kwargs={}, countdown=outcome.retry_in)
    return "ran" if outcome.ran else "skipped"


def queue_next_action(action_id: int) -> None:
    """Actions run in order: the next one starts once this one has had its first attempt."""
    current = RunAction.objects.filter(pk=action_id).values("run_id", "position").first()
    following = RunAction.objects.filter(
        run_id=current["run_id"], position=current["position"] + 1
    ).values_list("pk", flat=True)
    for pk in following:
        execute_action_task.delay(pk)
