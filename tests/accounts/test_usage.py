from datetime import UTC, date, datetime

import pytest

from accounts.models import DailyAccountUsage, DailyContactUsage, DailyFeatureUsage
from accounts.usage import add_to_rollups, rebuild_daily_usage
from tests.factories import AccountFactory, ContactFactory, EventFactory

pytestmark = pytest.mark.django_db


def at(day, hour=12, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def usage():
    acme, globex = AccountFactory(), AccountFactory()
    ann, bob = ContactFactory(account=acme), ContactFactory(account=acme)
    EventFactory(account=acme, contact=ann, name="login", occurred_at=at(2, 9))
    EventFactory(account=acme, contact=ann, name="report_created", occurred_at=at(2, 10))
    EventFactory(account=acme, contact=bob, name="login", occurred_at=at(2, 23, 59))
    EventFactory(account=acme, contact=None, name="import_run", occurred_at=at(3, 0, 0))
    EventFactory(account=globex, name="login", occurred_at=at(2))
    return acme, globex, ann, bob


def test_it_counts_events_people_and_features_per_account_day(usage):
    acme, globex, ann, bob = usage
    assert rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 3)) == {
        "account_days": 3,
        "contact_days": 2,
        "feature_days": 4,
    }
    day2 = DailyAccountUsage.objects.get(account=acme, date=date(2026, 3, 2))
    assert (day2.event_count, day2.active_contacts, day2.distinct_events) == (3, 2, 2)
    # Midnight UTC belongs to the next day; an event without a contact counts for the account.
    day3 = DailyAccountUsage.objects.get(account=acme, date=date(2026, 3, 3))
    assert (day3.event_count, day3.active_contacts, day3.distinct_events) == (1, 0, 1)
    ann_day = DailyContactUsage.objects.get(contact=ann, date=date(2026, 3, 2))
    assert (ann_day.event_count, ann_day.account_id) == (2, acme.pk)
    features = DailyFeatureUsage.objects.filter(account=acme, date=date(2026, 3, 2))
    assert dict(features.values_list("name", "event_count")) == {"login": 2, "report_created": 1}


def test_it_replaces_stale_rows_in_the_range_and_keeps_others(usage):
    acme, *_ = usage
    DailyAccountUsage.objects.create(account=acme, date=date(2026, 3, 2), event_count=99)
    outside = DailyAccountUsage.objects.create(account=acme, date=date(2026, 2, 1), event_count=7)
    rebuild_daily_usage(date(2026, 3, 2), date(2026, 3, 2))
    assert DailyAccountUsage.objects.get(account=acme, date=date(2026, 3, 2)).event_count == 3
    outside.refresh_from_db()
    assert outside.event_count == 7


def test_it_can_rebuild_some_accounts_only(usage):
    acme, globex, *_ = usage
    rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 3), account_ids=[globex.pk])
    assert set(DailyAccountUsage.objects.values_list("account_id", flat=True)) == {globex.pk}


def test_it_refuses_a_range_that_ends_before_it_starts():
    with pytest.raises(ValueError, match="precedes"):
        rebuild_daily_usage(date(2026, 3, 2), date(2026, 3, 1))


def test_it_runs_a_fixed_number_of_queries_whatever_the_volume(usage):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 3))
        return len(ctx)

    few = queries()
    acme = usage[0]
    for day in (1, 2, 3):
        for n in range(40):
            EventFactory(account=acme, name=f"feature_{n % 7}", occurred_at=at(day, 8, n))
    assert queries() == few <= 8


def _snapshot():
    accounts = DailyAccountUsage.objects.values_list(
        "account_id", "date", "event_count", "active_contacts", "distinct_events"
    )
    contacts = DailyContactUsage.objects.values_list("contact_id", "date", "event_count")
    features = DailyFeatureUsage.objects.values_list("account_id", "date", "name", "event_count")
    return sorted(accounts), sorted(contacts), sorted(features)


def test_adding_batches_gives_the_same_rollups_as_a_rebuild(usage):
    from accounts.models import Event

    events = list(
        Event.objects.order_by("id").values_list("account_id", "contact_id", "name", "occurred_at")
    )
    add_to_rollups(events[:2])  # two batches, the second touching the same account-day
    add_to_rollups(events[2:])
    added = _snapshot()
    rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 3))
    assert _snapshot() == added
    day2 = DailyAccountUsage.objects.get(account=usage[0], date=date(2026, 3, 2))
    assert (day2.event_count, day2.active_contacts, day2.distinct_events) == (3, 2, 2)


def test_many_small_batches_count_people_and_features_as_a_rebuild_does():
    from accounts.models import Event

    accounts = [AccountFactory(), AccountFactory()]
    people = [ContactFactory(account=a) for a in accounts for _ in range(3)]
    for n in range(60):
        person = people[n % len(people)] if n % 5 else None
        account = person.account if person else accounts[n % 2]
        EventFactory(
            account=account, contact=person, name=f"f{n % 4}", occurred_at=at(1 + n % 3, 9, n)
        )
    events = list(
        Event.objects.order_by("?").values_list("account_id", "contact_id", "name", "occurred_at")
    )
    for start in range(0, len(events), 7):  # the same people and features again and again
        add_to_rollups(events[start : start + 7])
    added = _snapshot()
    rebuild_daily_usage(date(2026, 3, 1), date(2026, 3, 3))
    assert _snapshot() == added
