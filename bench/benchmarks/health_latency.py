"""From an event accepted to its account's new score, through a real Celery worker and Redis
(issue 5: p95 under 2 s).

The setup starts ``celery -A cs_platform worker`` (prefork, 2 processes, as the Procfile) on a
private queue against the bench database; this process sends its tasks to the same queue.
Each subject sample posts one Segment ``track`` message to ``/v1/track`` through
``django.test.Client`` in this process, outside any transaction, so the ingest commits, marks
the account dirty, and on commit ``health.receivers.kick_drain`` queues
``recompute_dirty_task``, as under gunicorn. The clock starts at the 200 response and stops
when the account's ``AccountHealth.computed_at`` is later than the request's start (polled
every 10 ms). Samples go to different accounts, more than 1.1 s apart: kick_drain queues at
most one drain a second.

Floor: the fixed cost of the same path, one round trip of a trivial task (``bench.tasks.touch``,
one committed INSERT) through the same broker and worker, timed the same way, from the send to
the row seen by the same polling. Subject and floor samples alternate.

``seconds`` and ``floor_seconds`` are the 95th percentiles; p50s, the slowest sample and the
number of samples are extra fields.
"""

import json
import random
import time
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.models import Contact, DirtyAccount
from accounts.usage import rebuild_daily_usage
from bench.data import log
from bench.registry import Case, Context, SkipBenchmark, benchmark
from bench.runner import percentile
from bench.services import (
    WORKER_CONCURRENCY,
    Worker,
    broker_is_redis,
    discard_queue,
    wait_for,
)
from bench.tasks import create_probe_table, drop_probe_table, probe_written, touch
from cs_platform.models import ApiToken, Scope
from health.models import AccountHealth
from health.scoring import drain_dirty

SAMPLES = 30  # timed samples of each side (--repeat does not change it)
WARMUP = 3  # untimed first samples of each: worker processes import and connect
KICK_SPACING = 1.1  # seconds between posts: kick_drain queues one drain a second at most
POLL = 0.01
TIMEOUT = 60
SEED = 5


def pick_people(count: int) -> list[tuple[int, str, int, str]]:
    """(contact id, userId, account id, groupId) of one active contact in each of ``count``
    active accounts, spread over the portfolio."""
    rows = (
        Contact.objects.filter(
            is_active=True, account__status=AccountStatus.ACTIVE, account__external_id__gt=""
        )
        .exclude(external_id="")
        .order_by("account_id", "id")
        .values_list("id", "external_id", "account_id", "account__external_id")
    )
    first_per_account = {}
    for row in rows:
        first_per_account.setdefault(row[2], row)
    people = list(first_per_account.values())
    if not people:
        raise RuntimeError("no active account with a contact to send events for")
    # Fewer accounts than samples (a tiny --size): accounts are reused, round robin.
    return random.Random(SEED).sample(people, min(count, len(people)))


def track_body(user_id: str, group_id: str, message_id: str) -> str:
    return json.dumps(
        {
            "type": "track",
            "userId": user_id,
            "event": "report_created",
            "messageId": message_id,
            "timestamp": timezone.now().isoformat(),
            "properties": {"source": "bench-latency"},
            "context": {"groupId": group_id, "library": {"name": "analytics-node"}},
        }
    )


