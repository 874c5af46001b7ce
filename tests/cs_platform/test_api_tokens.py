"""API tokens: issued once, hashed, scoped, revocable, rate limited."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from cs_platform import roles
from cs_platform.models import ApiToken, hash_token
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
ACCOUNTS = "/api/v1/accounts/"


def test_the_command_prints_the_token_once_and_stores_only_its_hash(make_user):
    make_user("ops", roles.ADMIN)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token", "--user=ops", "--scopes=read,ingest", "--name=Segment", stdout=out,
        stderr=err,
    )  # fmt: skip
    raw = out.getvalue().strip()
    token = ApiToken.objects.get()
    assert raw.startswith("csp_") and len(raw) > 40
    assert token.token_hash == hash_token(raw) and raw not in str(token.__dict__)
    assert token.scopes == ["ingest", "read"] and token.name == "Segment"
    assert "not shown again" in err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user=ghost", "--scopes=read", "--name=x"], "--user: no user named 'ghost'"),
        (["--user=ops", "--scopes=read,fly", "--name=x"], "--scopes: unknown fly"),
        (["--user=ops", "--scopes=", "--name=x"], "--scopes: give at least one"),
        (["--user=ops", "--scopes=read", "--name= "], "--name: must not be empty"),
        (["--user=viewer", "--scopes=write", "--name=x"], "role does not allow write"),
    ],
)
def test_the_command_names_the_bad_option(make_user, args, message):
    make_user("ops", roles.ADMIN)
    make_user("viewer", roles.VIEWER)
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


def test_a_read_token_reads_but_cannot_write(api, issue_token):
    raw, token = issue_token("read")
    AccountFactory(name="Acme")
    client = api(raw)
    response = client.get(ACCOUNTS)
    assert response.status_code == 200 and response.json()["results"][0]["name"] == "Acme"
    response = client.post(
        ACCOUNTS, {"external_id": "x", "name": "X"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert "lacks the write scope" in response.json()["detail"]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_write_token_creates_and_only_an_admin_token_deletes(api, issue_token):
    client = api(issue_token("read", "write")[0])
    response = client.post(
        ACCOUNTS, {"external_id": "x", "name": "X"}, content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    url = f"{ACCOUNTS}{response.json()['id']}/"
    assert client.delete(url).status_code == 403
    assert api(issue_token("admin")[0]).delete(url).status_code == 204


def test_an_ingest_token_can_only_ingest(api, issue_token):
    client = api(issue_token("ingest")[0])
    assert client.get(ACCOUNTS).status_code == 403
    response = client.post(
        "/v1/group",
        {"groupId": "acme", "traits": {"name": "Acme"}},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    assert (
        api(issue_token("read", "write")[0])
        .post("/v1/group", {"groupId": "b"}, content_type="application/json")
        .status_code
        == 403
    )


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer csp_not-a-real-token", "Invalid API token."),
        ("Bearer", "Malformed Authorization header"),
        ("Bearer a b", "Malformed Authorization header"),
    ],
)
def test_a_bad_token_is_refused_with_401(client, header, reason):
    response = client.get(ACCOUNTS, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["detail"].startswith(reason)
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_revoked_token_is_refused(api, issue_token):
    raw, token = issue_token("read")
    token.revoke()
    response = api(raw).get(ACCOUNTS)
    assert response.status_code == 401
    assert response.json()["detail"] == "This API token has been revoked."


def test_anonymous_requests_are_refused(client):
    assert client.get(ACCOUNTS).status_code == 401


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [(roles.VIEWER, 200, 403), (roles.CSM, 200, 200), (roles.ADMIN, 200, 200)],
)
def test_a_browser_session_gets_what_its_role_allows(client, make_user, role, read, write):
    person = make_user("person", role)
    account = AccountFactory(owner=person)
    client.force_login(person)
    assert client.get(ACCOUNTS).status_code == read
    response = client.patch(
        f"{ACCOUNTS}{account.pk}/", {"plan": "Enterprise"}, content_type="application/json"
    )
    assert response.status_code == write


def test_a_token_loses_what_its_users_role_loses(api, issue_token, make_user):
    from django.contrib.auth.models import Group

    user = make_user("ops", roles.ADMIN)
    raw, _ = issue_token("read", "write", user=user)
    account = AccountFactory(owner=user)
    url = f"{ACCOUNTS}{account.pk}/"
    client = api(raw)
    assert client.patch(url, {"plan": "X"}, content_type="application/json").status_code == 200
    user.groups.set([Group.objects.get(name=roles.VIEWER)])
    assert client.patch(url, {"plan": "Y"}, content_type="application/json").status_code == 403
    assert client.get(url).status_code == 200


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(api, issue_token):
    client = api(issue_token("read", rate_limit=3)[0])
    remaining = []
    for _ in range(3):
        response = client.get(ACCOUNTS)
        assert response.status_code == 200
        assert response["RateLimit-Limit"] == "3"
        assert 1 <= int(response["RateLimit-Reset"]) <= 60
        remaining.append(int(response["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    response = client.get(ACCOUNTS)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Policy"] == "3;w=60"


def test_the_default_limit_comes_from_settings(api, issue_token, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    client = api(issue_token("read")[0])
    assert [client.get(ACCOUNTS).status_code for _ in range(3)] == [200, 200, 429]


def test_an_admin_issues_a_token_in_the_dashboard_and_sees_it_once(client, cs_admin, make_user):
    make_user("segment-bot", roles.ADMIN)
    client.force_login(cs_admin)
    response = client.post(
        reverse("token-list"), {"name": "Segment", "user": "segment-bot", "scopes": ["ingest"]}
    )
    assert response.status_code == 200
    raw = response.context["new_token"]
    assert raw and raw.encode() in response.content
    token = ApiToken.objects.get()
    assert token.token_hash == hash_token(raw)
    listing = client.get(reverse("token-list"))
    assert raw.encode() not in listing.content and token.prefix.encode() in listing.content
    client.post(reverse("token-revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_dashboard_refuses_scopes_beyond_the_users_role(client, cs_admin, make_user):
    make_user("watcher", roles.VIEWER)
    client.force_login(cs_admin)
    response = client.post(
        reverse("token-list"), {"name": "x", "user": "watcher", "scopes": ["write"]}
    )
    assert "does not allow write" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("role", [roles.CSM, roles.VIEWER])
def test_only_admins_manage_tokens(client, make_user, role):
    client.force_login(make_user("someone", role))
    assert client.get(reverse("token-list")).status_code == 403
