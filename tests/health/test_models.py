"""Health's models on the database: score components are ``json`` columns, read back whole."""

from datetime import date

import pytest
from django.db import connection

from health.models import AccountHealth, HealthSnapshot
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

AWKWARD = 'Tab\there, new\nline, back\\slash, quote " and → unicode, \\N not null'


def test_components_are_json_text_columns_read_back_as_python_values():
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
    components = [{"measure": "nps", "note": AWKWARD, "detail": [{"persona": "admin"}]}]
    HealthSnapshot.objects.create(
        account=account, date=date(2026, 3, 1), score=1.0, color="red", components=components
    )
    assert HealthSnapshot.objects.get().components == components
    assert list(HealthSnapshot.objects.values_list("components", flat=True)) == [components]
    assert not AccountHealth.objects.filter(account=account).exists()