@benchmark("health_incremental_latency")
def health_incremental_latency(ctx: Context) -> Case:
    from celery import current_app
    from django.conf import settings

    if not broker_is_redis():
        raise SkipBenchmark(
            "needs a real Redis broker (CELERY_BROKER_URL=redis://...); "
            f"the broker is {settings.CELERY_BROKER_URL.split(':', 1)[0]}://"
        )
    tag = f"bench-latency-{uuid.uuid4().hex[:10]}"
    queue = tag
    before_queue = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue  # what this process sends goes to our worker
    worker = None
    token = None
    people = pick_people(WARMUP + SAMPLES)
    touched_contacts = [p[0] for p in people]
    touched_accounts = sorted({p[2] for p in people})
    seen_before = {
        pk: (first, last)
        for pk, first, last in Contact.objects.filter(pk__in=touched_contacts).values_list(
            "id", "first_seen_at", "last_seen_at"
        )
    }

    def teardown():
        current_app.conf.task_default_queue = before_queue
        if worker is not None:
            worker.stop()
        discard_queue(queue)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM accounts_event WHERE message_id LIKE %s", [f"{tag}-%"])
        today = timezone.now().date()
        rebuild_daily_usage(today - timedelta(days=1), today, touched_accounts)
        for contact in Contact.objects.filter(pk__in=touched_contacts):
            contact.first_seen_at, contact.last_seen_at = seen_before[contact.pk]
            contact.save(update_fields=["first_seen_at", "last_seen_at"])
        DirtyAccount.objects.filter(account_id__in=touched_accounts).delete()
        if token is not None:
            token.delete()
        drop_probe_table()

    try:
        # Marks left from data generation would make the first drains rescore everyone.
        while drain_dirty()["drained"]:
            pass
        create_probe_table()
        admin = get_user_model().objects.get(username="admin")
        token, raw = ApiToken.issue(
            admin, f"bench {tag}", [Scope.INGEST], rate_limit_per_minute=100_000_000
        )
        worker = Worker(queue)
        log(f"health_incremental_latency: waiting for the worker on queue {queue}")
        touch.apply_async(args=[f"{tag}-ready"], queue=queue)
        wait_for(lambda: probe_written(f"{tag}-ready"), timeout=120, interval=0.1,
                 check=worker.check)  # fmt: skip
    except BaseException:
        teardown()
        raise

    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    last_post = [0.0]

    def subject_sample(index: int) -> float:
        contact_id, user_id, account_id, group_id = people[index % len(people)]
        wait = last_post[0] + KICK_SPACING - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        started = timezone.now()
        response = client.post(
            "/v1/track",
            data=track_body(user_id, group_id, f"{tag}-{index}"),
            content_type="application/json",
            **headers,
        )
        accepted = last_post[0] = time.perf_counter()
        if response.status_code != 200 or response.json().get("accepted") != 1:
            raise RuntimeError(
                f"POST /v1/track answered {response.status_code}: {response.content[:500]!r}"
            )
        fresh = AccountHealth.objects.filter(account_id=account_id, computed_at__gt=started)
        try:
            done = wait_for(fresh.exists, timeout=TIMEOUT, interval=POLL, check=worker.check)
        except TimeoutError:
            raise RuntimeError(
                f"account {account_id} was not rescored within {TIMEOUT} s of its event; "
                f"the worker's log ends:\n{worker.log_tail()}"
            ) from None
        return done - accepted

    def floor_sample(index: int) -> float:
        marker = f"{tag}-touch-{index}"
        touch.apply_async(args=[marker], queue=queue)
        sent = time.perf_counter()
        try:
            done = wait_for(
                lambda: probe_written(marker), timeout=TIMEOUT, interval=POLL, check=worker.check
            )
        except TimeoutError:
            raise RuntimeError(
                f"the trivial task did not run within {TIMEOUT} s; the worker's log ends:\n"
                f"{worker.log_tail()}"
            ) from None
        return done - sent

    def custom(repeat: int) -> dict:
        samples = SAMPLES
        subject_times, floor_times = [], []
        for index in range(WARMUP + samples):
            floor_time = floor_sample(index)
            subject_time = subject_sample(index)
            if index >= WARMUP:
                floor_times.append(floor_time)
                subject_times.append(subject_time)
        p95, floor_p95 = percentile(subject_times, 95), percentile(floor_times, 95)
        return {
            "seconds": p95,
            "floor_seconds": floor_p95,
            "repeat": samples,
            "p50": round(percentile(subject_times, 50), 4),
            "p95": round(p95, 4),
            "max": round(max(subject_times), 4),
            "floor_p50": round(percentile(floor_times, 50), 4),
            "floor_p95": round(floor_p95, 4),
            "samples": samples,
            "worker_concurrency": WORKER_CONCURRENCY,
        }

    return Case(custom=custom, teardown=teardown)
