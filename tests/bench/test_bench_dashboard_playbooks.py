"""Pure pieces of the dashboard and playbook benchmarks: groups for --only, the list's request
variants, the playbooks of the throughput run, the webhook receiver's signature check."""

import json
import random
import time
import urllib.request

import pytest

from bench.registry import expand, group


def test_a_group_expands_to_its_members_in_order_without_duplicates():
    groups = {"pages": ("p_list", "p_360", "p_home")}
    assert expand(["pages"], groups) == ["p_list", "p_360", "p_home"]
    assert expand(["p_360", "pages", "other"], groups) == ["p_360", "p_list", "p_home", "other"]
    assert expand([], groups) == []


def test_a_group_may_not_take_a_benchmark_name(monkeypatch):
    from bench import registry

    monkeypatch.setattr(registry, "BENCHMARKS", {"taken": lambda ctx: None})
    monkeypatch.setattr(registry, "GROUPS", {})
    with pytest.raises(ValueError, match="clashes"):
        group("taken", ["a"])
    group("fresh", ["a", "b"])
    group("fresh", ["a", "b"])  # re-registering the same group (a re-import) is harmless
    with pytest.raises(ValueError, match="clashes"):
        group("fresh", ["c"])


def test_dashboard_pages_is_a_group_of_one_benchmark_per_page():
    from bench.benchmarks.dashboard_pages import PAGES
    from bench.registry import BENCHMARKS, GROUPS

    assert GROUPS["dashboard_pages"] == PAGES
    assert set(PAGES) <= set(BENCHMARKS)
    assert "home_page_render" not in BENCHMARKS


def test_list_variants_vary_sort_page_and_filters_and_keep_a_csm_in_their_book():
    from bench.benchmarks.dashboard_pages import SORT_KEYS, list_variants

    choices = {"color": ["green", "red"], "plan": ["Growth"], "q": ["acme"]}
    mine = list_variants(random.Random(1), 200, choices, pages=7, mine=True)
    team = list_variants(random.Random(1), 200, choices, pages=7, mine=False)
    assert all(v["book"] == "mine" for v in mine)
    assert all("book" not in v for v in team)
    assert {v["sort"].lstrip("-") for v in team} == set(SORT_KEYS)
    assert any(v["sort"].startswith("-") for v in team)
    assert {int(v["page"]) for v in team if "page" in v} <= set(range(1, 8))
    assert any("page" not in v for v in team)  # the first page too
    filtered = [set(v) - {"sort", "page", "book"} for v in team]
    assert any(not f for f in filtered) and any(len(f) == 2 for f in filtered)
    assert all(v[k] in choices[k] for v in team for k in v if k in choices)
    assert list_variants(random.Random(1), 5, choices, 7, False) == team[:5]


def test_the_throughput_playbooks_are_fifty_mixed_and_valid():
    from bench.benchmarks.playbook_throughput import MOVES, PLAYBOOKS, playbook_specs
    from playbooks.choices import TriggerKind
    from playbooks.triggers import TRIGGERS

    specs = playbook_specs(random.Random(11), ["Growth", "Starter"], ["maya", "sam"])
    assert len(specs) == PLAYBOOKS == 50
    assert len({s["name"] for s in specs}) == 50
    kinds = [s["trigger_kind"] for s in specs]
    assert kinds.count(TriggerKind.SCORE_DROPPED) == 4
    colour = [s for s in specs if s["trigger_kind"] == TriggerKind.HEALTH_COLOR_CHANGED]
    for spec in colour:
        params = spec["trigger_params"]
        assert any(a in params["from_colors"] and b in params["to_colors"] for a, b in MOVES)
        form = TRIGGERS[spec["trigger_kind"]].params_form(params)
        assert form.is_valid(), form.errors
    assert {s["cooldown_days"] for s in specs} >= {0, 7, 30}
    conditioned = [s for s in colour if set(s) - {"name", "trigger_kind", "trigger_params",
                                                   "cooldown_days"}]  # fmt: skip
    assert 0 < len(conditioned) < len(colour)  # some match every account, most do not
    assert playbook_specs(random.Random(11), ["Growth", "Starter"], ["maya", "sam"]) == specs


def test_the_webhook_receiver_accepts_the_platforms_signature_and_refuses_others():
    from bench.benchmarks.playbook_latency import Receiver
    from playbooks.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    receiver = Receiver("s3cret")
    url = receiver.start()
    try:

        def post(account_id, secret):
            body = json.dumps({"account": {"id": account_id}}).encode()
            stamp = str(int(time.time()))
            request = urllib.request.Request(url, data=body, method="POST")
            request.add_header(TIMESTAMP_HEADER, stamp)
            request.add_header(SIGNATURE_HEADER, sign(secret, stamp, body))
            try:
                return urllib.request.urlopen(request, timeout=5).status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post(7, "s3cret") == 200
        assert receiver.wait(7, timeout=5) > 0
        assert receiver.verified == 1
        assert post(8, "wrong") == 401
        with pytest.raises(RuntimeError, match="refused a webhook"):
            receiver.wait(8, timeout=5)
    finally:
        receiver.stop()


def test_the_latency_benchmark_is_skipped_without_a_redis_broker(settings):
    from bench.benchmarks.playbook_latency import playbook_latency
    from bench.registry import Context, SkipBenchmark

    settings.CELERY_BROKER_URL = "filesystem://"
    ctx = Context(size=3, days=120, as_of=None, start=None, db="postgresql")
    with pytest.raises(SkipBenchmark, match="Redis"):
        playbook_latency(ctx)


def test_the_query_counter_counts_without_keeping_sql():
    from bench.benchmarks.playbook_throughput import QueryCounter, chunks

    counter = QueryCounter()
    calls = []
    for _ in range(3):
        counter(lambda *a: calls.append(a), "SELECT 1", (), False, {})
    assert counter.count == 3 and len(calls) == 3
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
