"""Ingested data turns an account from green to yellow through the real worker and Redis."""

import time

import pytest
from celery import current_app

from accounts.choices import Persona
from health.models import AccountHealth, HealthChange
from health.scoring import recompute
from tests.factories import AccountFactory, ContactFactory, EventFactory
from tests.health.test_scoring import only_scorecard
from tests.integration.test_celery_worker import _read, worker  # noqa: F401  (fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tasks_to(worker):  # noqa: F811
    """Tasks this process sends (the drain kicked after commit) go to the test worker's queue."""
    queue, process, log = worker
    before = current_app.conf.task_default_queue
    current_app.conf.task_default_queue = queue
    yield worker
    current_app.conf.task_default_queue = before


def test_a_new_silent_admin_turns_the_account_yellow_through_the_worker(
    tasks_to, client, issue_token
):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.usage import rebuild_daily_usage

    queue, process, log = tasks_to
    only_scorecard(
        [("usage_frequency", 1, {"benchmarks": {"admin": 4, "champion": 0}, "zero_at": 0,
                                 "full_at": 100})]
    )  # fmt: skip
    account = AccountFactory(external_id="acme")
    admin = ContactFactory(account=account, persona=Persona.ADMIN)
    today = timezone.now()
    for weeks in range(4):
        EventFactory(account=account, contact=admin, occurred_at=today - timedelta(weeks=weeks))
    rebuild_daily_usage((today - timedelta(days=40)).date(), today.date())
    recompute([account.pk])
    assert AccountHealth.objects.get(account=account).color == "green"

    raw, _ = issue_token("ingest")
    batch = {
        "batch": [
            {"type": "identify", "userId": "new-admin", "messageId": "m-1",
             "traits": {"email": "new@acme.example", "persona": "admin", "groupId": "acme"}},
            {"type": "track", "userId": "new-admin", "event": "invite_sent", "messageId": "m-2",
             "context": {"groupId": "acme"}, "timestamp": (today - timedelta(days=40)).isoformat()},
        ]
    }  # fmt: skip
    response = client.post(
        "/v1/batch", batch, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 200, response.content

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        change = HealthChange.objects.filter(account=account, to_color="yellow").first()
        if change:
            break
        assert process.poll() is None, "the worker died:\n" + _read(log)
        time.sleep(0.2)
    else:
        pytest.fail("no HealthChange within 60 s:\n" + _read(log))
    assert change.from_color == "green" and not change.backfilled
    assert "1 of 2 admins" in change.explanation
    assert AccountHealth.objects.get(account=account).color == "yellow"
    assert "recompute_dirty_task" in _read(log)
