"""The REST resources of accounts and journeys under /api/v1/."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, DirtyAccount, Event, Note
from cs_platform import roles
from journeys.models import AccountStage, StageTransition
from tests.factories import AccountFactory, ContactFactory, EscalationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer(api, issue_token):
    return api(issue_token("read", "write")[0])


def test_accounts_filter_by_segment_fields_stage_owner_and_renewal_window(writer, make_user):
    maya = make_user("maya", roles.CSM)
    today = timezone.now().date()
    soon = AccountFactory(
        name="Soon",
        owner=maya,
        plan="Enterprise",
        renewal_date=today + timedelta(days=20),
        contract_start=today - timedelta(days=300),
    )
    AccountFactory(
        name="Later",
        plan="Starter",
        arr=5000,
        renewal_date=today + timedelta(days=200),
        contract_start=today - timedelta(days=100),
    )
    from journeys.stages import move_account

    move_account(soon, "renewal")

    def names(**params):
        response = writer.get("/api/v1/accounts/", params)
        assert response.status_code == 200, response.json()
        return [a["name"] for a in response.json()["results"]]

    assert names(owner="maya") == ["Soon"]
    assert names(plan="enterprise") == ["Soon"]
    assert names(stage="renewal") == ["Soon"]
    assert names(renewal_within_days=90) == ["Soon"]
    assert names(arr_max=10000) == ["Later"]
    assert names(search="lat") == ["Later"]
    assert names(ordering="-arr") == ["Soon", "Later"]
    assert writer.get("/api/v1/accounts/", {"touch_model": "sideways"}).status_code == 400


def test_the_account_list_costs_the_same_queries_for_5_or_50_accounts(writer, make_user):
    owner = make_user("maya", roles.CSM)

    def count(n):
        AccountFactory.create_batch(n, owner=owner)
        with CaptureQueriesContext(connection) as ctx:
            assert writer.get("/api/v1/accounts/").status_code == 200
        return len(ctx)

    writer.get("/api/v1/accounts/")  # the token's last-use time is written once a minute
    assert count(5) == count(45) <= 6


def test_put_by_external_id_creates_then_updates_only_what_is_given(writer):
    url = "/api/v1/accounts/by-external-id/crm-42/"
    created = writer.put(
        url, {"name": "Initech", "plan": "Growth"}, content_type="application/json"
    )
    assert created.status_code == 201, created.json()
    updated = writer.put(url, {"arr": "50000.00"}, content_type="application/json")
    assert updated.status_code == 200
    account = Account.objects.get(external_id="crm-42")
    assert (account.name, account.plan, str(account.arr)) == ("Initech", "Growth", "50000.00")
    assert writer.get(url).json()["name"] == "Initech"
    assert DirtyAccount.objects.filter(account=account).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"external_id": "a", "name": "A", "arr": "-5"}, "arr"),
        ({"external_id": "a", "name": "A", "touch_model": "sideways"}, "touch_model"),
        ({"external_id": "a", "name": "A", "owner": "nobody"}, "owner"),
        ({"external_id": "a", "name": "A", "renewal_date": "not-a-date"}, "renewal_date"),
        ({"external_id": "a", "name": "A", "status": "churned"}, "churned_at"),
        ({"name": "A"}, "external_id"),
    ],
)
def test_a_bad_account_is_refused_naming_the_field(writer, payload, field):
    response = writer.post("/api/v1/accounts/", payload, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Account.objects.exists()


def test_malformed_json_is_a_400(writer):
    response = writer.post("/api/v1/accounts/", "{oops", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_bulk_upsert_reports_each_item(writer):
    AccountFactory(external_id="old", name="Old")
    response = writer.post(
        "/api/v1/accounts/bulk/",
        {
            "items": [
                {"external_id": "old", "plan": "Enterprise"},
                {"external_id": "new", "name": "New"},
            ]
        },
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["updated"]) == (1, 1), body
    assert [r["status"] for r in body["results"]] == ["updated", "created"]


def test_bulk_upsert_writes_nothing_when_an_item_is_bad(writer):
    response = writer.post(
        "/api/v1/accounts/bulk/",
        {
            "items": [
                {"external_id": "a", "name": "A"},
                {"external_id": "b", "name": "B", "arr": -1},
            ]
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    results = response.json()["results"]
    assert results[0]["status"] == "skipped" and "arr" in results[1]["errors"]
    assert not Account.objects.exists()


def test_bulk_refuses_more_than_5000_items(writer):
    items = [{"external_id": str(i), "name": str(i)} for i in range(5001)]
    response = writer.post(
        "/api/v1/accounts/bulk/", {"items": items}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "items" in response.json()


def test_contacts_are_created_with_a_persona_and_unknown_personas_refused(writer):
    AccountFactory(external_id="acme")
    ok = writer.post(
        "/api/v1/contacts/",
        {"account": "acme", "email": "ann@acme.example", "persona": "champion"},
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.json()
    bad = writer.post(
        "/api/v1/contacts/",
        {"account": "acme", "email": "bob@acme.example", "persona": "wizard"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "persona" in bad.json()


def test_events_are_pushed_in_a_batch_with_a_result_each(api, issue_token):
    AccountFactory(external_id="acme")
    client = api(issue_token("ingest")[0])
    at = "2026-03-02T09:00:00Z"
    events = [
        {"account": "acme", "name": "login", "occurred_at": at, "message_id": "e1"},
        {"account": "acme", "name": "login", "occurred_at": at, "message_id": "e1"},
        {"account": "ghost", "name": "login", "occurred_at": at, "message_id": "e2"},
    ]
    response = client.post("/api/v1/events/", {"events": events}, content_type="application/json")
    assert response.status_code == 200
    assert [r["status"] for r in response.json()] == ["accepted", "duplicate", "rejected"]
    assert Event.objects.count() == 1


def test_an_event_with_a_bad_date_refuses_the_whole_batch(api, issue_token):
    writer = api(issue_token("ingest")[0])
    AccountFactory(external_id="acme")
    events = [
        {"account": "acme", "name": "a", "occurred_at": "2026-03-02T09:00:00Z", "message_id": "1"},
        {"account": "acme", "name": "b", "occurred_at": "soon", "message_id": "2"},
    ]
    response = writer.post("/api/v1/events/", {"events": events}, content_type="application/json")
    assert response.status_code == 400
    assert "occurred_at" in response.json()["events"]["1"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("kind", "score", "status"), [("nps", 10, 201), ("nps", 11, 400), ("csat", 0, 400)]
)
def test_survey_scores_are_checked_against_their_scale(writer, kind, score, status):
    AccountFactory(external_id="acme")
    response = writer.post(
        "/api/v1/surveys/",
        {"account": "acme", "kind": kind, "score": score, "responded_at": "2026-03-02T09:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == status
    if status == 400:
        assert "score" in response.json()


def test_a_note_is_signed_by_its_author(client, csm):
    AccountFactory(external_id="acme", owner=csm)
    client.force_login(csm)
    response = client.post(
        "/api/v1/notes/",
        {"account": "acme", "body": "Called the champion", "occurred_at": "2026-03-02T09:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert Note.objects.get().author == csm and response.json()["author"] == "csm"


def test_a_note_longer_than_the_dashboard_allows_is_refused_by_the_api_too(client, csm):
    from dashboard.forms import NoteForm

    AccountFactory(external_id="acme", owner=csm)
    client.force_login(csm)
    too_long, longest = "x" * 10_001, "x" * 10_000
    note = {"account": "acme", "occurred_at": "2026-03-02T09:00:00Z"}
    response = client.post(
        "/api/v1/notes/", {**note, "body": too_long}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {"body": ["Ensure this field has no more than 10000 characters."]}
    assert not NoteForm({"kind": "note", "body": too_long}).is_valid()
    assert NoteForm({"kind": "note", "body": longest}).is_valid()
    response = client.post(
        "/api/v1/notes/", {**note, "body": longest}, content_type="application/json"
    )
    assert response.status_code == 201 and Note.objects.count() == 1


def test_a_csm_moves_an_account_with_a_reason_and_it_is_recorded(client, csm):
    AccountFactory(external_id="acme", owner=csm)
    client.force_login(csm)
    response = client.post(
        "/api/v1/stages/", {"account": "acme", "to_stage": "escalation", "reason": "Outage"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    assert AccountStage.objects.get().stage == "escalation"
    transition = StageTransition.objects.get()
    assert (transition.moved_by, transition.reason) == (csm, "Outage")
    again = client.post(
        "/api/v1/stages/", {"account": "acme", "to_stage": "escalation", "reason": "x"},
        content_type="application/json",
    )  # fmt: skip
    assert again.status_code == 400 and "already in escalation" in again.json()["to_stage"][0]


def test_escalation_timestamps_move_only_through_their_actions(writer):
    escalation = EscalationFactory()
    response = writer.patch(
        f"/api/v1/escalations/{escalation.pk}/",
        {"resolved_at": "2020-01-01T00:00:00Z", "title": "Renamed"},
        content_type="application/json",
    )
    assert response.status_code == 200
    escalation.refresh_from_db()
    assert (escalation.title, escalation.resolved_at) == ("Renamed", None)


def test_contacts_list_filters_by_account_and_persona(writer):
    acme = AccountFactory(external_id="acme")
    ContactFactory(account=acme, persona="admin", name="Ann")
    ContactFactory(persona="admin", name="Other")
    response = writer.get("/api/v1/contacts/", {"account": "acme", "persona": "admin"})
    assert [c["name"] for c in response.json()["results"]] == ["Ann"]


def test_a_csm_changes_their_own_book_and_only_reads_the_rest(client, csm, make_user):
    other = make_user("jonas", roles.CSM)
    mine = AccountFactory(external_id="mine", owner=csm)
    theirs = AccountFactory(external_id="theirs", owner=other)
    client.force_login(csm)

    def patch(account):
        return client.patch(
            f"/api/v1/accounts/{account.pk}/",
            {"plan": "Enterprise"},
            content_type="application/json",
        )

    assert patch(mine).status_code == 200
    refused = patch(theirs)
    assert refused.status_code == 403 and "not in your book" in refused.json()["detail"]
    assert client.get(f"/api/v1/accounts/{theirs.pk}/").status_code == 200
    for url, body in [
        ("/api/v1/notes/", {"account": "theirs", "body": "x",
                            "occurred_at": "2026-03-02T09:00:00Z"}),
        ("/api/v1/stages/", {"account": "theirs", "to_stage": "renewal", "reason": "x"}),
        ("/api/v1/escalations/", {"account": "theirs", "title": "x", "severity": "high",
                                  "opened_at": "2026-03-02T09:00:00Z"}),
    ]:  # fmt: skip
        assert client.post(url, body, content_type="application/json").status_code == 403, url
    assert not Note.objects.exists()


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/v1/accounts/", {"external_id": "n", "name": "N"}),
        ("post", "/api/v1/accounts/bulk/", {"items": [{"external_id": "n", "name": "N"}]}),
        ("put", "/api/v1/accounts/by-external-id/n/", {"name": "N"}),
    ],
)
def test_only_admins_create_accounts_or_upsert_in_bulk(client, csm, cs_admin, method, url, body):
    client.force_login(csm)
    response = getattr(client, method)(url, body, content_type="application/json")
    assert response.status_code == 403 and "Only admins" in response.json()["detail"]
    client.force_login(cs_admin)
    response = getattr(client, method)(url, body, content_type="application/json")
    assert response.status_code in (200, 201), response.json()
