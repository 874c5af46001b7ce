"""Two clients sending the same new data at the same moment: no 500, nothing counted twice."""

import threading

import pytest
from django.db import connection

from accounts.ingest import ingest_messages
from accounts.models import Account, DailyAccountUsage, Event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _batch(prefix):
    return [
        {"type": "group", "messageId": f"{prefix}-g", "groupId": "new-co",
         "traits": {"name": "New"}},
        {"type": "identify", "messageId": f"{prefix}-i", "userId": "new-user",
         "context": {"groupId": "new-co"}, "traits": {"persona": "admin"}},
    ] + [
        {"type": "track", "messageId": f"{prefix}-t{n}", "event": "login", "userId": "new-user",
         "context": {"groupId": "new-co"}, "timestamp": "2026-03-02T10:00:00Z"}
        for n in range(50)
    ]  # fmt: skip


def _run_together(batches):
    barrier, outcomes = threading.Barrier(len(batches)), []

    def send(batch):
        try:
            barrier.wait()
            outcomes.append(ingest_messages(batch))
        except Exception as exc:  # noqa: BLE001 (reported below)
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_the_same_batch_twice_at_once_is_stored_once():
    outcomes = _run_together([_batch("same"), _batch("same")])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    statuses = sorted(r.status for outcome in outcomes for r in outcome if r.type == "track")
    assert statuses.count("accepted") == 50 and statuses.count("duplicate") == 50
    assert Account.objects.filter(external_id="new-co").count() == 1
    assert Event.objects.count() == 50


def test_two_different_batches_for_one_account_day_add_up():
    outcomes = _run_together([_batch("one"), _batch("two")])
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert Event.objects.count() == 100
    assert DailyAccountUsage.objects.get().event_count == 100
