"""docker-compose.yml and the Dockerfile agree with the settings and with each other.

Static checks only: nothing here needs Docker, a database or a broker.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"

APP_SERVICES = ("web", "worker", "beat")
BACKING_SERVICES = ("postgres", "redis")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def interpolate_defaults(value: str, secret_key: str) -> str:
    """Resolve compose interpolation as `docker compose` would with only SECRET_KEY exported."""

    def replace(match: re.Match) -> str:
        if match["name"] == "SECRET_KEY":
            return secret_key
        if match["op"] in (":-", "-"):
            return match["arg"]
        raise AssertionError(f"{match[0]} has no default and is not SECRET_KEY")

    return INTERPOLATION.sub(replace, str(value))


def test_compose_defines_exactly_the_stack_services(services):
    assert set(services) == {*BACKING_SERVICES, *APP_SERVICES}


def test_it_keeps_postgres_data_in_a_declared_named_volume(compose, services):
    declared = set(compose.get("volumes") or {})
    mounts = services["postgres"]["volumes"]
    named = {
        mount.split(":", 1)[0]
        for mount in mounts
        if mount.endswith(":/var/lib/postgresql/data") and not mount.startswith((".", "/"))
    }
    assert named, f"postgres data directory is not on a named volume: {mounts}"
    assert named <= declared


def test_it_creates_the_database_the_app_connects_to(compose, services):
    env = services["postgres"]["environment"]
    database_url = compose["x-app-env"]["DATABASE_URL"]
    assert database_url.endswith("@postgres:5432/" + env["POSTGRES_DB"])
    assert f":{env['POSTGRES_PASSWORD']}@" in database_url


@pytest.mark.parametrize("name", [*BACKING_SERVICES, "web", "worker"])
def test_it_health_checks_every_long_running_service(services, name):
    healthcheck = services[name].get("healthcheck") or {}
    assert not healthcheck.get("disable"), f"{name} healthcheck is disabled"
    assert healthcheck.get("test"), f"{name} has no healthcheck test"


def test_it_checks_the_backing_services_with_their_own_clients(services):
    assert "pg_isready" in healthcheck_text(services["postgres"])
    assert "redis-cli ping" in healthcheck_text(services["redis"])


def test_it_checks_web_through_the_healthz_url_without_curl(services):
    from django.urls import resolve

    check = healthcheck_text(services["web"])
    assert "urllib" in check and "curl" not in check
    url = re.search(r"http://127\.0\.0\.1:8000(/\S*?)['\"]", check)
    assert url, check
    assert resolve(url[1]).url_name == "healthz"


def test_it_pings_the_worker_through_celery(services):
    check = healthcheck_text(services["worker"])
    assert "celery -A cs_platform inspect ping" in check


def test_it_disables_the_beat_healthcheck_explicitly(services):
    # Beat has nothing to probe: `celery inspect ping` only reaches workers and the
    # DatabaseScheduler keeps no heartbeat. The compose file must say so explicitly
    # (healthcheck.disable) rather than forget the healthcheck.
    assert services["beat"]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_starts_app_services_after_postgres_and_redis_are_healthy(services, name):
    depends_on = services[name]["depends_on"]
    for backing in BACKING_SERVICES:
        assert depends_on[backing] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", ("worker", "beat"))
def test_it_starts_celery_after_web_has_migrated(services, name):
    # web runs `migrate` before gunicorn, so healthy web means the tables exist.
    assert services[name]["depends_on"]["web"] == {"condition": "service_healthy"}


def test_compose_shares_one_environment_between_web_worker_and_beat(compose, services):
    shared = compose["x-app-env"]
    assert isinstance(shared, dict) and shared
    for name in APP_SERVICES:
        assert services[name]["environment"] == shared, name


def test_compose_sets_only_variables_the_settings_read(compose, services):
    from django.conf import settings

    settings.DATABASES  # noqa: B018 - make sure the settings module has been imported
    from cs_platform.env import READ_VARIABLES

    for name in APP_SERVICES:
        unknown = set(services[name]["environment"]) - READ_VARIABLES
        assert not unknown, f"{name} sets variables settings.py never reads: {sorted(unknown)}"


def test_compose_requires_secret_key(compose):
    match = INTERPOLATION.fullmatch(compose["x-app-env"]["SECRET_KEY"])
    assert match and match["name"] == "SECRET_KEY" and match["op"] == ":?"


def test_compose_environment_loads_the_settings(compose, tmp_path):
    """The compose environment, with its defaults, is accepted by settings.py as-is."""
    secret_key = "compose-test-secret-key-" + "x" * 40
    env = {
        name: interpolate_defaults(value, secret_key)
        for name, value in compose["x-app-env"].items()
    }
    probe = (
        "import json\n"
        "from django.conf import settings\n"
        "print(json.dumps({\n"
        "    'DEBUG': settings.DEBUG,\n"
        "    'ENGINE': settings.DATABASES['default']['ENGINE'],\n"
        "    'HOST': settings.DATABASES['default']['HOST'],\n"
        "    'BROKER': settings.CELERY_BROKER_URL,\n"
        "    'CACHE': settings.CACHES['default']['BACKEND'],\n"
        "    'ALLOWED_HOSTS': settings.ALLOWED_HOSTS,\n"
        "    'SECURE_SSL_REDIRECT': settings.SECURE_SSL_REDIRECT,\n"
        "    'PROXY_HEADER': list(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None) or []),\n"
        "}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={
            "PATH": os.environ.get("PATH", ""),
            "DJANGO_SETTINGS_MODULE": "cs_platform.settings",
            "CS_VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["DEBUG"] is False
    assert loaded["ENGINE"] == "cs_platform.postgresql"
    assert loaded["HOST"] == "postgres"
    assert loaded["BROKER"].startswith("redis://redis:")
    assert loaded["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    # The web healthcheck calls 127.0.0.1, which must be an allowed host.
    assert "127.0.0.1" in loaded["ALLOWED_HOSTS"]
    assert loaded["SECURE_SSL_REDIRECT"] is False
    # No proxy in this stack: a client-sent X-Forwarded-Proto must not be trusted by default.
    assert loaded["PROXY_HEADER"] == []


def test_it_migrates_then_serves_the_wsgi_app_with_gunicorn(services):
    command = command_text(services["web"])
    assert "manage.py migrate --noinput" in command
    assert command.index("migrate") < command.index("gunicorn")
    assert "cs_platform.wsgi:application" in command
    assert "0.0.0.0:8000" in command


@pytest.mark.parametrize("name, role", [("worker", "worker"), ("beat", "beat")])
def test_it_runs_celery_against_the_cs_platform_app(services, name, role):
    assert command_text(services[name]).startswith(f"celery -A cs_platform {role}")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_it_runs_app_services_from_the_project_image(services, name):
    assert services[name]["build"] == "."


def test_dockerfile_serves_the_wsgi_app_with_gunicorn_by_default():
    cmds = [
        line.split(None, 1)[1]
        for line in DOCKERFILE.read_text().splitlines()
        if line.upper().startswith("CMD ")
    ]
    assert cmds, "Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])  # exec form
    assert cmd[0] == "gunicorn"
    assert "cs_platform.wsgi:application" in cmd
    assert "0.0.0.0:8000" in " ".join(cmd)


def test_dockerfile_runs_as_a_non_root_user():
    users = [
        line.split()[1]
        for line in DOCKERFILE.read_text().splitlines()
        if line.upper().startswith("USER ")
    ]
    assert users and users[-1] not in {"root", "0"}
