"""The API's fast paths (issue 3): what they skip must not change what clients see.

Tokens are remembered per process for a few seconds (cs_platform.api.authentication), the
health endpoint answers from one statement, prepared once per connection on PostgreSQL
(health.api.views, cs_platform.api.rows), the rate limit is counted in leases of several
requests, one Redis round trip each (cs_platform.api.throttling), and a reused connection is
checked without a round trip (cs_platform.postgresql).
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


# --- Rate limits taken in leases ------------------------------------------------------------


@pytest.fixture
def still_clock(monkeypatch):
    """The rate limit's clock stands still mid-window: no test straddles two windows."""
    from cs_platform.api import throttling

    now = (int(throttling.time.time()) // 60) * 60 + 30.0
    monkeypatch.setattr(throttling.time, "time", lambda: now)


def test_a_busy_token_is_counted_in_leases_and_sees_every_request_counted(
    api, issue_token, monkeypatch, still_clock
):
    from cs_platform.api import throttling

    asked = []
    real = throttling.count_request

    def counting(key, amount=1):
        asked.append(amount)
        return real(key, amount)

    monkeypatch.setattr(throttling, "count_request", counting)
    client = api(issue_token("read", rate_limit=300)[0])
    statuses, remaining = [], []
    for _ in range(320):
        response = client.get(ACCOUNTS)
        statuses.append(response.status_code)
        remaining.append(int(response["RateLimit-Remaining"]))
    assert statuses == [200] * 300 + [429] * 20
    assert remaining == [*range(299, -1, -1), *[0] * 20]
    # Fewer round trips than requests (at this small limit; a busy token with a large limit
    # makes one per 50), and leases shrink to one request near the limit.
    assert sum(asked[: len(asked) - 20]) == 300 and len(asked) < 200
    assert asked[0] == 6 and asked[-21] == 1


def test_processes_sharing_a_token_never_serve_more_than_its_limit(issue_token):
    from concurrent.futures import ThreadPoolExecutor

    from cs_platform.api import throttling

    # Each thread has its own cache backend, hence its own leases, as a process has; the
    # local-memory cache of this test is shared by name, as Redis is by processes.
    key, limit, window = f"ratelimit:test:{uuid.uuid4().hex}:1", 1_000, 1

    def serve(count):
        return [throttling.take(key, limit, window)[0] for _ in range(count)]

    with ThreadPoolExecutor(1) as a, ThreadPoolExecutor(1) as b:
        served = sum(a.submit(serve, 300).result())
        served += sum(b.submit(serve, 500).result())
        served += sum(a.submit(serve, 400).result())
        served += sum(b.submit(serve, 400).result())
    # Never more than the limit; what the other process holds unused is a small lease.
    assert limit - 2 * throttling.LEASE_MAX <= served <= limit
    assert served >= limit - 2 * (limit // throttling.LEASE_SHARE)


def test_a_lease_of_an_earlier_window_is_not_spent_in_the_next(issue_token):
    from cs_platform.api import throttling

    key = f"ratelimit:test:{uuid.uuid4().hex}"
    assert throttling.take(f"{key}:1", 500, 1) == (True, 499)  # a lease of 10 taken
    # The next window starts afresh (its own key): nothing carried over, nothing lost.
    assert throttling.take(f"{key}:2", 500, 2) == (True, 499)
    assert throttling.take(f"{key}:2", 500, 2) == (True, 498)


# --- PostgreSQL: prepared statements, a health check without a round trip -------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_health_statement_is_prepared_once_per_connection(api, issue_token, scored):
    client = api(issue_token("read")[0])
    url = f"{ACCOUNTS}{scored.pk}/health"
    body = client.get(url).json()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).json() == body
    assert [q["sql"].split(" ")[0] for q in queries.captured_queries] == ["EXECUTE"]
    connection.close()  # a new session has nothing prepared: it is prepared again
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).json() == body
    assert [q["sql"].split(" ")[0] for q in queries.captured_queries] == ["PREPARE", "EXECUTE"]


@pytest.mark.postgres
def test_without_prepared_statements_the_statement_is_sent_whole(
    api, issue_token, scored, settings
):
    settings.DB_PREPARED_STATEMENTS = False
    client = api(issue_token("read")[0])
    client.get(f"{ACCOUNTS}{scored.pk}/health")
    with CaptureQueriesContext(connection) as queries:
        body = client.get(f"{ACCOUNTS}{scored.pk}/health").json()
    assert body == expected_body(scored.pk)
    assert [q["sql"].split(" ")[0] for q in queries.captured_queries] == ["SELECT"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_ended_is_replaced_before_a_request_uses_it(monkeypatch):
    import time

    import psycopg2
    from django.db import close_old_connections

    from cs_platform.postgresql.base import DatabaseWrapper

    def backend_pid():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    connection.settings_dict["CONN_HEALTH_CHECKS"] = True
    connection.close()
    pid = backend_pid()
    # A healthy connection is reused without asking the server (no SELECT 1).
    real_is_usable = DatabaseWrapper.is_usable
    monkeypatch.setattr(DatabaseWrapper, "is_usable", lambda self: pytest.fail("round trip"))
    close_old_connections()  # what a server does as each request starts
    assert backend_pid() == pid
    monkeypatch.setattr(DatabaseWrapper, "is_usable", real_is_usable)
    params = connection.get_connection_params()
    with psycopg2.connect(**params) as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    other.close()
    deadline = time.monotonic() + 5
    while connection._socket_is_quiet() and time.monotonic() < deadline:
        time.sleep(0.01)
    close_old_connections()
    assert backend_pid() != pid  # replaced, and the request's query succeeded


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_column_type_changed_by_a_migration_gets_the_statement_prepared_again(
    api, issue_token, scored
):
    client = api(issue_token("read")[0])
    url = f"{ACCOUNTS}{scored.pk}/health"
    body = client.get(url).json()  # prepared on this connection
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE health_accounthealth ALTER COLUMN explanation TYPE varchar")
    try:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).json() == body
        assert [q["sql"].split(" ")[0] for q in queries.captured_queries] == [
            "EXECUTE", "DEALLOCATE", "PREPARE", "EXECUTE"
        ]  # fmt: skip
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE health_accounthealth ALTER COLUMN explanation TYPE text")
