"""Health reacts to what lower apps announce: new data means a rescore within seconds."""

import logging

from django.core.cache import cache
from django.dispatch import receiver

from accounts.signals import accounts_changed

log = logging.getLogger(__name__)

# One kick per second at most: a burst of ingest batches needs one drain, not one per batch.
KICK_KEY = "health:drain-kicked"


@receiver(accounts_changed, dispatch_uid="health-kick-drain")
def kick_drain(sender, account_ids, **kwargs):
    """Queue a drain now instead of waiting for the next beat tick (the marks are committed)."""
    from health.tasks import recompute_dirty_task

    if not cache.add(KICK_KEY, 1, timeout=1):
        return
    try:
        recompute_dirty_task.apply_async(retry=False)
    except Exception:  # the data is stored and marked; beat drains it within seconds anyway
        log.warning("Could not queue a health recompute; beat will pick it up", exc_info=True)
