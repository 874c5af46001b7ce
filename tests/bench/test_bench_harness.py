"""The benchmark harness's own logic, without generating data or running a benchmark."""

import json
import subprocess
import sys
from pathlib import Path

import dj_database_url
import pytest

from bench.cli import configure_environment, parse_args, use_bench_database
from bench.database import bench_database, url_of
from bench.registry import BENCHMARKS, Case, as_case, benchmark
from bench.runner import measure, result_line

REPO = Path(__file__).resolve().parents[2]
FIELDS = {
    "name", "size", "days", "seconds", "floor_seconds", "ratio", "peak_mib", "floor_peak_mib",
    "repeat", "db",
}  # fmt: skip


def test_postgres_bench_database_is_a_sibling_on_the_same_server():
    db = bench_database("postgres://ana:s%40cret@db.internal:6543/cs?sslmode=require")
    assert db.name == "cs_bench"
    assert db.url == "postgres://ana:s%40cret@db.internal:6543/cs_bench?sslmode=require"
    assert db.admin_url == "postgresql://ana:s%40cret@db.internal:6543/postgres?sslmode=require"


def test_pgsql_alias_gets_a_libpq_scheme_for_the_maintenance_connection():
    db = bench_database("pgsql://postgres@127.0.0.1/test")
    assert db.url == "pgsql://postgres@127.0.0.1/test_bench"
    assert db.admin_url.startswith("postgresql://")


def test_the_settings_default_database_becomes_a_url_the_children_can_use():
    # The embedded server: a Unix socket directory as the host.
    config = {
        "ENGINE": "cs_platform.postgresql", "NAME": "cs_platform", "USER": "postgres",
        "PASSWORD": "", "HOST": "/work/Main/var/postgres", "PORT": "5432", "OPTIONS": {},
    }  # fmt: skip
    url = url_of(config)
    assert url == "postgres://postgres@%2Fwork%2FMain%2Fvar%2Fpostgres:5432/cs_platform"
    parsed = dj_database_url.parse(bench_database(url).url)
    assert (parsed["HOST"], parsed["PORT"], parsed["NAME"]) == (
        "/work/Main/var/postgres",
        5432,
        "cs_platform_bench",
    )
    assert bench_database(url).admin_url == (
        "postgresql://postgres@%2Fwork%2FMain%2Fvar%2Fpostgres:5432/postgres"
    )
    password = {**config, "HOST": "db", "PASSWORD": "s@cret", "OPTIONS": {"sslmode": "require"}}
    assert url_of(password) == "postgres://postgres:s%40cret@db:5432/cs_platform?sslmode=require"


def test_a_default_database_that_is_not_postgresql_is_refused():
    with pytest.raises(ValueError, match="not PostgreSQL"):
        url_of({"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/cs", "expected a postgres:// URL"),
        ("sqlite:////srv/data/cs_platform.sqlite3", "expected a postgres:// URL"),
        ("postgres://postgres@localhost", "names no"),
    ],
)
def test_unusable_database_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        bench_database(url)


def test_environment_points_at_the_bench_database_and_keeps_what_is_set():
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test", "ALLOWED_HOSTS": "a.example"}
    configure_environment(env)
    assert use_bench_database(env).name == "test_bench"
    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/test_bench"
    assert env["DEBUG"] == "false"
    assert len(env["SECRET_KEY"]) >= 32
    assert env["ALLOWED_HOSTS"] == "a.example,testserver"
    assert env["SECURE_SSL_REDIRECT"] == "false"


def test_without_database_url_the_bench_database_is_beside_the_settings_default(monkeypatch):
    from django.conf import settings

    default = {
        "ENGINE": "cs_platform.postgresql", "NAME": "cs_platform", "USER": "postgres",
        "PASSWORD": "", "HOST": "/srv/var/postgres", "PORT": "5432", "OPTIONS": {},
    }  # fmt: skip
    # The live connections keep their own entry: only what the bench reads is replaced.
    monkeypatch.setitem(settings.DATABASES, "default", default)
    env = {}
    assert use_bench_database(env).name == "cs_platform_bench"
    assert (
        env["DATABASE_URL"] == "postgres://postgres@%2Fsrv%2Fvar%2Fpostgres:5432/cs_platform_bench"
    )
    assert default["NAME"] == "cs_platform_bench"  # this process, before it connects


def test_size_comes_from_bench_size_unless_given(monkeypatch):
    monkeypatch.setenv("BENCH_SIZE", "1200")
    assert parse_args([])[1].size == 1200
    assert parse_args(["--size", "40"])[1].size == 40
    monkeypatch.delenv("BENCH_SIZE")
    assert parse_args([])[1].size == 300


@pytest.mark.parametrize("value", ["abc", "0"])
def test_bad_size_is_a_one_line_error_naming_the_option(value):
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--size", value],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "argument --size" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def fake_clock():
    """A clock the fake callables advance, so timings are exact."""
    now = [0.0]

    def advance(seconds):
        now[0] += seconds

    return (lambda: now[0]), advance


def test_measure_reports_the_median_ratio_and_peak_memory():
    clock, advance = fake_clock()
    subject_costs = iter([9.0] + [0.3, 0.5, 0.3])  # warm-up (not counted), then the runs

    def subject():
        advance(next(subject_costs, 0.0))  # the memory run comes last: free
        return bytearray(3 * 1024 * 1024)

    result = measure(
        "fake",
        subject,
        lambda: advance(0.1),
        size=7,
        days=120,
        repeat=3,
        db="postgresql",
        clock=clock,
    )
    line = result_line(result)
    assert "\n" not in line
    parsed = json.loads(line)
    assert set(parsed) == FIELDS
    assert parsed["seconds"] == pytest.approx(0.3)
    assert parsed["floor_seconds"] == pytest.approx(0.1)
    assert parsed["ratio"] == pytest.approx(3.0)
    assert parsed["peak_mib"] >= 3 > parsed["floor_peak_mib"]
    assert (parsed["name"], parsed["size"], parsed["repeat"], parsed["db"]) == (
        "fake",
        7,
        3,
        "postgresql",
    )


def test_a_floor_too_fast_for_the_clock_gives_no_ratio():
    clock, advance = fake_clock()
    result = measure(
        "x",
        lambda: advance(1),
        lambda: None,
        size=1,
        days=1,
        repeat=1,
        db="postgresql",
        clock=clock,
    )
    assert result["ratio"] is None
    json.loads(result_line(result))


def test_registry_accepts_a_pair_and_refuses_duplicate_names(monkeypatch):
    monkeypatch.setattr("bench.registry.BENCHMARKS", {})
    from bench import registry

    @benchmark("pair")
    def setup(ctx):
        return (lambda: 1), (lambda: 2)

    assert list(registry.BENCHMARKS) == ["pair"]
    case = as_case(registry.BENCHMARKS["pair"](None))
    assert isinstance(case, Case)
    assert (case.subject(), case.floor(), case.teardown) == (1, 2, None)
    with pytest.raises(ValueError, match="twice"):
        benchmark("pair")(setup)
    assert "pair" not in BENCHMARKS  # the real registry is untouched
