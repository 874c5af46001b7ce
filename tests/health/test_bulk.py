"""The score writer's upsert: COPY on PostgreSQL, bulk_create elsewhere, the same rows."""

from datetime import date

import pytest

from health.bulk import upsert
from health.models import HealthSnapshot
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

HOSTILE = 'Tab\there, new\nline, back\\slash, quote " and → unicode, \\N not null'


def test_upsert_inserts_then_updates_with_awkward_text():
    account = AccountFactory()
    columns = ["account_id", "date", "score", "color", "components", "explanation"]
    components = [{"measure": "nps", "note": HOSTILE, "raw": None}]
    upsert(
        HealthSnapshot,
        columns,
        [(account.pk, date(2026, 3, 1), 50.0, "yellow", components, HOSTILE)],
        conflict=["account_id", "date"],
    )
    row = HealthSnapshot.objects.get()
    assert (row.score, row.color, row.explanation) == (50.0, "yellow", HOSTILE)
    assert row.components == components
    assert row.scorecard_version_id is None

    upsert(
        HealthSnapshot,
        columns,
        [
            (account.pk, date(2026, 3, 1), 80.0, "green", [], "better"),
            (account.pk, date(2026, 3, 2), 81.0, "green", [], ""),
        ],
        conflict=["account_id", "date"],
    )
    assert list(HealthSnapshot.objects.order_by("date").values_list("score", "explanation")) == [
        (80.0, "better"),
        (81.0, ""),
    ]
    upsert(HealthSnapshot, columns, [], conflict=["account_id", "date"])  # nothing to do
