"""From an account's colour change to its playbook's task and signed webhook, through a real
Celery worker and Redis (issue 6: p95 under 2 s).

The setup starts ``celery -A cs_platform worker`` (prefork, 2 processes) on a private queue
against the bench database, a local HTTP receiver (``http.server`` on 127.0.0.1, in a thread of
this process) allowed through the SSRF guard by a ``WebhookAllowedHost`` row, and one enabled
playbook: health colour changed green -> yellow, no cooldown, two actions in order: create a task
for the owner, then POST a signed webhook to the receiver.

Each sample makes a colour change the way scoring does: ``health.scoring.write_scores`` (the
writer of ``recompute``) in a transaction, with the account's score from green to yellow; it
writes the current score, the day's snapshot and the ``HealthChange`` row, and on commit sends
``health_changed``, whose receiver queues ``evaluate_announced_task``. The clock starts in an
``on_commit`` callback registered first (so it runs right after the commit, before the
announcement) and stops (a) when the ``Task`` of the run exists (polled every 10 ms) and (b)
when the receiver got the webhook (the handler stamps the arrival; the body's HMAC-SHA256 is
checked against the endpoint's secret, and any bad signature fails the benchmark).

Floor: one round trip of a trivial task (``bench.tasks.touch``) through the same broker and
worker, as health_incremental_latency's. Subject and floor samples alternate.
"""

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import transaction

from accounts.choices import AccountStatus
from bench.data import log
from bench.registry import Case, Context, SkipBenchmark, benchmark
from bench.runner import percentile
from bench.services import (
    WORKER_CONCURRENCY,
    Worker,
    broker_is_redis,
    discard_queue,
    private_queue,
    wait_for,
)
from bench.tasks import create_probe_table, drop_probe_table, probe_written, touch
from health.choices import Color
from health.models import AccountHealth, HealthChange, HealthSnapshot
from health.scoring import AccountScore, recompute_all, write_scores
from playbooks.choices import ActionKind, TriggerKind
from playbooks.models import Playbook, PlaybookAction, PlaybookRun, Task, WebhookAllowedHost
from playbooks.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER

SAMPLES = 30
WARMUP = 3
POLL = 0.01
TIMEOUT = 60
TARGET_P95 = 2.0


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """What the receiver expects in the signature header: HMAC-SHA256 over "{timestamp}.{body}"
    (computed here independently of playbooks.webhooks.sign)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@dataclass
class Receiver:
    """A local webhook endpoint: records when each run's POST arrived and whether it was
    signed with ``secret``."""

    secret: str
    arrivals: dict = field(default_factory=dict)  # account id -> perf_counter of arrival
    bad: list = field(default_factory=list)  # why a request was refused
    verified: int = 0  # webhooks whose signature checked out
    received: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                timestamp = self.headers.get(TIMESTAMP_HEADER, "")
                signature = self.headers.get(SIGNATURE_HEADER, "")
                ok = bool(timestamp) and hmac.compare_digest(
                    signature, expected_signature(receiver.secret, timestamp, body)
                )
                try:
                    account = json.loads(body)["account"]["id"]
                except (ValueError, KeyError, TypeError):
                    account, ok = None, False
                with receiver.received:
                    if ok:
                        receiver.verified += 1
                        receiver.arrivals.setdefault(account, arrived)
                    else:
                        receiver.bad.append(f"bad signature or body: {body[:200]!r}")
                    receiver.received.notify_all()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def forget(self, account_id: int) -> None:
        with self.received:
            self.arrivals.pop(account_id, None)

    def wait(self, account_id: int, timeout: float) -> float:
        with self.received:
            if not self.received.wait_for(
                lambda: account_id in self.arrivals or self.bad, timeout=timeout
            ):
                raise TimeoutError(f"no webhook for account {account_id} within {timeout} s")
            if self.bad:
                raise RuntimeError(f"the receiver refused a webhook: {self.bad[0]}")
            return self.arrivals[account_id]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def yellow_score(health: AccountHealth) -> AccountScore:
    """The account's current score turned yellow, as scoring would hand it to write_scores."""
    return AccountScore(
        account_id=health.account_id,
        score=55.0,
        color=Color.YELLOW,
        components=health.components or [],
        movers=[],
        explanation="Yellow (55): bench playbook_latency",
        trend_7d=health.trend_7d,
        trend_30d=health.trend_30d,
        version=health.scorecard_version,
        previous_color=Color.GREEN,
        previous_score=health.score,
    )


