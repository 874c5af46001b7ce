"""Two workers evaluating at the same moment on PostgreSQL: no duplicate run, none lost."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from playbooks.engine import evaluate
from playbooks.models import PlaybookRun
from playbooks.occurrences import health_occurrences
from tests.factories import AccountFactory
from tests.playbooks.factories import T0, HealthChangeFactory, PlaybookFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _together(*batches):
    barrier, outcomes = threading.Barrier(len(batches)), []

    def work(change_ids):
        try:
            barrier.wait()
            outcomes.append(evaluate(health_occurrences(change_ids), dispatch=False))
        except Exception as exc:  # noqa: BLE001 (reported below)
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    return outcomes


def test_the_same_occurrences_evaluated_twice_at_once_make_one_run_each():
    PlaybookFactory(), PlaybookFactory()
    ids = [HealthChangeFactory(account=AccountFactory()).pk for _ in range(20)]
    outcomes = _together(ids, ids, ids)
    assert PlaybookRun.objects.count() == 40
    assert sum(len(o.fired) for o in outcomes) == 40


def test_the_cooldown_holds_between_two_workers():
    PlaybookFactory(cooldown_days=7)
    account = AccountFactory()
    first = HealthChangeFactory(account=account, changed_at=T0)
    second = HealthChangeFactory(account=account, changed_at=T0 + timedelta(hours=1))
    _together([first.pk], [second.pk])
    statuses = sorted(PlaybookRun.objects.values_list("status", flat=True))
    assert statuses in (["succeeded", "suppressed"], ["suppressed", "succeeded"])
