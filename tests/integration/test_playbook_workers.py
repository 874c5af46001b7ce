"""Two real Celery workers race on the same colour changes: one run per (playbook, change),
none lost, one task per run."""

import os
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from playbooks.models import PlaybookRun, Task
from playbooks.tasks import evaluate_announced_task
from tests.factories import AccountFactory, UserFactory
from tests.integration.test_celery_worker import REPO, _database_url
from tests.playbooks.factories import HealthChangeFactory, PlaybookActionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

CHANGES = 60
DUPLICATES = 6  # every change is announced this many times, spread over both workers


@pytest.fixture
def two_workers(tmp_path):
    queue = f"race-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CS_VAR_DIR": str(tmp_path),
    }
    workers = []
    for n in (1, 2):
        log = open(tmp_path / f"worker{n}.log", "w+")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "cs_platform", "worker", "--pool=solo",
             f"--hostname=race{n}@%h", "--loglevel=info", "-Q", queue, "--without-heartbeat",
             "--without-mingle", "--without-gossip", "--prefetch-multiplier=1"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        workers.append((process, log))
    yield queue, workers
    for process, log in workers:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _logs(workers) -> str:
    out = []
    for _, log in workers:
        log.seek(0)
        out.append(log.read()[-3000:])
    return "\n---\n".join(out)


def test_two_workers_create_each_run_exactly_once(two_workers):
    queue, workers = two_workers
    owner = UserFactory(username="owner")
    action = PlaybookActionFactory()
    playbook = action.playbook
    playbook.cooldown_days = 0  # only the occurrence key may stop a second run
    playbook.save()
    changes = [HealthChangeFactory(account=AccountFactory(owner=owner)) for _ in range(CHANGES)]
    ids = [c.pk for c in changes]

    # Overlapping batches: each change appears in DUPLICATES messages, consumed by either worker.
    for round_ in range(DUPLICATES):
        step = 7 + round_
        for start in range(0, CHANGES, step):
            evaluate_announced_task.apply_async(
                args=["health", ids[start : start + step]], queue=queue
            )

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if Task.objects.count() >= CHANGES and PlaybookRun.objects.count() >= CHANGES:
            time.sleep(1.5)  # let any straggling duplicate finish (and fail to double up)
            break
        for process, _ in workers:
            assert process.poll() is None, "a worker died:\n" + _logs(workers)
        time.sleep(0.3)
    else:
        pytest.fail(
            f"{PlaybookRun.objects.count()} runs / {Task.objects.count()} tasks after 90 s:\n"
            + _logs(workers)
        )

    runs = list(
        PlaybookRun.objects.filter(playbook=playbook).values_list("occurrence_key", flat=True)
    )
    assert len(runs) == CHANGES == len(set(runs))  # none lost, none twice
    assert Task.objects.count() == CHANGES
    assert Task.objects.values("account").distinct().count() == CHANGES
    both = [log for _, log in workers]
    handled = []
    for log in both:
        log.seek(0)
        handled.append(log.read().count("evaluate_announced_task"))
    assert all(handled), f"each worker should have taken part: {handled}"