@benchmark("playbook_latency")
def playbook_latency(ctx: Context) -> Case:
    from celery import current_app
    from django.conf import settings

    if not broker_is_redis():
        raise SkipBenchmark(
            "needs a real Redis broker (CELERY_BROKER_URL=redis://...); "
            f"the broker is {settings.CELERY_BROKER_URL.split(':', 1)[0]}://"
        )
    tag = f"bench-playbook-{uuid.uuid4().hex[:10]}"
    queue = tag
    if not AccountHealth.objects.exists():
        log("playbook_latency: no account is scored yet; recompute_all first")
        with private_queue("bench-playbook"):  # colour changes queue playbook tasks
            recompute_all(ctx.as_of)
    healths = list(
        AccountHealth.objects.filter(
            account__status=AccountStatus.ACTIVE, account__owner__isnull=False
        ).order_by("account_id")[: WARMUP + SAMPLES]
    )
    if not healths:
        raise SkipBenchmark("no scored active account with an owner (run health scoring first)")
    touched = [h.account_id for h in healths]
    snapshots = list(HealthSnapshot.objects.filter(account_id__in=touched, date=ctx.as_of))
    before_queue = current_app.conf.task_default_queue
    state = {"worker": None, "receiver": None, "playbook": None, "host": None, "changes": []}

    def teardown():
        current_app.conf.task_default_queue = before_queue
        if state["worker"] is not None:
            state["worker"].stop()
        discard_queue(queue)
        if state["receiver"] is not None:
            state["receiver"].stop()
        if state["playbook"] is not None:
            runs = PlaybookRun.objects.filter(playbook=state["playbook"])
            Task.objects.filter(created_by_run__in=runs).delete()
            state["playbook"].delete()  # its runs, their actions and attempts cascade
        if state["host"] is not None:
            state["host"].delete()
        HealthChange.objects.filter(pk__in=state["changes"]).delete()
        # The accounts' scores and the day's snapshots as they were.
        HealthSnapshot.objects.filter(account_id__in=touched, date=ctx.as_of).delete()
        HealthSnapshot.objects.bulk_create(snapshots)
        for health in healths:
            health.save()
        drop_probe_table()

    try:
        current_app.conf.task_default_queue = queue
        receiver = state["receiver"] = Receiver(secrets.token_urlsafe(24))
        url = receiver.start()
        if not WebhookAllowedHost.objects.filter(host="127.0.0.1").exists():
            state["host"] = WebhookAllowedHost.objects.create(host="127.0.0.1", note=tag)
        playbook = state["playbook"] = Playbook.objects.create(
            name=tag,
            enabled=True,
            trigger_kind=TriggerKind.HEALTH_COLOR_CHANGED,
            trigger_params={"from_colors": [Color.GREEN], "to_colors": [Color.YELLOW]},
            cooldown_days=0,  # every sample fires, even on an account used before
        )
        PlaybookAction.objects.create(
            playbook=playbook, position=0, kind=ActionKind.CREATE_TASK,
            params={"title": "Check in with {{ account.name }}", "due_in_days": 3},
        )  # fmt: skip
        PlaybookAction.objects.create(
            playbook=playbook, position=1, kind=ActionKind.WEBHOOK,
            params={"url": url, "secret": receiver.secret, "timeout_seconds": 5},
        )  # fmt: skip
        create_probe_table()
        worker = state["worker"] = Worker(queue)
        log(f"playbook_latency: waiting for the worker on queue {queue}")
        touch.apply_async(args=[f"{tag}-ready"], queue=queue)
        wait_for(lambda: probe_written(f"{tag}-ready"), timeout=120, interval=0.1,
                 check=worker.check)  # fmt: skip
    except BaseException:
        teardown()
        raise

    def subject_sample(index: int) -> tuple[float, float]:
        health = healths[index % len(healths)]
        receiver.forget(health.account_id)
        committed = []
        with transaction.atomic():
            transaction.on_commit(lambda: committed.append(time.perf_counter()))
            state["changes"] += write_scores([yellow_score(health)], ctx.as_of, live=True)
        change = state["changes"][-1]
        tasks = Task.objects.filter(
            created_by_run__playbook=playbook,
            created_by_run__occurrence_key=f"health:{change}",
        )
        try:
            task_seen = wait_for(tasks.exists, timeout=TIMEOUT, interval=POLL, check=worker.check)
            webhook_seen = receiver.wait(health.account_id, TIMEOUT)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; the worker's log ends:\n{worker.log_tail()}") from None
        return task_seen - committed[0], webhook_seen - committed[0]

    def floor_sample(index: int) -> float:
        marker = f"{tag}-touch-{index}"
        touch.apply_async(args=[marker], queue=queue)
        sent = time.perf_counter()
        done = wait_for(
            lambda: probe_written(marker), timeout=TIMEOUT, interval=POLL, check=worker.check
        )
        return done - sent

    def custom(repeat: int) -> dict:
        task_times, hook_times, floor_times = [], [], []
        for index in range(WARMUP + SAMPLES):
            floor_time = floor_sample(index)
            task_time, hook_time = subject_sample(index)
            if index >= WARMUP:
                floor_times.append(floor_time)
                task_times.append(task_time)
                hook_times.append(hook_time)
        done = [max(t, h) for t, h in zip(task_times, hook_times, strict=True)]
        p95, floor_p95 = percentile(done, 95), percentile(floor_times, 95)
        runs = PlaybookRun.objects.filter(playbook=playbook).count()
        return {
            "seconds": p95,
            "floor_seconds": floor_p95,
            "repeat": SAMPLES,
            "p50": round(percentile(done, 50), 4),
            "p95": round(p95, 4),
            "max": round(max(done), 4),
            "task_p50": round(percentile(task_times, 50), 4),
            "task_p95": round(percentile(task_times, 95), 4),
            "webhook_p50": round(percentile(hook_times, 50), 4),
            "webhook_p95": round(percentile(hook_times, 95), 4),
            "floor_p50": round(percentile(floor_times, 50), 4),
            "floor_p95": round(floor_p95, 4),
            "samples": SAMPLES,
            "runs": runs,
            "webhooks_verified": receiver.verified,
            "worker_concurrency": WORKER_CONCURRENCY,
            "target_p95": TARGET_P95,
            "p95_vs_target": round(p95 / TARGET_P95, 3),
            "meets_target": p95 < TARGET_P95,
        }

    return Case(custom=custom, teardown=teardown)
