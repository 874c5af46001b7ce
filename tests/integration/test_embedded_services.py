"""The embedded servers (`make run` and `make test` with no service URLs set).

`python cs_platform/embedded.py run -- CMD ...` starts the embedded PostgreSQL and Valkey,
runs the commands with them, stops both after, and a second run finds the data of the first.
"""

import json
import os
import subprocess
import sys

import pytest

from cs_platform import embedded
from tests.integration.test_celery_worker import REPO

ACCOUNTS = "/api/v1/accounts/"
# Runs inside the supervisor: what the settings resolve to, and a value written or read.
PROBE = """
import django, json, sys; django.setup()
from django.conf import settings as s
from django.core.cache import cache
from django.db import connection
with connection.cursor() as c:
    c.execute("CREATE TABLE IF NOT EXISTS probe (value text)")
    if sys.argv[1] == "write":
        c.execute("INSERT INTO probe VALUES ('kept')")
        cache.set("probe", "kept", None)
    c.execute("SELECT value FROM probe")
    rows = [r[0] for r in c.fetchall()]
print(json.dumps([s.DATABASES["default"]["HOST"], s.CELERY_BROKER_URL, rows, cache.get("probe")]))
"""


def _supervise(tmp_path, *commands):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}
    }
    env.update(
        DEBUG="true", CS_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="cs_platform.settings"
    )
    return subprocess.run(
        [sys.executable, "cs_platform/embedded.py", "run", "--", *commands],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_the_supervisor_serves_both_servers_for_its_commands_and_keeps_their_data(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    first = _supervise(tmp_path, f"{sys.executable} {probe} write")
    assert first.returncode == 0, first.stderr
    host, broker, rows, cached = json.loads(first.stdout.strip().splitlines()[-1])
    assert host == str(tmp_path / "postgres")
    assert broker.startswith("redis://127.0.0.1:") and broker.endswith("/0")
    assert (rows, cached) == (["kept"], "kept")
    # Stopped when the commands ended.
    assert not embedded.is_running(tmp_path) and embedded.valkey_port(tmp_path) is None

    second = _supervise(tmp_path, f"{sys.executable} {probe} read")
    assert second.returncode == 0, second.stderr
    _, _, rows, cached = json.loads(second.stdout.strip().splitlines()[-1])
    assert (rows, cached) == (["kept"], "kept")
    assert not embedded.is_running(tmp_path) and embedded.valkey_port(tmp_path) is None


def test_the_supervisor_stops_at_the_first_failing_command_and_returns_its_code(tmp_path):
    result = _supervise(tmp_path, "exit 3", "echo never")
    assert result.returncode == 3
    assert "never" not in result.stdout
    assert not embedded.is_running(tmp_path) and embedded.valkey_port(tmp_path) is None


@pytest.mark.redis
@pytest.mark.django_db
def test_a_rate_limit_is_counted_in_redis(api, issue_token, settings):
    # The suite's own cache is per-test local memory; here the real shared one is used, as
    # the web processes of `make run` (embedded Valkey) or production (Redis) do.
    from tests.conftest import redis_url

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url(),
        }
    }
    from django.core.cache import cache

    cache.clear()
    client = api(issue_token("read", rate_limit=3)[0])
    assert [client.get(ACCOUNTS).status_code for _ in range(4)] == [200, 200, 200, 429]
