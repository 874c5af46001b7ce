"""The benchmark harness's own logic, without generating data or running a benchmark."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import configure_environment, parse_args
from bench.database import bench_database
from bench.registry import BENCHMARKS, Case, as_case, benchmark
from bench.runner import measure, result_line

REPO = Path(__file__).resolve().parents[2]
FIELDS = {
    "name", "size", "days", "seconds", "floor_seconds", "ratio", "peak_mib", "floor_peak_mib",
    "repeat", "db",
}  # fmt: skip


def test_postgres_bench_database_is_a_sibling_on_the_same_server():
    db = bench_database("postgres://ana:s%40cret@db.internal:6543/cs?sslmode=require", Path("/v"))
    assert db.vendor == "postgresql"
    assert db.name == "cs_bench"
    assert db.url == "postgres://ana:s%40cret@db.internal:6543/cs_bench?sslmode=require"
    assert db.admin_url == "postgresql://ana:s%40cret@db.internal:6543/postgres?sslmode=require"


def test_pgsql_alias_gets_a_libpq_scheme_for_the_maintenance_connection():
    db = bench_database("pgsql://postgres@127.0.0.1/test", Path("/v"))
    assert db.url == "pgsql://postgres@127.0.0.1/test_bench"
    assert db.admin_url.startswith("postgresql://")


@pytest.mark.parametrize("url", [None, "", "sqlite:////srv/data/cs_platform.sqlite3"])
def test_sqlite_bench_database_is_its_own_file_in_the_var_dir(url, tmp_path):
    db = bench_database(url, tmp_path)
    assert db.vendor == "sqlite"
    assert db.name == str(tmp_path / "bench.sqlite3")
    assert db.url == f"sqlite:///{tmp_path / 'bench.sqlite3'}"


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://root@localhost/cs", "unsupported"), ("postgres://postgres@localhost", "names no")],
)
def test_unusable_database_urls_are_refused(url, message):
    with pytest.raises(ValueError, match=message):
        bench_database(url, Path("/v"))


def test_environment_points_at_the_bench_database_and_keeps_what_is_set():
    db = bench_database("postgres://postgres@127.0.0.1:5432/test", Path("/v"))
    env = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test", "ALLOWED_HOSTS": "a.example"}
    configure_environment(db, env)
    assert env["DATABASE_URL"].endswith("/test_bench")
    assert env["DEBUG"] == "false"
    assert len(env["SECRET_KEY"]) >= 32
    assert env["ALLOWED_HOSTS"] == "a.example,testserver"
    assert env["SECURE_SSL_REDIRECT"] == "false"


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
        "fake", subject, lambda: advance(0.1), size=7, days=120, repeat=3, db="sqlite", clock=clock
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
        "sqlite",
    )


def test_a_floor_too_fast_for_the_clock_gives_no_ratio():
    clock, advance = fake_clock()
    result = measure(
        "x", lambda: advance(1), lambda: None, size=1, days=1, repeat=1, db="sqlite", clock=clock
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
