"""Segment-compatible ingestion: store before acknowledging, per-message results."""

import base64
import gzip
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, Contact, DailyAccountUsage, DirtyAccount, Event
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest(client, issue_token):
    raw, _ = issue_token("ingest")

    def post(path, body, *, gzipped=False, auth="basic", raw_body=None):
        data = raw_body if raw_body is not None else json.dumps(body).encode()
        headers = {}
        if auth == "basic":
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{raw}:".encode()).decode()
        elif auth == "bearer":
            headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
        if gzipped:
            data = gzip.compress(data)
            headers["HTTP_CONTENT_ENCODING"] = "gzip"
        return client.post(path, data, content_type="application/json", **headers)

    post.raw = raw
    return post


def track(message_id, group="acme", user="u1", event="report_created", **extra):
    return {
        "type": "track", "messageId": message_id, "event": event, "userId": user,
        "context": {"groupId": group}, "timestamp": "2026-03-02T10:00:00Z", **extra,
    }  # fmt: skip


def test_a_batch_upserts_the_account_and_contact_and_stores_events(ingest):
    response = ingest("/v1/batch", {"batch": [
        {"type": "group", "messageId": "g1", "groupId": "acme", "userId": "u1",
         "traits": {"name": "Acme Inc", "plan": "Enterprise", "employees": 1200, "arr": 90000,
                    "industry": "Retail", "region": "EMEA"}},
        {"type": "identify", "messageId": "i1", "userId": "u1",
         "context": {"groupId": "acme"},
         "traits": {"email": "Ann@Acme.example", "name": "Ann Admin", "persona": "admin",
                    "title": "IT lead"}},
        track("t1"),
        {"type": "page", "messageId": "p1", "userId": "u1", "name": "Dashboard",
         "timestamp": "2026-03-02T11:00:00Z"},
    ]})  # fmt: skip
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (4, 0, 0)
    assert [r["status"] for r in body["results"]] == ["accepted"] * 4

    account = Account.objects.get(external_id="acme")
    assert (account.name, account.plan, account.employee_count) == ("Acme Inc", "Enterprise", 1200)
    assert account.traits == {"region": "EMEA"}
    contact = Contact.objects.get(external_id="u1")
    assert (contact.account, contact.persona, contact.email) == (
        account,
        "admin",
        "ann@acme.example",
    )
    assert contact.last_seen_at == datetime(2026, 3, 2, 11, tzinfo=UTC)
    events = Event.objects.filter(account=account).order_by("occurred_at")
    assert [(e.name, e.contact_id) for e in events] == [
        ("report_created", contact.pk), ("page_viewed", contact.pk)
    ]  # fmt: skip
    assert events[1].properties == {"name": "Dashboard"}
    usage = DailyAccountUsage.objects.get(account=account, date=date(2026, 3, 2))
    assert (usage.event_count, usage.active_contacts) == (2, 1)
    assert DirtyAccount.objects.filter(account=account).exists()


def test_the_write_key_may_come_as_basic_bearer_or_in_the_body(ingest):
    AccountFactory(external_id="acme")
    assert ingest("/v1/track", track("a"), auth="basic").status_code == 200
    assert ingest("/v1/track", track("b"), auth="bearer").status_code == 200
    body = {**track("c"), "writeKey": ingest.raw}
    assert ingest("/v1/track", body, auth=None).status_code == 200
    assert ingest("/v1/track", track("d"), auth=None).status_code == 401
    assert Event.objects.count() == 3


def test_a_gzipped_body_is_accepted(ingest):
    AccountFactory(external_id="acme")
    response = ingest("/v1/batch", {"batch": [track("z1"), track("z2")]}, gzipped=True)
    assert response.status_code == 200 and response.json()["accepted"] == 2


def test_a_repeated_message_id_is_a_duplicate_and_counted_once(ingest):
    AccountFactory(external_id="acme")
    first = ingest("/v1/batch", {"batch": [track("m1"), track("m2"), track("m1")]}).json()
    assert [r["status"] for r in first["results"]] == ["accepted", "accepted", "duplicate"]
    again = ingest("/v1/batch", {"batch": [track("m1"), track("m3")]}).json()
    assert [r["status"] for r in again["results"]] == ["duplicate", "accepted"]
    assert Event.objects.count() == 3
    assert DailyAccountUsage.objects.get().event_count == 3


