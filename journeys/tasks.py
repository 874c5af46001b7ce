"""Celery tasks of the journeys app: thin wrappers over the domain modules."""

from celery import shared_task

from journeys.escalations import detect_breaches


@shared_task
def detect_escalation_breaches_task() -> int:
    """Every minute: escalations past their response deadline without a response."""
    return len(detect_breaches())
