"""A real Celery worker process, on the real Redis broker, writes to the real PostgreSQL."""

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import DailyAccountUsage
from accounts.tasks import rebuild_usage_task
from tests.factories import AccountFactory, ContactFactory, EventFactory

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    """The URL of the database this test session really uses (pytest-django's test_ copy).
    The embedded server's host is a socket folder, which a URL carries percent-encoded."""
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    """Start `celery worker` on a queue of its own, so no other worker takes our task."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,  # what the worker sends itself stays ours too
        "CS_VAR_DIR": str(tmp_path),
    }
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cs_platform", "worker", "--pool=solo",
         "--loglevel=info", "-Q", queue, "--without-heartbeat", "--without-mingle",
         "--without-gossip"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield queue, process, log
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_a_worker_rebuilds_usage_rollups_sent_through_redis(worker):
    queue, process, log = worker
    assert connection.vendor == "postgresql"
    account = AccountFactory()
    contact = ContactFactory(account=account)
    for hour in (9, 10, 11):
        EventFactory(
            account=account, contact=contact, occurred_at=datetime(2026, 3, 2, hour, tzinfo=UTC)
        )

    rebuild_usage_task.apply_async(args=["2026-03-01", "2026-03-03", [account.pk]], queue=queue)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = DailyAccountUsage.objects.filter(account=account, date=date(2026, 3, 2)).first()
        if row:
            break
        assert process.poll() is None, "the worker died:\n" + _read(log)
        time.sleep(0.3)
    else:
        pytest.fail("the worker did not write the roll-up within 60 s:\n" + _read(log))
    assert (row.event_count, row.active_contacts) == (3, 1)
    assert "rebuild_usage_task" in _read(log)


def _read(log) -> str:
    log.seek(0)
    return log.read()
