"""Learning from churn as a background job: the builder's button queues a run, a worker fits.

A fit reads a year of behaviour (about a minute at 10,000 accounts, bench/README.md), too
long to hold a web request. The run's row carries the request: the task sent after commit
only starts it at once. The scheduler's sweep (``resume_learning``, every minute) starts a
run whose message was lost (the broker was down at the click) and fails, saying why, a run
whose worker died mid-fit, so no run stays queued or running for good. A run is claimed
from queued to running in one UPDATE, so a redelivered message or the sweep never fits it
twice.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from health import learning
from health.drafts import learn_scorecard
from health.models import LearningRun, Scorecard

logger = logging.getLogger(__name__)

QUEUED_GRACE = timedelta(seconds=30)  # a message sent after commit starts a run well within
RUNNING_LIMIT = timedelta(minutes=30)  # 30 times the fit at 10,000 accounts
INTERNAL_ERROR = "The fit stopped on an internal error; the worker's log has the details."
WORKER_LOST = (
    "The worker stopped during the fit (restarted or killed) and nothing was stored; learn again."
)


def request_learning(
    scorecard: Scorecard,
    as_of: date,
    *,
    window: int,
    red_share: float,
    yellow_share: float,
    by=None,
    today: date | None = None,
) -> LearningRun:
    """Queue a fit; inputs that cannot work are refused now (``learning.LearningError``)."""
    learning.check_inputs(as_of, today or timezone.now().date(), window, red_share, yellow_share)
    run = LearningRun.objects.create(
        scorecard=scorecard,
        as_of=as_of,
        window_days=window,
        red_share=red_share,
        yellow_share=yellow_share,
        requested_by=by,
    )
    transaction.on_commit(lambda: _send(run.pk))
    return run


def _send(run_id: int) -> None:
    from health.tasks import learn_scorecard_task  # the tasks module imports this one

    try:
        learn_scorecard_task.delay(run_id)
    except Exception:  # the broker is down: the sweep starts the run once it is back
        logger.warning("learning run %s not announced; the sweep will start it", run_id)


def run_learning(run_id: int) -> LearningRun | None:
    """Fit a queued run and store the draft or the reason; None when it was not queued."""
    now = timezone.now()
    claimed = LearningRun.objects.filter(pk=run_id, status=LearningRun.Status.QUEUED).update(
        status=LearningRun.Status.RUNNING, started_at=now
    )
    if not claimed:
        return None
    run = LearningRun.objects.select_related("scorecard", "requested_by").get(pk=run_id)
    outcome = {"status": LearningRun.Status.DONE}
    try:
        outcome["learned"] = learn_scorecard(
            run.scorecard,
            run.as_of,
            window=run.window_days,
            red_share=run.red_share,
            yellow_share=run.yellow_share,
            by=run.requested_by,
        )
    except learning.LearningError as exc:
        outcome = {"status": LearningRun.Status.FAILED, "error_field": exc.field, "error": str(exc)}
    except Exception:
        logger.exception("learning run %s failed", run_id)
        outcome = {"status": LearningRun.Status.FAILED, "error": INTERNAL_ERROR}
    for name, value in outcome.items():
        setattr(run, name, value)
    run.finished_at = timezone.now()
    run.save(update_fields=[*outcome, "finished_at"])
    return run


def resume_learning(now=None) -> dict:
    """Fail runs whose worker died, start runs whose message never came (one at a time)."""
    now = now or timezone.now()
    lost = LearningRun.objects.filter(
        status=LearningRun.Status.RUNNING, started_at__lt=now - RUNNING_LIMIT
    ).update(status=LearningRun.Status.FAILED, error=WORKER_LOST, finished_at=now)
    waiting = list(
        LearningRun.objects.filter(
            status=LearningRun.Status.QUEUED, created_at__lt=now - QUEUED_GRACE
        )
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    started = sum(run_learning(pk) is not None for pk in waiting)
    return {"failed_lost": lost, "started": started}
