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


def test_overlapping_batches_at_once_count_people_and_features_as_a_rebuild_does():
    from datetime import date

    from accounts.models import DailyContactUsage, DailyFeatureUsage
    from accounts.usage import rebuild_daily_usage
    from tests.factories import AccountFactory, ContactFactory

    accounts = [AccountFactory(external_id=f"co-{n}") for n in range(3)]
    people = [ContactFactory(account=a, external_id=f"{a.external_id}-p{n}") for a in accounts
              for n in range(4)]  # fmt: skip

    def batch(thread, round_):
        # Each batch touches every account-day, in its own order: rows locked in different
        # orders would deadlock; counts added without care would be lost or doubled.
        messages = []
        for n in range(40):
            person = people[(n * (thread + 1) + round_) % len(people)]
            messages.append(
                {"type": "track", "messageId": f"t{thread}-r{round_}-{n}",
                 "event": f"feature_{(n + thread) % 5}", "userId": person.external_id,
                 "context": {"groupId": person.account.external_id},
                 "timestamp": f"2026-03-0{1 + (n + round_) % 3}T10:{n:02d}:00Z"}
            )  # fmt: skip
        return messages

    for round_ in range(3):
        outcomes = _run_together([batch(thread, round_) for thread in range(4)])
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert {r.status for outcome in outcomes for r in outcome} == {"accepted"}
    assert Event.objects.count() == 4 * 3 * 40

    def rollups():
        return (
            sorted(DailyAccountUsage.objects.values_list(
                "account_id", "date", "event_count", "active_contacts", "distinct_events")),
            sorted(DailyContactUsage.objects.values_list("contact_id", "date", "event_count")),
            sorted(DailyFeatureUsage.objects.values_list("account_id", "date", "name",
                                                         "event_count")),
        )  # fmt: skip

    added = rollups()
    rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 3))
    assert rollups() == added


def _real_deadlock_error():
    """The error PostgreSQL raises on a deadlock, as Django wraps it: two sessions each
    holding a row the other wants."""
    import psycopg2

    params = connection.get_connection_params()
    first, second = psycopg2.connect(**params), psycopg2.connect(**params)
    try:
        setup = psycopg2.connect(**params)
        setup.autocommit = True
        setup.cursor().execute("CREATE TABLE IF NOT EXISTS deadlock_probe (id int PRIMARY KEY)")
        setup.cursor().execute("INSERT INTO deadlock_probe VALUES (1), (2) ON CONFLICT DO NOTHING")
        first.cursor().execute("UPDATE deadlock_probe SET id = id WHERE id = 1")
        second.cursor().execute("UPDATE deadlock_probe SET id = id WHERE id = 2")
        caught = []

        def cross(conn, row):
            try:
                conn.cursor().execute("UPDATE deadlock_probe SET id = id WHERE id = %s", [row])
            except psycopg2.Error as exc:
                caught.append(exc)
                conn.rollback()

        threads = [threading.Thread(target=cross, args=(first, 2)),
                   threading.Thread(target=cross, args=(second, 1))]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        first.rollback()  # the survivor still holds both rows
        second.rollback()
        setup.cursor().execute("DROP TABLE deadlock_probe")
        setup.close()
        assert len(caught) == 1 and caught[0].pgcode == "40P01"
        try:
            with connection.wrap_database_errors:
                raise caught[0]
        except Exception as wrapped:  # noqa: BLE001 (Django's OperationalError)
            return wrapped
    finally:
        first.close()
        second.close()


def test_a_batch_that_lost_a_deadlock_is_stored_on_the_next_attempt(monkeypatch):
    from accounts import ingest

    error = _real_deadlock_error()
    real_store, calls = ingest._store, []

    def store(*args):
        calls.append(1)
        if len(calls) == 1:
            raise error
        return real_store(*args)

    monkeypatch.setattr(ingest, "_store", store)
    results = ingest_messages(_batch("retry"))
    assert len(calls) == 2
    assert {r.status for r in results} == {"accepted"}
    assert Event.objects.count() == 50
