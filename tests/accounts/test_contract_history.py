"""Contract history: every write path records a ContractChange for a new account and for every
change of ARR or renewal date, and the bulk upsert does it without a query per account."""

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.choices import ContractSource
from accounts.contracts import contract_source
from accounts.csv_import import import_accounts_csv
from accounts.models import Account, ContractChange
from accounts.upsert import upsert_accounts
from health.measures import Context
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def history(account_or_external_id):
    """[(arr_before, arr_after, renewal_before, renewal_after, source)] oldest first."""
    if isinstance(account_or_external_id, str):
        account_or_external_id = Account.objects.get(external_id=account_or_external_id)
    return list(
        ContractChange.objects.filter(account=account_or_external_id)
        .order_by("changed_at", "id")
        .values_list(
            "arr_before", "arr_after", "renewal_date_before", "renewal_date_after", "source"
        )
    )


D = Decimal


@pytest.fixture
def writer(api, issue_token):
    return api(issue_token("read", "write")[0])


# --- the bulk upsert: REST bulk, by external id, Segment group, CSV -------------------------


def test_rest_bulk_records_new_accounts_and_changed_terms_only(writer):
    body = {
        "items": [
            {"external_id": "a", "name": "A", "arr": "1000", "renewal_date": "2027-01-31"},
            {"external_id": "b", "name": "B", "arr": "500"},
        ]
    }
    assert writer.post("/api/v1/accounts/bulk/", body, "application/json").status_code == 200
    assert history("a") == [(None, D(1000), None, date(2027, 1, 31), "api")]
    assert history("b") == [(None, D(500), None, None, "api")]

    body = {
        "items": [
            {"external_id": "a", "arr": "1200", "renewal_date": "2028-01-31"},  # renewed, +200
            {"external_id": "b", "plan": "Starter"},  # no contract change
        ]
    }
    assert writer.post("/api/v1/accounts/bulk/", body, "application/json").status_code == 200
    assert history("a")[1:] == [(D(1000), D(1200), date(2027, 1, 31), date(2028, 1, 31), "api")]
    assert len(history("b")) == 1
    # The same values again: unchanged, nothing recorded.
    writer.post("/api/v1/accounts/bulk/", body, "application/json")
    assert ContractChange.objects.count() == 3


def test_put_by_external_id_records_through_the_same_upsert(writer):
    url = "/api/v1/accounts/by-external-id/acme/"
    assert writer.put(url, {"name": "Acme", "arr": "100"}, "application/json").status_code == 201
    assert writer.put(url, {"arr": "80"}, "application/json").status_code == 200
    assert [row[:2] for row in history("acme")] == [(None, D(100)), (D(100), D(80))]


def test_a_rejected_batch_records_nothing():
    AccountFactory(external_id="a", arr=D(100))
    before = ContractChange.objects.count()
    upsert_accounts([{"external_id": "a", "arr": "200"}, {"external_id": "b"}])  # b: no name
    assert ContractChange.objects.count() == before
    assert Account.objects.get(external_id="a").arr == D(100)


