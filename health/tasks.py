"""Celery tasks of the health app: thin wrappers over health.scoring."""

from celery import shared_task
from django.utils import timezone

from health.learning_runs import resume_learning, run_learning
from health.models import HealthOverride
from health.scoring import drain_dirty, recompute_all

# Rounds per run: a flood of marks is worked off in one task instead of waiting for beat.
MAX_ROUNDS = 20


@shared_task
def recompute_dirty_task() -> dict:
    """Every few seconds (and right after new data): rescore the accounts marked dirty."""
    total = {"drained": 0, "scored": 0, "changes": 0}
    for _ in range(MAX_ROUNDS):
        result = drain_dirty()
        for key in total:
            total[key] += result[key]
        if not result["drained"]:
            break
    return total


@shared_task
def recompute_all_task() -> dict:
    """Nightly: rescore every active account and write the day's snapshot."""
    return recompute_all()


@shared_task
def end_expired_overrides_task() -> int:
    """Close overrides past their expiry, so the audit trail says when and why they ended."""
    now = timezone.now()
    return HealthOverride.objects.filter(ended_at__isnull=True, expires_at__lte=now).update(
        ended_at=now, end_reason="expired"
    )


@shared_task
def learn_scorecard_task(run_id: int) -> str:
    """Fit one queued "learn from churn" run (sent after the request commits)."""
    run = run_learning(run_id)
    return run.status if run else "not queued"


@shared_task
def resume_learning_task() -> dict:
    """Every minute: start runs whose message was lost, fail runs whose worker died."""
    return resume_learning()
