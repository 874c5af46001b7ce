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

    _assert_rollups_match_a_rebuild()


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


# --- many clients, overlapping batches: no deadlock ----------------------------------------
# Issue 14: several clients posting /v1/batch for the same accounts and users got 500s from
# PostgreSQL deadlocks. The retry in ingest_messages hides some of them; these tests turn it
# off for deadlocks and also read PostgreSQL's own count, so any deadlock fails them.

CLIENTS, ROUNDS = 4, 6


@pytest.fixture
def deadlocks(monkeypatch):
    """Deadlocks the ingest saw, which it does not retry here (a deadlock fails the batch)."""
    from accounts import ingest

    seen, may_retry = [], ingest._may_retry

    def no_retry_on_deadlock(exc):
        if getattr(exc.__cause__, "pgcode", None) == "40P01":
            seen.append(exc)
            return False
        return may_retry(exc)

    monkeypatch.setattr(ingest, "_may_retry", no_retry_on_deadlock)
    before = _server_deadlocks()
    yield seen
    assert _server_deadlocks() - before == 0, "PostgreSQL counted a deadlock"


def _server_deadlocks() -> int:
    """pg_stat_database's deadlock count for the test database, once the clients' sessions
    have ended (a session's counts reach the statistics when it ends)."""
    import time

    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _people(accounts=8, per_account=6):
    from tests.factories import AccountFactory, ContactFactory

    return [
        ContactFactory(account=account, external_id=f"{account.external_id}-p{n}")
        for account in (AccountFactory(external_id=f"co-{a}") for a in range(accounts))
        for n in range(per_account)
    ]


def _track(message_id, user_id, group_id, name, day, minute):
    return {
        "type": "track", "messageId": message_id, "event": name, "userId": user_id,
        "context": {"groupId": group_id},
        "timestamp": f"2026-03-0{day}T{10 + minute // 60:02d}:{minute % 60:02d}:00Z",
    }  # fmt: skip


def _assert_rollups_match_a_rebuild():
    from datetime import date

    from accounts.models import DailyContactUsage, DailyFeatureUsage
    from accounts.usage import rebuild_daily_usage

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


def test_clients_tracking_the_same_people_at_once_never_deadlock(deadlocks):
    """The benchmark's shape: track calls of known users, every batch touching most of the
    contacts, accounts and account-days, each in its own random order."""
    import random

    people = _people()

    def batch(client, round_):
        rng = random.Random(f"{client}-{round_}")
        return [
            _track(f"c{client}-r{round_}-{n}", person.external_id,
                   person.account.external_id, f"feature_{rng.randrange(6)}",
                   rng.randrange(1, 4), rng.randrange(600))
            for n, person in enumerate(rng.choices(people, k=300))
        ]  # fmt: skip

    for round_ in range(ROUNDS):
        outcomes = _run_together([batch(client, round_) for client in range(CLIENTS)])
        assert not deadlocks
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert {r.status for outcome in outcomes for r in outcome} == {"accepted"}
    assert Event.objects.count() == ROUNDS * CLIENTS * 300
    _assert_rollups_match_a_rebuild()


def test_clients_sending_group_identify_and_track_for_the_same_people_never_deadlock(
    deadlocks,
):
    """Segment's libraries send group and identify beside the events: accounts and contacts
    updated and created (some by every client at once, under the same message ids), users
    first seen in a track call, and events, in batches that overlap in everything."""
    import random

    people = _people()
    accounts = sorted({p.account.external_id for p in people})

    def batch(client, round_):
        rng = random.Random(f"{client}-{round_}")
        # New in this round, sent by every client: accounts and users created at once.
        new_accounts = [f"new-{round_}-{n}" for n in range(3)]
        new_users = [(f"new-{round_}-u{n}", new_accounts[n % 3]) for n in range(6)]
        messages = []
        for n, account in enumerate(rng.sample(accounts, 5)):
            messages.append(
                {
                    "type": "group",
                    "messageId": f"c{client}-r{round_}-g{n}",
                    "groupId": account,
                    "userId": f"{account}-p{n}",
                    "traits": {"plan": f"plan-{client}", "seats": 10 + round_},
                }
            )
        for n, account in enumerate(new_accounts):  # the same message from every client
            messages.append(
                {
                    "type": "group",
                    "messageId": f"r{round_}-new-g{n}",
                    "groupId": account,
                    "traits": {"name": f"New {account}"},
                }
            )
        for n, person in enumerate(rng.sample(people, 12)):
            messages.append(
                {
                    "type": "identify",
                    "messageId": f"c{client}-r{round_}-i{n}",
                    "userId": person.external_id,
                    "context": {"groupId": person.account.external_id},
                    "traits": {"title": f"title-{client}-{round_}"},
                }
            )
        for n, (user, account) in enumerate(new_users):
            messages.append(
                {
                    "type": "identify",
                    "messageId": f"r{round_}-new-i{n}",
                    "userId": user,
                    "context": {"groupId": account},
                    "traits": {"name": f"User {user}"},
                }
            )
        senders = [(p.external_id, p.account.external_id) for p in people]
        senders += new_users + [
            (f"c{client}-r{round_}-first{n}", accounts[n % 8]) for n in range(4)
        ]  # first seen in a track call
        for n in range(250):
            user, account = rng.choice(senders)
            messages.append(
                _track(
                    f"c{client}-r{round_}-t{n}",
                    user,
                    account,
                    f"feature_{rng.randrange(6)}",
                    rng.randrange(1, 4),
                    rng.randrange(600),
                )
            )
        for n in range(5):  # the same events from every client: stored once
            messages.append(
                _track(
                    f"r{round_}-shared-t{n}",
                    people[n].external_id,
                    people[n].account.external_id,
                    "shared",
                    1,
                    n,
                )
            )
        rng.shuffle(messages)
        return messages

    for round_ in range(ROUNDS):
        outcomes = _run_together([batch(client, round_) for client in range(CLIENTS)])
        assert not deadlocks
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        statuses = [r.status for outcome in outcomes for r in outcome]
        shared = [r.status for o in outcomes for r in o if r.message_id.startswith("r")]
        assert "rejected" not in statuses
        # 3 groups, 6 identifies and 5 events sent by every client, stored once each.
        assert sorted(shared) == ["accepted"] * 14 + ["duplicate"] * 14 * (CLIENTS - 1)
    assert Account.objects.count() == 8 + 3 * ROUNDS
    assert Event.objects.count() == ROUNDS * (CLIENTS * 250 + 5)
    _assert_rollups_match_a_rebuild()
