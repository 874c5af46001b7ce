"""Measures over many accounts: beyond 20 ids they are sent as one bigint[] parameter."""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from health.measures import REGISTRY, Context
from health.models import AccountHealth, HealthSnapshot
from health.scoring import recompute
from tests.factories import AccountFactory, EscalationFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 11, 20)
BIG = 3_000_000_000  # above 2**31: an integer[] cast fails on it


@pytest.fixture
def many():
    """26 accounts, one with an id above 2**31, renewing in 45 days with one high escalation;
    the others renew in 0..24 days."""
    big = AccountFactory(id=BIG, renewal_date=AS_OF + timedelta(days=45))
    EscalationFactory(account=big, severity="high", opened_at=datetime(2026, 11, 1, tzinfo=UTC))
    others = [AccountFactory(renewal_date=AS_OF + timedelta(days=i)) for i in range(25)]
    return big, others


def test_a_measure_of_26_accounts_reaches_an_id_above_2_31(many):
    big, others = many
    ctx = Context([big.pk, *(a.pk for a in others)], AS_OF)
    with CaptureQueriesContext(connection) as queries:
        renewal = REGISTRY["days_to_renewal"].compute(ctx, {})
    assert "::bigint[]" in queries.captured_queries[0]["sql"]
    assert renewal.at[BIG, "raw"] == 45.0
    assert renewal.at[BIG, "note"] == "renews in 45 days"
    assert [renewal.at[a.pk, "raw"] for a in others] == [float(i) for i in range(25)]

    escalations = REGISTRY["open_escalations"].compute(
        ctx, {"severity_weights": {"high": 3, "low": 1}, "none_open": "full_points"}
    )
    assert escalations.at[BIG, "raw"] == 3.0
    assert escalations.at[BIG, "note"] == "1 high escalation open"
    assert {escalations.at[a.pk, "raw"] for a in others} == {0.0}
    # The default: with none open the measure is left out, never a floor of full points.
    left_out = REGISTRY["open_escalations"].compute(ctx, REGISTRY["open_escalations"].defaults())
    assert left_out.at[BIG, "raw"] == 4.0  # high weighs 4 by default
    assert all(np.isnan(left_out.at[a.pk, "raw"]) for a in others)


def test_recompute_scores_and_writes_26_accounts_with_an_id_above_2_31(many):
    big, others = many
    assert recompute([big.pk, *(a.pk for a in others)], AS_OF)["scored"] == 26
    assert AccountHealth.objects.filter(account_id=BIG).exists()
    assert HealthSnapshot.objects.filter(date=AS_OF).count() == 26
