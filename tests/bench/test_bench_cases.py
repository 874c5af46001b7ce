"""Custom and extra results, skips, tolerant discovery, percentiles, and the health benchmarks'
pure helpers: without generating data or running a benchmark."""

import io
import json
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.registry import Case, Context, SkipBenchmark, benchmark, discover
from bench.runner import STANDARD_FIELDS, custom_result, percentile, run_case

CTX = Context(size=3, days=120, as_of=date(2026, 3, 2), start=date(2025, 11, 3), db="postgresql")


def fake_clock():
    now = [0.0]

    def advance(seconds):
        now[0] += seconds

    return (lambda: now[0]), advance


def test_a_case_needs_a_timed_pair_or_custom_but_not_both():
    with pytest.raises(ValueError, match="subject and a floor"):
        Case(subject=lambda: 1)
    with pytest.raises(ValueError, match="measures itself"):
        Case(subject=lambda: 1, floor=lambda: 2, custom=lambda repeat: {})
    assert Case(custom=lambda repeat: {}).subject is None


def test_a_custom_result_has_the_standard_fields_first_then_its_own():
    seen = []

    def custom(repeat):
        seen.append(repeat)
        return {"seconds": 1.5, "floor_seconds": 0.5, "p50": 0.9, "repeat": 30, "samples": 30}

    result = run_case("lat", Case(custom=custom), size=3, days=120, repeat=5, db="postgresql")
    assert seen == [5]
    assert list(result)[: len(STANDARD_FIELDS)] == list(STANDARD_FIELDS)
    assert result["ratio"] == pytest.approx(3.0)
    assert (result["repeat"], result["p50"], result["samples"]) == (30, 0.9, 30)
    assert result["peak_mib"] is None and result["floor_peak_mib"] is None
    json.loads(json.dumps(result))


def test_a_custom_result_without_both_times_is_refused():
    with pytest.raises(ValueError, match="floor_seconds"):
        custom_result("x", {"seconds": 1.0}, size=1, days=1, repeat=1, db="postgresql")


def test_extra_fields_are_added_from_the_measured_result_and_may_not_overwrite():
    clock, advance = fake_clock()
    case = Case(
        subject=lambda: advance(0.4),
        floor=lambda: advance(0.1),
        extra=lambda result: {"rps_ratio": round(result["floor_seconds"] / result["seconds"], 2)},
    )
    result = run_case("http", case, size=1, days=1, repeat=3, db="postgresql", clock=clock)
    assert result["rps_ratio"] == 0.25
    assert list(result)[-1] == "rps_ratio"

    clash = Case(subject=lambda: None, floor=lambda: None, extra=lambda r: {"ratio": 1})
    with pytest.raises(ValueError, match="overwrite ratio"):
        run_case("x", clash, size=1, days=1, repeat=1, db="postgresql")


def test_teardown_runs_when_the_measurement_fails():
    torn = []

    def boom(repeat):
        raise RuntimeError("the worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        run_case(
            "x", Case(custom=boom, teardown=lambda: torn.append(1)), size=1, days=1, repeat=1,
            db="postgresql",
        )  # fmt: skip
    assert torn == [1]


def test_a_skipped_benchmark_prints_no_line_and_the_next_one_runs(capsys):
    from bench.cli import run

    def skipped(ctx):
        raise SkipBenchmark("needs a Redis broker")

    def ran(ctx):
        return Case(custom=lambda repeat: {"seconds": 2.0, "floor_seconds": 1.0})

    out = io.StringIO()
    run({"a": skipped, "b": ran}, ["a", "b"], CTX, 3, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["name"] for line in lines] == ["b"]
    assert lines[0]["ratio"] == 2.0
    assert "a: skipped: needs a Redis broker" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("q", "expected"), [(0, 1.0), (50, 2.5), (95, 3.85), (100, 4.0)]
)  # fmt: skip
def test_percentile_interpolates_between_ranks_like_numpy(q, expected):
    assert percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(expected)


def test_percentile_refuses_nothing_and_out_of_range():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_a_module_that_fails_to_import_leaves_out_only_its_benchmarks(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.registry.BENCHMARKS", {})
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a_broken.py").write_text("from accounts.views import NO_SUCH_NAME\n")
    (package / "b_fine.py").write_text(
        "from bench.registry import benchmark\n"
        "@benchmark('fine')\n"
        "def fine(ctx):\n"
        "    return (lambda: 1), (lambda: 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import fakebench

    errors = []
    found = discover(fakebench, on_error=lambda name, exc: errors.append((name, type(exc))))
    assert list(found) == ["fine"]
    assert errors == [("fakebench.a_broken", ImportError)]
    with pytest.raises(ImportError):
        discover(fakebench)  # without on_error the error is the caller's
    for name in [m for m in sys.modules if m.startswith("fakebench")]:
        monkeypatch.delitem(sys.modules, name)


def test_the_registry_still_refuses_duplicates_of_custom_cases(monkeypatch):
    monkeypatch.setattr("bench.registry.BENCHMARKS", {})

    @benchmark("custom")
    def setup(ctx):
        return Case(custom=lambda repeat: {"seconds": 1, "floor_seconds": 1})

    with pytest.raises(ValueError, match="twice"):
        benchmark("custom")(setup)


# --- The health benchmarks' helpers ---------------------------------------------------------


def test_the_top_up_aims_at_a_thousand_events_per_account():
    from bench.benchmarks.health import events_per_contact

    # The 10,000-account demo: 3.29 M events, 97,197 active contacts to spread 6.7 M over.
    per_contact = events_per_contact(10_000, 3_286_857, 97_197)
    assert per_contact == 70
    assert 10_000_000 <= 3_286_857 + per_contact * 97_197 < 10_100_000
    assert events_per_contact(50, 60_000, 500) == 0  # already there: nothing added
    assert events_per_contact(50, 0, 0) == 0


def test_latency_benchmark_is_skipped_without_a_redis_broker(settings):
    from bench.benchmarks.health_latency import health_incremental_latency

    settings.CELERY_BROKER_URL = "filesystem://"
    with pytest.raises(SkipBenchmark, match="Redis"):
        health_incremental_latency(CTX)


@pytest.fixture
def http_server():
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, unlike gunicorn's sync workers

        def do_GET(self):  # noqa: N802
            status = 200 if self.path.startswith("/ok") else 500
            body = b'{"ok": true}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_load_gets_every_path_from_its_threads_and_fails_on_an_error(http_server):
    from bench.benchmarks.health_endpoint import Load

    load = Load(http_server, {"Authorization": "Bearer x"}, threads=3)
    try:
        assert load.get([f"/ok/{i}" for i in range(20)]) == 20
        assert load.get(["/ok"] * 5) == 5  # the same connections, again
        with pytest.raises(RuntimeError, match="answered 500"):
            load.get(["/ok", "/bad"])
    finally:
        load.close()


def test_the_rss_probe_needs_a_module_and_a_function(capsys):
    from bench.rss import main

    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
