"""The health API: scores, history, changes, overrides, sentiment and scorecards."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import DirtyAccount
from cs_platform import roles
from health.models import (
    AccountHealth,
    CsmSentiment,
    HealthChange,
    HealthOverride,
    HealthSnapshot,
    Scorecard,
    ScorecardVersion,
)
from health.scorecards import publish
from health.scoring import recompute
from health.tasks import end_expired_overrides_task
from tests.factories import AccountFactory, EscalationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(csm):
    """Two accounts of the CSM's book scored today: one clean, one with a critical escalation.

    The default scorecard is cut down to open escalations (full points with none open), so
    the colours are certain.
    """
    default = Scorecard.objects.get(is_default=True)
    default.measures.exclude(kind="open_escalations").delete()
    default.measures.update(params={"none_open": "full_points"})
    publish(default)
    calm = AccountFactory(owner=csm, external_id="calm")
    troubled = AccountFactory(owner=csm, external_id="troubled")
    EscalationFactory(account=troubled, severity="critical", opened_at=timezone.now())
    recompute([calm.pk, troubled.pk])
    return calm, troubled


def test_health_by_id_and_by_external_id(api, issue_token, scored):
    calm, _ = scored
    raw, _ = issue_token("read")
    client = api(raw)
    body = client.get(f"/api/v1/accounts/{calm.pk}/health").json()
    assert client.get("/api/v1/accounts/by-external-id/calm/health/").json() == body
    assert set(body) == {
        "account", "score", "color", "override", "explanation", "components", "movers",
        "trend", "as_of", "computed_at", "scorecard",
    }  # fmt: skip
    assert body["account"] == {"id": calm.pk, "external_id": "calm", "name": calm.name}
    assert body["color"] in {"green", "yellow", "red"}
    assert body["trend"] == {"7d": None, "30d": None}
    assert body["scorecard"]["name"] == "Default" and body["scorecard"]["version"] == 2
    component = body["components"][0]
    assert set(component) >= {
        "measure", "raw", "benchmark", "points", "weight", "contribution", "note",
    }  # fmt: skip
    present = [c for c in body["components"] if not c["missing"]]
    assert round(sum(c["contribution"] for c in present)) == round(body["score"])


def test_health_queries_do_not_depend_on_the_account(api, issue_token, scored):
    raw, _ = issue_token("read")
    client = api(raw)
    client.get(f"/api/v1/accounts/{scored[0].pk}/health")  # the token's first use is recorded
    counts = []
    for account in scored:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/accounts/{account.pk}/health").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8


def test_unscored_and_unknown_accounts(api, issue_token):
    raw, _ = issue_token("read")
    account = AccountFactory()
    response = api(raw).get(f"/api/v1/accounts/{account.pk}/health")
    assert response.status_code == 404
    assert "no health score yet" in response.json()["detail"]
    assert api(raw).get("/api/v1/accounts/by-external-id/nope/health").status_code == 404


def test_scopes_on_health_endpoints(api, issue_token, scored):
    calm, _ = scored
    ingest_only, _ = issue_token("ingest")
    response = api(ingest_only).get(f"/api/v1/accounts/{calm.pk}/health")
    assert response.status_code == 403
    read_only, _ = issue_token("read")
    response = api(read_only).put(
        f"/api/v1/accounts/{calm.pk}/health/override",
        {"color": "red", "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_history_with_from_and_to(api, issue_token, scored):
    calm, _ = scored
    today = timezone.now().date()
    for days in (1, 5, 40):
        HealthSnapshot.objects.create(
            account=calm, date=today - timedelta(days=days), score=50 + days, color="yellow"
        )
    raw, _ = issue_token("read")
    url = f"/api/v1/accounts/{calm.pk}/health/history"
    body = api(raw).get(url).json()
    assert [r["date"] for r in body["results"]] == [
        (today - timedelta(days=d)).isoformat() for d in (0, 1, 5, 40)
    ]
    start, end = today - timedelta(days=6), today - timedelta(days=1)
    body = api(raw).get(url, {"from": start.isoformat(), "to": end.isoformat()}).json()
    assert [r["score"] for r in body["results"]] == [51, 55]
    bad = api(raw).get(url, {"from": "2026-13-01"})
    assert bad.status_code == 400 and "from" in bad.json()
    reversed_ = api(raw).get(url, {"from": "2026-02-01", "to": "2026-01-01"})
    assert reversed_.status_code == 400 and "from" in reversed_.json()


def test_health_changes_since(api, issue_token, scored):
    raw, _ = issue_token("read")
    body = api(raw).get("/api/v1/health-changes/").json()
    assert body["count"] == 2  # first scores
    old = HealthChange.objects.first()
    HealthChange.objects.filter(pk=old.pk).update(changed_at=datetime(2026, 1, 1, tzinfo=UTC))
    body = api(raw).get("/api/v1/health-changes/", {"since": "2026-06-01T00:00:00Z"}).json()
    assert body["count"] == 1
    body = api(raw).get("/api/v1/health-changes/", {"account": "troubled"}).json()
    assert [r["account"] for r in body["results"]] == ["troubled"]
    assert api(raw).get("/api/v1/health-changes/", {"since": "yesterday"}).status_code == 400


def test_accounts_filtered_by_colour(api, issue_token, scored):
    calm, troubled = scored
    raw, _ = issue_token("read")
    colors = dict(AccountHealth.objects.values_list("account__external_id", "color"))
    assert colors["calm"] != colors["troubled"]
    body = api(raw).get("/api/v1/accounts/", {"color": colors["troubled"]}).json()
    assert [a["external_id"] for a in body["results"]] == ["troubled"]
    assert api(raw).get("/api/v1/accounts/", {"color": "purple"}).status_code == 400


def test_override_by_the_owner_shows_next_to_the_score_and_ends_by_itself(client, csm, scored):
    calm, _ = scored
    client.force_login(csm)
    expires = timezone.now() + timedelta(days=7)
    response = client.put(
        f"/api/v1/accounts/{calm.pk}/health/override",
        {"color": "red", "reason": "Champion left last week", "expires_at": expires.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    body = client.get(f"/api/v1/accounts/{calm.pk}/health").json()
    assert body["override"]["color"] == "red"
    assert body["override"]["created_by"] == "csm"
    assert body["color"] != "red"  # the computed colour is untouched

    # A new override replaces the open one; both stay as the audit.
    client.put(
        f"/api/v1/accounts/{calm.pk}/health/override",
        {"color": "yellow", "reason": "Talked to the new champion", "expires_at": expires},
        content_type="application/json",
    )
    assert list(HealthOverride.objects.values_list("color", "end_reason")) == [
        ("yellow", ""),
        ("red", "replaced"),
    ]
    # Expiry: past its date it is no longer shown, and the task records that it ended.
    HealthOverride.objects.filter(end_reason="").update(
        created_at=timezone.now() - timedelta(days=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert client.get(f"/api/v1/accounts/{calm.pk}/health").json()["override"] is None
    assert end_expired_overrides_task() == 1
    assert HealthOverride.objects.get(color="yellow").end_reason == "expired"


def test_override_validation_and_book(client, csm, make_user, scored):
    calm, _ = scored
    client.force_login(csm)
    url = f"/api/v1/accounts/{calm.pk}/health/override"
    past = client.put(
        url,
        {"color": "red", "reason": "x", "expires_at": "2020-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert past.status_code == 400 and "expires_at" in past.json()
    no_reason = client.put(
        url,
        {"color": "red", "reason": " ", "expires_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert not HealthOverride.objects.exists()

    other = make_user("other-csm", roles.CSM)
    client.force_login(other)
    response = client.put(
        url,
        {"color": "red", "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 403
    viewer = make_user("a-viewer", roles.VIEWER)
    client.force_login(viewer)
    assert client.delete(url).status_code == 403


def test_ending_an_override(client, csm, scored):
    calm, _ = scored
    client.force_login(csm)
    url = f"/api/v1/accounts/{calm.pk}/health/override"
    assert client.delete(url).status_code == 404
    client.put(
        url,
        {"color": "red", "reason": "x", "expires_at": "2099-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert client.delete(url).status_code == 204
    assert HealthOverride.objects.get().end_reason == "cancelled"


def test_sentiment_is_stored_and_marks_the_account(client, csm, scored):
    calm, _ = scored
    client.force_login(csm)
    DirtyAccount.objects.all().delete()
    url = "/api/v1/accounts/by-external-id/calm/health/sentiment"
    assert client.post(url, {"sentiment": 2, "note": "Tense QBR"}).status_code == 201
    assert CsmSentiment.objects.get().sentiment == 2
    assert DirtyAccount.objects.filter(account=calm).exists()
    assert client.post(url, {"sentiment": 9}).status_code == 400


SCORECARD = {
    "name": "Enterprise",
    "plans": ["Enterprise"],
    "priority": 10,
    "green_min": 75,
    "yellow_min": 45,
    "measures": [
        {"kind": "usage_frequency", "weight": 3, "params": {"benchmarks": {"admin": 8}}},
        {"kind": "nps", "weight": 1},
        {"kind": "open_escalations", "weight": 1, "params": {"none_open": "full_points"}},
    ],
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"measures": [{"kind": "nps", "weight": -1}]}, "measures[0].weight"),
        ({"measures": [{"kind": "telepathy", "weight": 1}]}, "measures[0].kind"),
        ({"green_min": 40, "yellow_min": 60}, "green_min"),
        (
            {"measures": [{"kind": "nps", "weight": 1, "params": {"lookback_days": 0}}]},
            "measures[0].params.lookback_days",
        ),
        (
            {"measures": [{"kind": "nps", "weight": 1, "params": {"colour": 1}}]},
            "measures[0].params",
        ),
        (
            {
                "measures": [
                    {"kind": "usage_frequency", "weight": 1, "params": {"benchmarks": {"cto": 1}}}
                ]
            },  # noqa: E501
            "measures[0].params.benchmarks",
        ),
        ({"measures": []}, "measures"),
        ({"hysteresis": 20}, "hysteresis"),
        ({"touch_models": ["psychic"]}, "touch_models"),
        ({"arr_min": 100, "arr_max": 10}, "arr_max"),
        ({"is_default": True}, "is_default"),
    ],
)
def test_bad_scorecards_are_refused_naming_the_field(client, cs_admin, change, field):
    client.force_login(cs_admin)
    before = (Scorecard.objects.count(), ScorecardVersion.objects.count())
    response = client.post(
        "/api/v1/scorecards/", {**SCORECARD, **change}, content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert (Scorecard.objects.count(), ScorecardVersion.objects.count()) == before


def test_scorecard_edits_publish_versions_and_keep_old_history_readable(client, cs_admin, csm):
    client.force_login(cs_admin)
    response = client.post("/api/v1/scorecards/", SCORECARD, content_type="application/json")
    assert response.status_code == 201, response.json()
    card = Scorecard.objects.get(name="Enterprise")
    assert response.json()["version"] == 1
    account = AccountFactory(plan="Enterprise")
    recompute([account.pk])
    v1 = AccountHealth.objects.get(account=account).scorecard_version
    assert v1.scorecard == card and v1.number == 1

    response = client.patch(
        f"/api/v1/scorecards/{card.pk}/",
        {
            "measures": [
                {"kind": "open_escalations", "weight": 2, "params": {"none_open": "full_points"}}
            ]
        },
        content_type="application/json",
    )
    assert response.status_code == 200 and response.json()["version"] == 2
    recompute([account.pk])
    snapshot = HealthSnapshot.objects.get(account=account)
    assert snapshot.scorecard_version.number == 2
    v1.refresh_from_db()  # the old version is unchanged: history computed under it reads as is
    assert [m["kind"] for m in v1.definition["measures"]] == [
        "usage_frequency",
        "nps",
        "open_escalations",
    ]
    # A save that changes nothing publishes nothing.
    client.patch(f"/api/v1/scorecards/{card.pk}/", {"name": "Enterprise"}, "application/json")
    assert card.versions.count() == 2

    client.force_login(csm)
    assert client.get("/api/v1/scorecards/").status_code == 200
    assert (
        client.post("/api/v1/scorecards/", SCORECARD, content_type="application/json").status_code
        == 403
    )


def test_scorecard_writes_need_the_admin_scope_even_from_an_admins_token(api, issue_token):
    # Both tokens belong to admins; only the scope differs.
    writer = api(issue_token("read", "write")[0])
    card = Scorecard.objects.get(is_default=True)
    assert writer.get("/api/v1/scorecards/").status_code == 200
    refused = writer.post("/api/v1/scorecards/", SCORECARD, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This token lacks the admin scope."
    url = f"/api/v1/scorecards/{card.pk}/"
    assert writer.patch(url, {"name": "X"}, "application/json").status_code == 403
    assert writer.delete(url).status_code == 403
    assert not Scorecard.objects.filter(name__in=["Enterprise", "X"]).exists()
    admin = api(issue_token("read", "admin")[0])
    created = admin.post("/api/v1/scorecards/", SCORECARD, content_type="application/json")
    assert created.status_code == 201, created.content


def test_the_default_scorecard_cannot_be_deleted(client, cs_admin):
    client.force_login(cs_admin)
    default = Scorecard.objects.get(is_default=True)
    assert client.delete(f"/api/v1/scorecards/{default.pk}/").status_code == 400
    assert Scorecard.objects.filter(pk=default.pk).exists()


def test_publish_is_idempotent():
    card = Scorecard.objects.get(is_default=True)
    first = card.current_version
    assert publish(card) == first
    assert date.today() >= first.created_at.date()
