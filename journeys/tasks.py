"""Celery tasks of the journeys app: thin wrappers over the domain modules."""

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from journeys.escalations import detect_breaches
from journeys.milestones import assign_milestones, evaluate_milestones
from journeys.stages import apply_renewal_windows
from journeys.tenure import record_checkpoints


@shared_task
def detect_escalation_breaches_task() -> int:
    """Every minute: escalations past their response deadline without a response."""
    return len(detect_breaches())


@shared_task
def apply_renewal_windows_task() -> int:
    """Hourly: accounts entering their renewal window, and renewed ones leaving it."""
    return apply_renewal_windows(timezone.localdate(), settings.RENEWAL_WINDOW_DAYS)


@shared_task
def evaluate_milestones_task() -> dict:
    """Every few minutes: assign templates to new accounts, then reach / flag milestones."""
    assign_milestones()
    return evaluate_milestones()


@shared_task
def record_tenure_checkpoints_task() -> int:
    """Daily: mature accounts reaching a multiple of TENURE_CHECKPOINT_YEARS today."""
    return len(record_checkpoints(timezone.localdate(), settings.TENURE_CHECKPOINT_YEARS))
