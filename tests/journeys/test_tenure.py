"""Tenure checkpoints every N years, recorded and announced once."""

from datetime import date

import pytest

from journeys.models import TenureCheckpoint
from journeys.signals import tenure_checkpoint
from journeys.tenure import record_checkpoints
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def customer(start, **extra):
    return AccountFactory(contract_start=start, renewal_date=date(2030, 1, 1), **extra)


def test_accounts_reaching_a_multiple_of_n_years_today_get_one_checkpoint(
    django_capture_on_commit_callbacks,
):
    three = customer(date(2023, 6, 1))
    six = customer(date(2020, 6, 1))
    customer(date(2024, 6, 1))  # two years: not yet
    customer(date(2023, 6, 2))  # tomorrow
    customer(date(2023, 6, 1), status="churned", churned_at="2025-01-01T00:00:00Z")
    heard = []
    tenure_checkpoint.connect(
        receiver := lambda sender, checkpoint_ids, **kw: heard.extend(checkpoint_ids)
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert len(record_checkpoints(date(2026, 6, 1), 3)) == 2
            assert record_checkpoints(date(2026, 6, 1), 3) == []  # once
    finally:
        tenure_checkpoint.disconnect(receiver)
    got = dict(TenureCheckpoint.objects.values_list("account_id", "years"))
    assert got == {three.pk: 3, six.pk: 6}
    assert len(heard) == 2


def test_a_leap_day_contract_has_its_checkpoint_on_28_february():
    leap = customer(date(2020, 2, 29))
    assert len(record_checkpoints(date(2023, 2, 28), 3)) == 1
    assert TenureCheckpoint.objects.get().account == leap


def test_the_api_shows_tenure(client, viewer):
    account = customer(date(2020, 1, 1))
    client.force_login(viewer)
    assert client.get(f"/api/v1/accounts/{account.pk}/").json()["tenure_days"] > 365 * 6
