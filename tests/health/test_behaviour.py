"""Behavioural measures as of a past day: price per seat from the contract history, and the
event rate's note over several key features."""

from datetime import UTC, date, datetime
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