def test_a_segment_group_records_the_account_as_from_segment(client, issue_token):
    raw, _ = issue_token("ingest")
    auth = "Basic " + base64.b64encode(f"{raw}:".encode()).decode()
    group = {
        "type": "group", "messageId": "g1", "userId": "u1", "groupId": "acme",
        "traits": {"name": "Acme", "arr": 3000}, "timestamp": "2026-03-02T10:00:00Z",
    }  # fmt: skip
    response = client.post(
        "/v1/group", json.dumps(group), "application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 200, response.content
    [(arr_before, arr_after, *_, source)] = history("acme")
    assert (arr_before, arr_after, source) == (None, D(3000), "segment")
    grown = {**group, "messageId": "g2", "traits": {"arr": 4500}}
    client.post("/v1/group", json.dumps(grown), "application/json", HTTP_AUTHORIZATION=auth)
    assert [row[:2] + row[4:] for row in history("acme")][1:] == [(D(3000), D(4500), "segment")]


def test_segment_group_changes_are_dated_at_the_calls_timestamp(client, issue_token):
    raw, _ = issue_token("ingest")
    auth = "Basic " + base64.b64encode(f"{raw}:".encode()).decode()

    def send(message_id, at, **traits):
        group = {
            "type": "group", "messageId": message_id, "groupId": "acme", "timestamp": at,
            "traits": traits,
        }  # fmt: skip
        response = client.post(
            "/v1/group", json.dumps(group), "application/json", HTTP_AUTHORIZATION=auth
        )
        assert response.status_code == 200, response.content

    # A replayed history: signed in March 2025, renewed in March 2026 at a higher price.
    send("g1", "2025-03-15T09:00:00Z", name="Acme", arr=12000, renewal_date="2026-03-10")
    send("g2", "2026-03-11T09:00:00Z", arr=15000, renewal_date="2027-03-10")
    changes = ContractChange.objects.filter(account__external_id="acme").order_by("changed_at")
    assert [c.changed_at for c in changes] == [
        datetime(2025, 3, 15, 9, tzinfo=UTC),
        datetime(2026, 3, 11, 9, tzinfo=UTC),
    ]
    account = Account.objects.get(external_id="acme")
    before, after = Context([account.pk], date(2026, 2, 1)), Context([account.pk], date(2026, 5, 1))
    assert before.contract.loc[account.pk].tolist() == [12000.0, date(2026, 3, 10)]
    assert after.contract.loc[account.pk].tolist() == [15000.0, date(2027, 3, 10)]

    # An older call arriving late changes the terms now, after the changes recorded; one
    # from the future is dated now.
    send("g3", "2025-06-01T09:00:00Z", arr=11000)
    send("g4", "2999-01-01T00:00:00Z", arr=11500)
    late, future = ContractChange.objects.filter(account=account).order_by("changed_at")[2:]
    assert late.changed_at == datetime(2026, 3, 11, 9, tzinfo=UTC) and late.arr_after == 11000
    assert future.changed_at <= timezone.now() and future.arr_after == 11500
    assert Context([account.pk], date(2026, 2, 1)).contract.loc[account.pk, "arr"] == 12000.0


def test_a_csv_import_records_as_csv_and_a_dry_run_records_nothing():
    AccountFactory(external_id="globex", arr=D(24000), renewal_date=date(2027, 1, 1))
    data = b"external_id,name,arr,renewal_date\nacme,Acme,1000,2027-06-30\nglobex,Globex,20000,\n"
    import_accounts_csv(data, dry_run=True)
    assert not ContractChange.objects.filter(source="csv").exists()
    import_accounts_csv(data)
    assert history("acme") == [(None, D(1000), None, date(2027, 6, 30), "csv")]
    # An empty cell leaves the renewal date as it was.
    assert history("globex")[1:] == [
        (D(24000), D(20000), date(2027, 1, 1), date(2027, 1, 1), "csv")
    ]


def _upsert_queries(n: int, offset: int) -> int:
    items = [
        {
            "external_id": f"q{offset + i}",
            "name": f"Q{i}",
            "arr": "100",
            "renewal_date": "2027-01-01",
        }
        for i in range(n)
    ]
    with CaptureQueriesContext(connection) as created:
        upsert_accounts(items)
    grown = [{**item, "arr": "150", "renewal_date": "2028-01-01"} for item in items]
    with CaptureQueriesContext(connection) as updated:
        upsert_accounts(grown)
    return len(created), len(updated)


def test_the_upsert_records_history_without_a_query_per_account(django_assert_max_num_queries):
    five_created, five_updated = _upsert_queries(5, 0)
    with django_assert_max_num_queries(five_created):
        items = [
            {"external_id": f"q{100 + i}", "name": "Q", "arr": "100", "renewal_date": "2027-01-01"}
            for i in range(50)
        ]
        upsert_accounts(items)
    with django_assert_max_num_queries(five_updated):
        upsert_accounts([{**item, "arr": "150"} for item in items])
    assert ContractChange.objects.count() == 5 * 2 + 50 * 2
    assert ContractChange.objects.filter(arr_before=D(100), arr_after=D(150)).count() == 55


# --- single saves: REST create/PATCH, admin, any other save ---------------------------------


def test_rest_create_and_patch_record_as_api(writer):
    response = writer.post(
        "/api/v1/accounts/",
        {"external_id": "new", "name": "New", "arr": "900", "renewal_date": "2027-02-01"},
        "application/json",
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    patched = writer.patch(
        f"/api/v1/accounts/{pk}/", {"arr": "700.00", "name": "Renamed"}, "application/json"
    )
    assert patched.status_code == 200, patched.json()
    writer.patch(f"/api/v1/accounts/{pk}/", {"name": "Renamed again"}, "application/json")
    assert history("new") == [
        (None, D(900), None, date(2027, 2, 1), "api"),
        (D(900), D(700), date(2027, 2, 1), date(2027, 2, 1), "api"),
    ]


def _admin_form(account, **changes) -> dict:
    data = {
        "external_id": account.external_id, "name": account.name, "domain": account.domain,
        "industry": "", "employee_count": "", "plan": account.plan, "arr": str(account.arr),
        "currency": account.currency, "licenses_purchased": account.licenses_purchased,
        "touch_model": account.touch_model, "owner": "", "parent": "",
        "contract_start": account.contract_start or "", "renewal_date": account.renewal_date or "",
        "status": account.status, "churned_at_0": "", "churned_at_1": "", "traits": "{}",
        "contacts-TOTAL_FORMS": "0", "contacts-INITIAL_FORMS": "0",
        "contacts-MIN_NUM_FORMS": "0", "contacts-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    return {**data, **changes}


def test_an_admin_save_records_as_admin(admin_client):
    account = AccountFactory(arr=D(1000), renewal_date=date(2027, 1, 1))
    url = reverse("admin:accounts_account_change", args=[account.pk])
    response = admin_client.post(url, _admin_form(account, arr="1300", renewal_date="2028-01-01"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert history(account)[1:] == [(D(1000), D(1300), date(2027, 1, 1), date(2028, 1, 1), "admin")]
    admin_client.post(url, _admin_form(account, arr="1300.00", renewal_date="2028-01-01", plan="X"))
    assert len(history(account)) == 2  # the plan is not part of the contract


def test_the_history_is_read_only_in_the_admin(admin_client):
    change = AccountFactory().contract_changes.get()
    assert admin_client.get(reverse("admin:accounts_contractchange_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_contractchange_add")).status_code == 403
    url = reverse("admin:accounts_contractchange_change", args=[change.pk])
    assert admin_client.get(url).status_code == 200  # viewable
    assert admin_client.post(url, {"arr_after": "1"}).status_code == 403
    delete = reverse("admin:accounts_contractchange_delete", args=[change.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403


def test_any_save_records_creation_and_changed_terms_but_nothing_else():
    account = AccountFactory(arr=D(100), renewal_date=date(2027, 1, 1))
    account.name = "Renamed"
    account.save()
    account.save(update_fields=["name"])
    account.arr = 250  # an int is the same number as the stored decimal
    account.save()
    account.arr = D("250.00")
    account.save()
    with contract_source(ContractSource.DEMO):
        fetched = Account.objects.only("id", "name").get(pk=account.pk)  # deferred terms
        fetched.renewal_date = date(2028, 1, 1)
        fetched.save()
    assert history(account) == [
        (None, D(100), None, date(2027, 1, 1), "app"),
        (D(100), D(250), date(2027, 1, 1), date(2027, 1, 1), "app"),
        (D(250), D(250), date(2027, 1, 1), date(2028, 1, 1), "demo"),
    ]
    kinds = [c.kind for c in account.contract_changes.order_by("changed_at", "id")]
    assert kinds == ["created", "expansion", "renewed"]


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="Unknown contract change source"), contract_source("fax"):
        pass
