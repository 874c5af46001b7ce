"""Behavioural measures as of a past day: price per seat from the contract history, and the
event rate's note over several key features."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.models import ContractChange, DailyAccountUsage, DailyContactUsage, DailyFeatureUsage
from health.measures import REGISTRY, Context
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


def raw(kind, account, day, **params):
    measure = REGISTRY[kind]
    frame = measure.compute(Context([account.pk], day), measure.defaults() | params)
    return frame.loc[account.pk, "raw"], frame.loc[account.pk, "note"]


def test_price_per_seat_holds_from_the_contract_start_of_an_account_created_later():
    # Created today (its first contract change is dated now) with a contract from January.
    account = AccountFactory(arr=Decimal("12000"), licenses_purchased=10)
    assert ContractChange.objects.get(account=account).changed_at.date() > date(2026, 3, 1)
    assert raw("price_per_seat", account, date(2026, 3, 1)) == (1200.0, "12,000 ARR over 10 seats")
    value, note = raw("price_per_seat", account, date(2025, 12, 31))  # before the contract
    assert value != value and note == "no ARR or licenses recorded"


def test_price_per_seat_follows_later_changes_of_arr():
    account = AccountFactory(arr=Decimal("12000"), licenses_purchased=10)
    ContractChange.objects.filter(account=account).update(
        changed_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    ContractChange.objects.create(
        account=account,
        changed_at=datetime(2026, 5, 1, 9, tzinfo=UTC),
        arr_before=Decimal("12000"),
        arr_after=Decimal("15000"),
        source="api",
    )
    assert raw("price_per_seat", account, date(2026, 4, 30))[0] == 1200.0
    assert raw("price_per_seat", account, date(2026, 5, 1))[0] == 1500.0


def test_the_event_rate_note_counts_several_key_features():
    account = AccountFactory()
    ann, bob = ContactFactory(account=account), ContactFactory(account=account)
    day = date(2026, 3, 10)
    for contact in (ann, bob):
        DailyContactUsage.objects.create(contact=contact, account=account, date=day, event_count=3)
    DailyAccountUsage.objects.create(account=account, date=day, event_count=6)
    for name, count in (("report_shared", 4), ("workflow_run", 2)):
        DailyFeatureUsage.objects.create(account=account, date=day, name=name, event_count=count)
    value, note = raw("event_rate", account, day, events=["report_shared", "workflow_run"])
    # 6 events of the two names in 28 days, 2 active users: 3 per active user.
    assert (value, note) == (3.0, "6 events of 2 key features in 28 days, 3 per active user")


def test_activity_change_reads_every_event_from_the_account_roll_up():
    account = AccountFactory()
    # Baseline: 8 weeks before the last 4; 112 events there is 2 a day. Last 28 days: 84
    # events, 3 a day: +50%.
    DailyAccountUsage.objects.create(account=account, date=date(2026, 2, 1), event_count=112)
    DailyAccountUsage.objects.create(account=account, date=date(2026, 3, 10), event_count=84)
    DailyFeatureUsage.objects.create(  # the per-name roll-up is not read without names
        account=account, date=date(2026, 3, 10), name="report_shared", event_count=1
    )
    value, note = raw("activity_change", account, date(2026, 3, 10))
    assert (value, note) == (50.0, "3 events a day in the last 28 days vs 2 in the 56 before")


def test_activity_change_of_chosen_events_reads_their_roll_up():
    account = AccountFactory()
    for day, count in ((date(2026, 2, 1), 56), (date(2026, 3, 10), 7)):
        DailyFeatureUsage.objects.create(
            account=account, date=day, name="report_shared", event_count=count
        )
        DailyAccountUsage.objects.create(account=account, date=day, event_count=1000)
    value, _ = raw("activity_change", account, date(2026, 3, 10), events=["report_shared"])
    assert value == -75.0  # 0.25 a day against 1 a day


def test_rate_and_breadth_share_one_query_and_count_the_same_active_users(
    django_assert_num_queries,
):
    account = AccountFactory(licenses_purchased=4)
    day = date(2026, 3, 10)
    ann, bob, gone = (ContactFactory(account=account) for _ in range(3))
    gone.is_active = False
    gone.save()
    for contact in (ann, bob, gone):
        DailyContactUsage.objects.create(contact=contact, account=account, date=day, event_count=2)
    for name, count in (("report_shared", 6), ("workflow_run", 0), ("other", 9)):
        DailyFeatureUsage.objects.create(account=account, date=day, name=name, event_count=count)
    ctx = Context([account.pk], day)
    names = ["report_shared", "workflow_run"]
    rate = REGISTRY["event_rate"].compute(
        ctx, REGISTRY["event_rate"].defaults() | {"events": names}
    )
    with django_assert_num_queries(0):  # what it reads, the event rate has read
        breadth = REGISTRY["feature_breadth"].compute(
            ctx, REGISTRY["feature_breadth"].defaults() | {"features": names}
        )
    licenses = REGISTRY["license_utilisation"].compute(
        ctx, REGISTRY["license_utilisation"].defaults()
    )
    # The deactivated contact is not an active user: 6 events over ann and bob.
    assert rate.loc[account.pk, "raw"] == 3.0
    # A day's row with no events is no use of the feature: 1 of 2.
    assert breadth.loc[account.pk, "raw"] == 50.0
    assert licenses.loc[account.pk, "note"] == "2 active users of 4 licenses"


def test_days_to_renewal_as_of_a_past_day_takes_the_renewal_ahead_then():
    # Created today (so every past day reads its first contract change) with annual terms.
    account = AccountFactory(contract_start=date(2024, 3, 15), renewal_date=date(2027, 3, 15))
    # On 1 June 2026 the 15 March 2026 renewal has passed: 2027-03-15 is 287 days ahead.
    assert raw("days_to_renewal", account, date(2026, 6, 1)) == (287.0, "renews in 287 days")
    # On 1 February 2026 the customer was 42 days from its 15 March 2026 renewal.
    assert raw("days_to_renewal", account, date(2026, 2, 1))[0] == 42.0
    value, note = raw("days_to_renewal", account, date(2024, 1, 1))  # before the contract
    assert value != value and note == "no renewal date"


def test_days_to_renewal_reads_a_renewal_recorded_in_the_history():
    account = AccountFactory(contract_start=date(2025, 3, 15), renewal_date=date(2026, 3, 15))
    ContractChange.objects.filter(account=account).update(
        changed_at=datetime(2025, 3, 1, tzinfo=UTC)
    )
    ContractChange.objects.create(  # renewed for a year on 10 March 2026
        account=account,
        changed_at=datetime(2026, 3, 10, 9, tzinfo=UTC),
        arr_before=account.arr,
        arr_after=account.arr,
        renewal_date_before=date(2026, 3, 15),
        renewal_date_after=date(2027, 3, 15),
        source="api",
    )
    assert raw("days_to_renewal", account, date(2026, 2, 1))[0] == 42.0
    assert raw("days_to_renewal", account, date(2026, 4, 1))[0] == 348.0


def test_a_renewal_on_29_february_goes_back_to_the_28th():
    from health.measures import first_anniversary_on_or_after

    assert first_anniversary_on_or_after(date(2028, 2, 29), date(2026, 6, 1)) == date(2027, 2, 28)
    assert first_anniversary_on_or_after(date(2028, 2, 29), date(2028, 3, 1)) == date(2029, 2, 28)
    assert first_anniversary_on_or_after(date(2027, 2, 28), date(2028, 2, 29)) == date(2029, 2, 28)


def test_a_first_renewal_that_passed_before_a_past_day_is_the_next_one_then():
    # A client replaying its history sends the first renewal (10 March 2026), then today the
    # current one: every past day reads the first, which an account still here renewed.
    account = AccountFactory(contract_start=date(2025, 3, 10), renewal_date=date(2026, 3, 10))
    account.renewal_date = date(2027, 3, 10)
    account.save()
    # 1 May 2026: 10 March 2026 has passed; 10 March 2027 is 313 days ahead (245 + 68).
    assert raw("days_to_renewal", account, date(2026, 5, 1)) == (313.0, "renews in 313 days")
    # 1 November 2026: 129 days to 10 March 2027 (30 + 31 + 31 + 28 + 9).
    assert raw("days_to_renewal", account, date(2026, 11, 1))[0] == 129.0
    # 1 February 2026: 37 days to 10 March 2026 (27 + 10).
    assert raw("days_to_renewal", account, date(2026, 2, 1))[0] == 37.0


def test_a_look_back_before_the_first_usage_data_is_no_data_not_a_zero():
    from accounts.models import EventDefinition

    EventDefinition.objects.create(
        name="report_shared", first_seen_at=datetime(2026, 3, 1, 10, tzinfo=UTC)
    )
    account = AccountFactory()
    key = ContactFactory(account=account, is_key_contact=True)
    DailyAccountUsage.objects.create(account=account, date=date(2026, 3, 2), event_count=5)
    # 10 March: a 28-day window from 12 February, before the data began on 1 March.
    value, note = raw("usage_frequency", account, date(2026, 3, 10))
    assert value != value
    assert note == "its 28-day look-back starts before the first usage data (2026-03-01)"
    # 1 May: the 28-day window is covered, the 56 days before it are not.
    assert raw("license_utilisation", account, date(2026, 5, 1))[0] == 0.0
    value, note = raw("activity_change", account, date(2026, 5, 1))
    assert value != value and note.startswith("its 84-day look-back starts before")
    # A key contact not seen since the data began may have been active before it.
    value, note = raw("key_contact_engagement", account, date(2026, 5, 1))
    assert value != value and note == "no key contact active since the data began (2026-03-01)"
    DailyContactUsage.objects.create(
        contact=key, account=account, date=date(2026, 4, 20), event_count=1
    )
    assert raw("key_contact_engagement", account, date(2026, 5, 1)) == (
        11.0,
        "a key contact was active 11 days ago",
    )


def test_a_contract_set_just_after_the_account_was_created_holds_before_it():
    # A Segment group call creates the account with no ARR; a REST call then sets it.
    account = AccountFactory(arr=Decimal("0"), licenses_purchased=10, renewal_date=None)
    ContractChange.objects.create(
        account=account,
        changed_at=ContractChange.objects.get(account=account).changed_at + timedelta(minutes=1),
        arr_before=Decimal("0"),
        arr_after=Decimal("12000"),
        renewal_date_before=None,
        renewal_date_after=date(2027, 3, 15),
        source="api",
    )
    assert raw("price_per_seat", account, date(2026, 6, 1))[0] == 1200.0
    assert raw("days_to_renewal", account, date(2026, 6, 1))[0] == 287.0


def test_activity_change_of_the_key_features_reads_the_catalogues_choice():
    from accounts.models import EventDefinition

    EventDefinition.objects.create(
        name="report_shared", key_feature=True, first_seen_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    account = AccountFactory()
    for day, shared, logins in ((date(2026, 2, 1), 56, 560), (date(2026, 3, 10), 7, 1000)):
        DailyFeatureUsage.objects.create(
            account=account, date=day, name="report_shared", event_count=shared
        )
        DailyFeatureUsage.objects.create(
            account=account, date=day, name="login", event_count=logins
        )
        DailyAccountUsage.objects.create(account=account, date=day, event_count=shared + logins)
    value, _ = raw("activity_change", account, date(2026, 3, 10), of="key_features")
    assert value == -75.0  # 0.25 shared a day against 1: logins went up meanwhile
    every, _ = raw("activity_change", account, date(2026, 3, 10))
    # Every event: 1,007 in 28 days (35.96 a day) against 616 in 56 (11 a day): +226.95%.
    assert every == pytest.approx(226.95, abs=0.01)
    words = REGISTRY["activity_change"].quantity_words(
        REGISTRY["activity_change"].defaults() | {"of": "key_features"}
    )
    assert words.startswith("growth of key-feature activity")
