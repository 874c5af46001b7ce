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


def test_json_already_serialised_is_written_as_it_is():
    import json

    from health.bulk import JSONText

    account = AccountFactory()
    components = [{"measure": "nps", "note": HOSTILE, "raw": 7.0}]
    upsert(
        HealthSnapshot,
        ["account_id", "date", "score", "color", "components", "explanation"],
        [(account.pk, date(2026, 3, 1), 50.0, "yellow", JSONText(json.dumps(components)), "")],
        conflict=["account_id", "date"],
    )
    # Stored as JSON (not as a JSON string holding it), on either database.
    assert HealthSnapshot.objects.get().components == components


@pytest.mark.postgres
def test_components_are_json_text_columns_read_back_as_python_values():
    from django.db import connection

    from health.models import AccountHealth

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, data_type FROM information_schema.columns"
            " WHERE column_name = 'components' AND table_name LIKE 'health_%%'"
        )
        assert dict(cursor.fetchall()) == {
            "health_accounthealth": "json",
            "health_healthsnapshot": "json",
        }
    account = AccountFactory()
    components = [{"measure": "nps", "note": HOSTILE, "detail": [{"persona": "admin"}]}]
    HealthSnapshot.objects.create(
        account=account, date=date(2026, 3, 1), score=1.0, color="red", components=components
    )
    assert HealthSnapshot.objects.get().components == components
    assert list(HealthSnapshot.objects.values_list("components", flat=True)) == [components]
    assert not AccountHealth.objects.filter(account=account).exists()
