"""The API's fast paths (issue 3): what they skip must not change what clients see.

Tokens are remembered per process for a few seconds (cs_platform.api.authentication), the
health endpoint answers from one statement (health.api.views), and the rate limit counts in
one Redis round trip (cs_platform.api.throttling).
"""

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cs_platform import roles
from cs_platform.api import authentication
from cs_platform.models import ApiToken
from health.api.serializers import OverrideSerializer
from health.api.views import health_body
from health.models import AccountHealth, HealthOverride
from health.overrides import active_overrides
from health.scoring import recompute
from tests.conftest import redis_url
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
ACCOUNTS = "/api/v1/accounts/"


@pytest.fixture
def scored(csm):
    account = AccountFactory(owner=csm, external_id="fast")
    recompute([account.pk])
    return account


@pytest.fixture
def later(monkeypatch):
    """later(seconds): this process's clock (as the token cache reads it) moves on."""
    offset = [0.0]
    real = authentication.time.monotonic

    def advance(seconds):
        offset[0] += seconds

    monkeypatch.setattr(authentication.time, "monotonic", lambda: real() + offset[0])
    return advance


def expected_body(account_pk) -> dict:
    """The health body as the ORM objects give it (what the endpoint answered before)."""
    health = AccountHealth.objects.select_related("account", "scorecard_version").get(
        account_id=account_pk
    )
    override = active_overrides([account_pk]).get(account_pk)
    body = health_body(health.account, health, override)
    if override is not None:
        assert body["override"] == OverrideSerializer(override).data
    return json.loads(json.dumps(body))


def test_the_health_body_is_the_orm_one_with_and_without_an_override(api, issue_token, scored):
    client = api(issue_token("read")[0])
    url = f"{ACCOUNTS}{scored.pk}/health"
    assert client.get(url).json() == expected_body(scored.pk)
    HealthOverride.objects.create(
        account=scored,
        color="red",
        reason="Champion left",
        expires_at=timezone.now() + timedelta(days=3),
        created_by=scored.owner,
    )
    body = client.get(url).json()
    assert body["override"]["created_by"] == "csm" and body["override"]["color"] == "red"
    assert body == expected_body(scored.pk)
    assert client.get("/api/v1/accounts/by-external-id/fast/health").json() == body
    # An expired or ended override is not in force.
    HealthOverride.objects.update(ended_at=timezone.now())
    assert client.get(url).json()["override"] is None


def test_a_cached_token_asks_one_query_per_health_request(api, issue_token, scored, csm):
    client = api(issue_token("read")[0])
    other = AccountFactory(owner=csm)
    recompute([other.pk])
    HealthOverride.objects.create(
        account=other,
        color="yellow",
        reason="Renewal risk",
        expires_at=timezone.now() + timedelta(days=3),
        created_by=csm,
    )
    client.get(f"{ACCOUNTS}{scored.pk}/health")  # first use: the token is read and stamped
    counts = []
    for account in (scored, other):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{ACCOUNTS}{account.pk}/health").status_code == 200
        counts.append(len(queries))
    assert counts == [1, 1]


def test_unknown_and_unscored_accounts_are_told_apart(api, issue_token):
    client = api(issue_token("read")[0])
    unscored = AccountFactory(name="Newco")
    response = client.get(f"{ACCOUNTS}{unscored.pk}/health")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Newco has no health score yet")
    for url in (f"{ACCOUNTS}999999/health", f"{ACCOUNTS}{'9' * 30}/health"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["detail"] == "No Account matches the given query."


def test_revoking_takes_effect_at_once_in_this_process(api, issue_token, scored):
    raw, token = issue_token("read")
    client = api(raw)
    assert client.get(f"{ACCOUNTS}{scored.pk}/health").status_code == 200  # now remembered
    ApiToken.objects.get(pk=token.pk).revoke()
    response = client.get(f"{ACCOUNTS}{scored.pk}/health")
    assert response.status_code == 401
    assert response.json()["detail"] == "This API token has been revoked."


def test_a_revocation_made_elsewhere_takes_effect_within_the_cache_time(
    api, issue_token, scored, later
):
    raw, token = issue_token("read")
    client = api(raw)
    url = f"{ACCOUNTS}{scored.pk}/health"
    assert client.get(url).status_code == 200
    # As another process would: no signal reaches this one.
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    assert client.get(url).status_code == 200  # still remembered...
    later(authentication.TOKEN_CACHE_SECONDS + 0.1)
    assert client.get(url).status_code == 401  # ...but not for longer than promised


def test_deactivating_the_user_or_changing_roles_takes_effect_at_once(
    api, issue_token, make_user, scored
):
    user = make_user("ops", roles.ADMIN)
    raw, _ = issue_token("read", "write", user=user)
    client = api(raw)
    url = f"{ACCOUNTS}{scored.pk}/"
    assert client.patch(url, {"plan": "X"}, content_type="application/json").status_code == 200
    # Removed from the group through the group's side of the relation.
    Group.objects.get(name=roles.ADMIN).user_set.remove(user)
    user.groups.add(Group.objects.get(name=roles.VIEWER))
    assert client.patch(url, {"plan": "Y"}, content_type="application/json").status_code == 403
    assert client.get(url).status_code == 200
    user.is_active = False
    user.save()
    response = client.get(url)
    assert response.status_code == 401
    assert response.json()["detail"] == "The user of this API token is inactive."


def test_requests_do_not_share_the_remembered_objects(api, issue_token, scored):
    raw, token = issue_token("read")
    user_a, token_a = authentication.authenticate_token(raw)
    token_a.scopes.append("admin")
    user_a.username = "someone-else"
    user_b, token_b = authentication.authenticate_token(raw)
    assert token_b.scopes == ["read"] and user_b.username == token.user.username
    assert "password" not in user_b.__dict__  # the hash is never read for a token
    assert user_b.check_password("pw-for-tests-only")  # ...unless asked for


def test_last_use_is_still_stamped_once_a_minute(api, issue_token, scored, later):
    raw, token = issue_token("read")
    client = api(raw)
    client.get(f"{ACCOUNTS}{scored.pk}/health")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        client.get(f"{ACCOUNTS}{scored.pk}/health")
    assert not any("UPDATE" in q["sql"] for q in queries.captured_queries)
    token.refresh_from_db()
    assert token.last_used_at == first


@pytest.fixture
def redis_cache(settings):
    url = redis_url()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        }
    }


@pytest.mark.redis
def test_the_rate_limit_counts_in_one_pipelined_round_trip(api, issue_token, redis_cache):
    from django.core.cache import caches

    from cs_platform.api import throttling

    raw, token = issue_token("read", rate_limit=3)
    client = api(raw)
    remaining = []
    for _ in range(3):
        response = client.get(ACCOUNTS)
        assert response.status_code == 200
        remaining.append(int(response["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    response = client.get(ACCOUNTS)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["RateLimit-Policy"] == "3;w=60"
    # The counter expires with its window, and reads back through the cache API.
    backend = caches["default"]
    key = next(k for k in _keys(backend) if f"token:{token.pk}:" in k)
    client_ = throttling._redis_clients[backend._cache]
    assert 0 < client_.ttl(key) <= throttling.KEY_TIMEOUT
    assert backend.get(key.split(":", 2)[2]) == 4


def _keys(backend) -> list[str]:
    from cs_platform.api import throttling

    client = throttling._redis_clients[backend._cache]
    return [k.decode() for k in client.keys(f"{backend.key_prefix}:*")]
