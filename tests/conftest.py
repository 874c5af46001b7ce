"""Shared fixtures, and the rule for tests that need a service: skip with a reason on a
developer machine without it, fail under CI=true (CI must never silently skip them)."""

import os
import shutil
import socket
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from cs_platform import roles

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def redis_url() -> str:
    return settings.REDIS_URL or (
        settings.CELERY_BROKER_URL if settings.CELERY_BROKER_URL.startswith("redis") else ""
    )


def _missing_service(marker: str) -> str | None:
    """Why a test with this marker cannot run here, or None if it can."""
    if marker == "postgres":
        if settings.DATABASES["default"]["ENGINE"] != "cs_platform.postgresql":
            return "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
    elif marker == "redis":
        url = redis_url()
        if not url:
            return "needs Redis: set REDIS_URL and CELERY_BROKER_URL to redis://127.0.0.1:6379/…"
        if not _reachable(url, 6379):
            return f"needs Redis, but {url} is not reachable"
    elif marker == "browser":
        if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
            return "needs Chromium (apt-get install chromium)"
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            return "needs the playwright Python package"
    return None


def pytest_runtest_setup(item):
    for marker in ("postgres", "redis", "browser"):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing_service(marker)
        if reason:
            if IN_CI:
                pytest.fail(f"CI=true and this test {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture
def make_user(db, django_user_model):
    """A user with one role: make_user("maya", role=roles.CSM)."""

    def make(username="user", role=roles.CSM, password="pw-for-tests-only", **extra):
        user = django_user_model.objects.create_user(username=username, password=password, **extra)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def csm(make_user):
    return make_user("csm", roles.CSM, first_name="Casey", last_name="Manager")


@pytest.fixture
def viewer(make_user):
    return make_user("viewer", roles.VIEWER)


@pytest.fixture
def cs_admin(make_user):
    return make_user("csadmin", roles.ADMIN, is_staff=True)


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # Production uses the hashed manifest that collectstatic writes; tests never run it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # Rate-limit counters live in the cache and primary keys repeat between tests (and
    # between test runs on other databases): each test gets an empty cache of its own.
    import uuid

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": uuid.uuid4().hex,  # local memory is shared by name within the process
        }
    }


@pytest.fixture
def issue_token(make_user):
    """issue_token("read", "write") -> (raw token, ApiToken) of a user whose role allows it."""
    from cs_platform.models import ApiToken

    def issue(*scopes, rate_limit=None, user=None):
        user = user or make_user(f"client{ApiToken.objects.count()}", roles.ADMIN)
        token, raw = ApiToken.issue(user, "test client", scopes, rate_limit)
        return raw, token

    return issue


@pytest.fixture
def api(client):
    """api(raw_token).get(url) -> the test client sending `Authorization: Bearer <token>`."""

    def with_token(raw):
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
        return client

    return with_token


@pytest.fixture(autouse=True)
def _fresh_peer_benchmarks():
    # Peer populations are cached per process for a few minutes; each test has its own data.
    from health import peers

    peers._cache.clear()
