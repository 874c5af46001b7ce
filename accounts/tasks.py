"""Celery tasks of the accounts app: thin wrappers over accounts.usage, accounts.catalogue."""

from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts.catalogue import rebuild_event_catalogue, refresh_event_catalogue
from accounts.import_jobs import run_import
from accounts.models import ProcessedMessage
from accounts.usage import rebuild_daily_usage


@shared_task
def rebuild_usage_task(start: str, end: str, account_ids: list[int] | None = None) -> dict:
    """Rebuild roll-ups for ISO dates ``start``..``end``, optionally for some accounts only."""
    return rebuild_daily_usage(date.fromisoformat(start), date.fromisoformat(end), account_ids)


@shared_task
def rebuild_recent_usage_task(days: int = 2) -> dict:
    """Nightly reconciliation of the last ``days`` days (late events land in past days)."""
    today = timezone.now().date()
    return rebuild_daily_usage(today - timedelta(days=days - 1), today)


@shared_task(acks_late=True)
def run_import_task(job_id: int) -> str:
    """Import a CSV file confirmed in the dashboard."""
    return run_import(job_id).status


@shared_task
def prune_processed_messages_task() -> int:
    """Forget identify/group message ids older than PROCESSED_MESSAGE_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.PROCESSED_MESSAGE_DAYS)
    deleted, _ = ProcessedMessage.objects.filter(received_at__lt=cutoff).delete()
    return deleted


@shared_task
def refresh_event_catalogue_task() -> dict:
    """Count the events stored since the last run into the event catalogue (every few
    minutes; a run finding another one at work returns at once)."""
    return refresh_event_catalogue()


@shared_task
def rebuild_event_catalogue_task() -> dict:
    """Recount the event catalogue from every event (nightly, and after a backfill)."""
    return rebuild_event_catalogue()
