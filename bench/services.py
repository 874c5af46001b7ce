"""Processes and queues a benchmark borrows: a Celery worker, a private queue, an RSS probe.

Imported only after django.setup().
"""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.data import log

BASE_DIR = Path(__file__).resolve().parent.parent
WORKER_CONCURRENCY = 2  # as the Procfile's worker: prefork, two processes


def broker_is_redis() -> bool:
    from django.conf import settings

    return settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://"))


def discard_queue(queue: str) -> None:
    """Delete a queue and whatever messages are left in it (best effort: a warning if not)."""
    from celery import current_app
    from kombu import Exchange, Queue

    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            # Declared first: a virtual transport (Redis) deletes the bindings it knows of.
            bound = Queue(queue, Exchange(queue, type="direct"), routing_key=queue)(
                conn.default_channel
            )
            bound.declare()
            bound.delete()
    except Exception as exc:  # noqa: BLE001 (cleanup must not hide the benchmark's result)
        log(f"warning: could not delete the Celery queue {queue}: {exc}")


@contextlib.contextmanager
def private_queue(prefix: str = "bench"):
    """Tasks this process sends go to a queue of their own, deleted afterwards.

    A benchmark that writes scores announces colour changes, and the playbooks queue a task
    for them; on the default queue a developer's worker would run it against their own
    database, with ids from the bench database.
    """
    from celery import current_app

    queue = f"{prefix}-{uuid.uuid4().hex[:10]}"
    before = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    try:
        yield queue
    finally:
        current_app.conf.task_default_queue = before
        discard_queue(queue)


def rss_probe(target: str, *args: str, queue: str | None = None) -> dict:
    """Run ``module:function(*args)`` once in a fresh process (bench.rss); its max RSS."""
    env = dict(os.environ)
    if queue:
        env["CELERY_TASK_DEFAULT_QUEUE"] = queue
    completed = subprocess.run(
        [sys.executable, "-m", "bench.rss", target, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"python -m bench.rss {target} exited with {completed.returncode}:\n"
            f"{completed.stderr[-3000:]}"
        )
    return json.loads(completed.stdout.strip().splitlines()[-1])


class Worker:
    """``celery -A cs_platform worker`` on a private queue, against the bench database."""

    def __init__(self, queue: str, *, include: str = "bench.tasks"):
        self.queue = queue
        self.log = tempfile.NamedTemporaryFile(prefix="bench-worker-", suffix=".log")  # noqa: SIM115
        env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": queue}  # what it sends stays ours
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "cs_platform", "worker",
                "--pool=prefork", f"--concurrency={WORKER_CONCURRENCY}", "-Q", queue,
                "--include", include, "--loglevel=info", "--without-heartbeat",
                "--without-mingle", "--without-gossip", "-n", f"{queue}@%h",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"the Celery worker exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()  # warm shutdown: finishes the task at hand
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def wait_for(condition, *, timeout: float, interval: float = 0.01, check=None) -> float:
    """Poll ``condition()`` every ``interval`` s until true; the perf_counter time it was seen.

    ``check()`` runs between polls (e.g. to fail fast when the worker died).
    """
    deadline = time.perf_counter() + timeout
    while True:
        if condition():
            return time.perf_counter()
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError(f"not done within {timeout:.0f} s")
        if check is not None:
            check()
        time.sleep(interval)
