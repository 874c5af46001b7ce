"""Settings come from the environment; a mistake stops start-up with one clear line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cs_platform import embedded

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-production-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "cs.example.com",
    "DATABASE_URL": "postgres://cs:secret@db.internal:5432/cs_platform",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "REDIS_URL": "redis://redis.internal:6379/1",
}


def run(args, env, tmp_path):
    base = {"PATH": os.environ["PATH"], "CS_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        args, cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def manage(*args, env, tmp_path):
    return run([sys.executable, "manage.py", *args], env, tmp_path)


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"DEBUG": "true", "DATABASE_URL": "not a url"}, "DATABASE_URL", "expected a URL"),
        ({"DEBUG": "true", "DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL", "postgres"),
        (
            {"DEBUG": "true", "DATABASE_URL": "postgres://u@h:5432/"},
            "DATABASE_URL",
            "names no database",
        ),
        (
            {"DEBUG": "true", "DATABASE_URL": "postgres://u@h:notaport/db"},
            "DATABASE_URL",
            "not a valid URL",
        ),
        ({"DEBUG": "maybe"}, "DEBUG", "expected a boolean"),
        ({"DEBUG": "false", "ALLOWED_HOSTS": "x"}, "SECRET_KEY", "required when DEBUG is off"),
        ({"DEBUG": "false", "SECRET_KEY": "short", "ALLOWED_HOSTS": "x"}, "SECRET_KEY", "32"),
        ({"DEBUG": "false", "SECRET_KEY": "k" * 40}, "ALLOWED_HOSTS", "required"),
        ({"DEBUG": "true", "CELERY_BROKER_URL": "http://broker"}, "CELERY_BROKER_URL", "redis"),
        ({"DEBUG": "true", "REDIS_URL": "localhost:6379"}, "REDIS_URL", "expected a URL"),
        ({"DEBUG": "true", "SECURE_HSTS_SECONDS": "soon"}, "SECURE_HSTS_SECONDS", "integer"),
        ({"DEBUG": "true", "LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "expected one of"),
        (
            {"DEBUG": "true", "DATABASE_URL": "postgres://u@[::1/db"},
            "DATABASE_URL",
            "not a valid URL",
        ),
        ({"DEBUG": "true", "REDIS_URL": "redis://[bad"}, "REDIS_URL", "not a valid URL"),
        ({"DEBUG": "true", "TIME_ZONE": "Mars/Olympus"}, "TIME_ZONE", "unknown time zone"),
        (
            {"DEBUG": "true", "ROLLUP_REBUILD_HOUR_UTC": "25"},
            "ROLLUP_REBUILD_HOUR_UTC",
            "at most 23",
        ),
        ({"DEBUG": "true", "CS_VAR_DIR": "/proc/nope"}, "CS_VAR_DIR", "cannot create folder"),
        ({"DEBUG": "true", "DEMO_ACCOUNTS": "0"}, "DEMO_ACCOUNTS", "at least 1"),
        (
            {"DEBUG": "false", "SECRET_KEY": "k" * 40, "ALLOWED_HOSTS": "x"},
            "DATABASE_URL",
            "required when DEBUG is off",
        ),
        (
            {
                "DEBUG": "false",
                "SECRET_KEY": "k" * 40,
                "ALLOWED_HOSTS": "x",
                "DATABASE_URL": "postgres://h/db",
            },
            "REDIS_URL",
            "required when DEBUG is off",
        ),
        (
            {"DEBUG": "true", "CELERY_BROKER_URL": "amqp://h:5672//"},
            "REDIS_URL",
            "required with a non-Redis CELERY_BROKER_URL",
        ),
    ],
)
def test_a_bad_variable_stops_start_up_naming_it(env, variable, reason, tmp_path):
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Configuration error: {variable}: ")
    assert reason in result.stderr


def test_the_worker_refuses_a_bad_variable_the_same_way(tmp_path):
    celery = str(Path(sys.executable).with_name("celery"))
    result = run(
        [celery, "-A", "cs_platform", "inspect", "ping"],
        {"DEBUG": "true", "DATABASE_URL": "nope"},
        tmp_path,
    )
    assert result.returncode == 2
    assert "Configuration error: DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_values_pass_the_deploy_check(tmp_path):
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_mode_needs_nothing_but_python(tmp_path):
    """`make run` defaults: the embedded PostgreSQL and Valkey, both under var/; the process
    that started them stops them when it exits."""
    probe = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "from django.db import connection; connection.ensure_connection(); "
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST'], "
        "connection.vendor, s.CELERY_BROKER_URL, s.CACHES['default']['BACKEND']]))"
    )
    result = run(
        [sys.executable, "-c", probe],
        {"DEBUG": "true", "DJANGO_SETTINGS_MODULE": "cs_platform.settings"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    engine, host, vendor, broker, cache = __import__("json").loads(result.stdout)
    assert engine == "cs_platform.postgresql" and vendor == "postgresql"
    assert host == str(tmp_path / "var" / "postgres")
    port = (tmp_path / "var" / "valkey" / "port").read_text()
    assert broker == f"redis://127.0.0.1:{port}/0"
    assert cache.endswith("RedisCache")
    assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists()
    assert embedded.valkey_port(tmp_path / "var") is None


def test_a_database_that_was_never_migrated_is_reported_in_one_line(tmp_path):
    result = manage("seed_demo", "--accounts=1", env={"DEBUG": "true"}, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Database error ({tmp_path / 'var' / 'postgres'} / ")


def test_an_unreachable_database_is_reported_in_one_line(tmp_path):
    env = {"DEBUG": "true", "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nowhere"}
    result = manage("migrate", env=env, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("Database error (127.0.0.1 / nowhere; check DATABASE_URL)")


@pytest.mark.parametrize(
    ("euid", "path", "expected"),
    [
        (0, "/usr/bin:/bin", "/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"),
        (0, "/usr/sbin:/usr/bin:/sbin", "/usr/sbin:/usr/bin:/sbin:/usr/local/sbin"),
        (1000, "/usr/bin:/bin", "/usr/bin:/bin"),  # only root makes the server's user
    ],
)
def test_root_finds_useradd_for_the_embedded_servers_user(monkeypatch, euid, path, expected):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    monkeypatch.setenv("PATH", path)
    embedded._find_useradd()
    assert os.environ["PATH"] == expected