def test_device_clock_skew_is_corrected_and_an_explicit_timestamp_kept(ingest):
    AccountFactory(external_id="acme")
    skewed = track("s1")
    del skewed["timestamp"]
    # The device clock runs one hour fast: it says it sent at 13:00 what happened at 12:30.
    skewed["originalTimestamp"] = "2026-03-02T12:30:00Z"
    body = {"batch": [skewed, track("s2")], "sentAt": "2026-03-02T13:00:00Z"}
    ingest("/v1/batch", body)
    corrected = Event.objects.get(message_id="s1").occurred_at
    received = Event.objects.get(message_id="s1").received_at
    assert abs((received - corrected).total_seconds() - 30 * 60) < 5
    assert Event.objects.get(message_id="s2").occurred_at == datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_each_bad_message_is_rejected_with_its_reason_and_the_rest_stored(ingest):
    AccountFactory(external_id="acme")
    response = ingest("/v1/batch", {"batch": [
        track("ok"),
        track("no-account", group="ghost"),
        {"type": "track", "messageId": "no-link", "event": "x", "userId": "stranger"},
        {"type": "track", "messageId": "no-event", "userId": "u1", "context": {"groupId": "acme"}},
        {"type": "alias", "messageId": "alias"},
        {**track("bad-time"), "timestamp": "yesterday"},
        {"type": "identify", "messageId": "anon", "anonymousId": "a1"},
        {"type": "identify", "messageId": "new-user", "userId": "u9"},
        {"type": "identify", "messageId": "bad-persona", "userId": "u1",
         "traits": {"persona": "wizard"}, "context": {"groupId": "acme"}},
    ]})  # fmt: skip
    assert response.status_code == 200
    results = {r["messageId"]: r for r in response.json()["results"]}
    assert results["ok"]["status"] == "accepted"
    reasons = {k: v.get("reason", "") for k, v in results.items() if v["status"] == "rejected"}
    assert "'ghost' is not a known account" in reasons["no-account"]
    assert "cannot be linked" in reasons["no-link"] or "not a known contact" in reasons["no-link"]
    assert reasons["no-event"].startswith("event: required")
    assert reasons["alias"].startswith("type: expected one of")
    assert reasons["bad-time"].startswith("timestamp: 'yesterday' is not")
    assert reasons["anon"].startswith("userId: required for identify")
    assert "needs context.groupId" in reasons["new-user"]
    assert reasons["bad-persona"].startswith("persona:")
    assert Event.objects.count() == 1
    assert not Account.objects.filter(external_id="ghost").exists()


def test_a_batch_where_everything_is_rejected_answers_400(ingest):
    response = ingest("/v1/batch", {"batch": [track("x", group="ghost")]})
    assert response.status_code == 400
    assert response.json()["results"][0]["status"] == "rejected"


@pytest.mark.parametrize(
    ("path", "raw_body", "status", "message"),
    [
        ("/v1/batch", b"{not json", 400, "body: malformed JSON"),
        ("/v1/batch", b"[1, 2]", 400, "body: expected a JSON object"),
        ("/v1/batch", b'{"batch": {}}', 400, "batch: expected a list"),
        ("/v1/batch", b'{"batch": []}', 400, "batch: is empty"),
        ("/v1/batch", b'{"batch": [' + b'"x",' * 200_000 + b'"x"]}', 413, "larger than 500 KB"),
        ("/v1/track", b'{"event": "' + b"x" * 40_000 + b'"}', 413, "larger than 32 KB"),
    ],
)
def test_a_malformed_or_oversize_body_is_refused_whole(ingest, path, raw_body, status, message):
    response = ingest(path, None, raw_body=raw_body)
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert not Event.objects.exists()


def test_an_oversize_message_inside_a_batch_is_rejected_alone(ingest):
    AccountFactory(external_id="acme")
    big = track("big", properties={"blob": "x" * 33_000})
    response = ingest("/v1/batch", {"batch": [big, track("small")]})
    results = response.json()["results"]
    assert results[0]["status"] == "rejected" and "larger than 32 KB" in results[0]["reason"]
    assert results[1]["status"] == "accepted"


@pytest.mark.parametrize(
    ("encoding", "message"), [("gzip", "body: not valid gzip"), ("br", "'br' is not supported")]
)
def test_a_body_that_cannot_be_decoded_is_refused(client, ingest, encoding, message):
    response = client.post(
        "/v1/batch", b"plain", content_type="application/json",
        HTTP_CONTENT_ENCODING=encoding, HTTP_AUTHORIZATION=f"Bearer {ingest.raw}",
    )  # fmt: skip
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_a_user_first_seen_in_a_track_becomes_a_contact_of_that_account(ingest):
    account = AccountFactory(external_id="acme")
    ingest("/v1/track", track("n1", user="newbie"))
    contact = Contact.objects.get(external_id="newbie")
    assert contact.account == account and contact.persona == "end_user"
    assert Event.objects.get().contact == contact


def test_a_known_user_links_the_event_without_a_group(ingest):
    contact = ContactFactory(external_id="u7")
    body = {"type": "track", "messageId": "k1", "event": "login", "userId": "u7"}
    assert ingest("/v1/track", body).status_code == 200
    assert Event.objects.get().account == contact.account


def test_any_iso_offset_is_stored_in_utc(ingest):
    AccountFactory(external_id="acme")
    ingest("/v1/track", track("tz", timestamp="2026-03-02T10:00:00-23:53"))
    assert Event.objects.get().occurred_at == datetime(2026, 3, 3, 9, 53, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"timestamp": "2024-13-45T00:00:00Z"}, "timestamp: '2024-13-45T00:00:00Z' is not"),
        ({"timestamp": "2024-01-01T25:00:00Z"}, "timestamp:"),
        ({"event": "bad\u0000name"}, "NUL character"),
        ({"properties": {"k": "v\u0000"}}, "NUL character"),
        ({"messageId": "m" * 256}, "messageId: longer than 255"),
        ({"userId": "u" * 300}, "userId: longer than 255"),
        ({"context": {"groupId": "acme", "traits": [1, 2]}}, "context.traits: expected an object"),
    ],
)
def test_a_message_the_database_could_not_store_is_rejected_not_a_500(ingest, message, reason):
    AccountFactory(external_id="acme")
    body = {"batch": [{**track("bad"), **message}, track("good")]}
    response = ingest("/v1/batch", body)
    assert response.status_code == 200, response.content
    first, second = response.json()["results"]
    assert first["status"] == "rejected" and reason in first["reason"]
    assert second["status"] == "accepted"


def test_an_event_timestamped_more_than_a_day_ahead_is_rejected(ingest):
    AccountFactory(external_id="acme")
    soon = (timezone.now() + timedelta(hours=23)).isoformat()
    body = {
        "batch": [track("far", timestamp="9999-12-31T00:00:00Z"), track("soon", timestamp=soon)]
    }
    far, near = ingest("/v1/batch", body).json()["results"]
    assert far["status"] == "rejected"
    assert far["reason"] == (
        "timestamp: 9999-12-31T00:00:00Z is more than 24 hours after the message arrived "
        "(check the sender's clock)"
    )
    assert near["status"] == "accepted"  # within the day's tolerance of a fast clock
    assert list(Event.objects.values_list("message_id", flat=True)) == ["soon"]


def test_skew_correction_that_overflows_is_rejected(ingest):
    AccountFactory(external_id="acme")
    message = track("far")
    del message["timestamp"]
    message["originalTimestamp"] = "0001-01-01T00:00:00Z"
    response = ingest("/v1/batch", {"batch": [message], "sentAt": "9999-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert "too far from sentAt" in response.json()["results"][0]["reason"]


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [
        (b'{"batch": [{"type": "track", "x": NaN}]}', "NaN is not valid JSON"),
        (b'{"batch": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    ],
)
def test_json_python_accepts_but_a_database_cannot_is_refused(ingest, raw_body, message):
    response = ingest("/v1/batch", None, raw_body=raw_body)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_a_replayed_identify_or_group_is_a_duplicate_and_changes_nothing(ingest):
    ingest("/v1/group", {"groupId": "acme", "messageId": "g1", "traits": {"plan": "Growth"}})
    ingest("/v1/group", {"groupId": "acme", "messageId": "g2", "traits": {"plan": "Enterprise"}})
    replay = ingest(
        "/v1/group", {"groupId": "acme", "messageId": "g1", "traits": {"plan": "Growth"}}
    )
    assert replay.json()["results"][0]["status"] == "duplicate"
    assert Account.objects.get(external_id="acme").plan == "Enterprise"


def test_a_group_call_links_its_user_so_later_calls_need_no_group(ingest):
    ingest("/v1/group", {"groupId": "acme", "userId": "u5", "messageId": "g1"})
    identify = {
        "type": "identify",
        "userId": "u5",
        "messageId": "i1",
        "traits": {"persona": "admin"},
    }
    assert ingest("/v1/identify", identify).json()["results"][0]["status"] == "accepted"
    tracked = ingest("/v1/track", {"event": "login", "userId": "u5", "messageId": "t1"})
    assert tracked.json()["results"][0]["status"] == "accepted"
    contact = Contact.objects.get(external_id="u5")
    assert (contact.account.external_id, contact.persona) == ("acme", "admin")
    assert Event.objects.get().account == contact.account


def test_one_user_in_two_accounts_on_one_day_is_counted_in_each(ingest):
    AccountFactory(external_id="acme")
    AccountFactory(external_id="globex")
    body = {
        "batch": [
            track("a1", group="acme", user="consultant"),
            track("b1", group="globex", user="consultant"),
        ]
    }
    assert ingest("/v1/batch", body).json()["accepted"] == 2
    counts = DailyAccountUsage.objects.values_list("account__external_id", "active_contacts")
    assert dict(counts) == {"acme": 1, "globex": 1}
