"""Colour changes evaluated against 50 enabled playbooks, in this process (issue 6: runs
created per second, and queries per change that must not grow with the number of accounts).

Setup (untimed): ``PLAYBOOKS`` enabled playbooks made by ``playbook_specs`` (46 on health colour
changes with various from/to colours, account conditions (plan, touch model, owner, ARR range,
stage, current colour) and cooldowns of 0, 1, 7 or 30 days; 4 on score drops, which the health
source also looks for), each with two actions (a task for the owner, a timeline note); one live
``HealthChange`` per account (``size`` changes: 10,000 at --size 10000), colours drawn among the
six moves; and, for cooldowns to bite, a run two days old of some cooldown playbooks on some
accounts (``PRIOR_SHARE`` of the pairs), kept across passes.

Subject: what the worker does for announced changes, ``playbooks.scans.evaluate_announced(
"health", ids)`` for the change ids in announced batches (as ``health_changed`` carries them, one
batch per scoring chunk), outside any transaction: each evaluation commits its runs and run
actions and, on commit, queues the first action of every run (to a private queue, purged after
each pass: no worker runs them). Measured at two batch sizes (``BATCHES``); queries are counted
with ``connection.execute_wrapper`` (no SQL kept) on every pass. Between passes (untimed) the runs
and run actions a pass made are deleted, so every pass creates the same runs.

Floor: the same number of rows as the runs a pass creates (fired and suppressed), with their
values, inserted by one ``executemany`` into a scratch table with the run's columns and unique
key, in one transaction: the writes the evaluation cannot avoid.

``seconds`` is the median pass at the larger batch; ``runs_per_second`` is runs fired per
second of it; ``queries_per_change_<B>`` and ``queries_per_batch_<B>`` at each batch size.
"""

import random
import statistics
import time
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import AccountStatus, TouchModel
from accounts.models import Account
from bench.data import log
from bench.registry import Case, Context, benchmark
from bench.services import discard_queue
from cs_platform import roles
from health.choices import Color
from health.models import HealthChange
from journeys.choices import Stage
from playbooks.choices import ActionKind, RunStatus, TriggerKind
from playbooks.models import Playbook, PlaybookAction, PlaybookRun, RunAction
from playbooks.scans import evaluate_announced

PLAYBOOKS = 50
SCORE_DROP_PLAYBOOKS = 4
BATCHES = (100, 500)  # change ids per announcement
MAX_REPEAT = 3  # timed passes per batch size at most (a pass at 10,000 changes takes seconds)
PRIOR_SHARE = 0.03  # of (cooldown playbook, account) pairs with a run two days old
SEED = 11
TAG = "bench-throughput-"
PRIOR = "bench-prior:"  # occurrence keys of the cooldown history
MOVES = [(a, b) for a in Color.values for b in Color.values if a != b]
COOLDOWNS = [0, 1, 7, 7, 30]
FLOOR_TABLE = "bench_run_floor"


def playbook_specs(
    rng: random.Random, plans, owners, count=PLAYBOOKS, drops=SCORE_DROP_PLAYBOOKS
) -> list[dict]:
    """``count`` playbook definitions (dicts of Playbook fields, plus ``owners``): colour-change
    triggers on one or two moves with one or two account conditions each (the first none),
    then ``drops`` score-drop triggers. Deterministic for a seeded ``rng``."""
    conditions = [
        lambda: {},
        lambda: {"plans": rng.sample(plans, min(len(plans), rng.choice([1, 2])))},
        lambda: {"touch_models": [rng.choice(TouchModel.values)]},
        lambda: {"owners": [rng.choice(owners)]} if owners else {},
        lambda: {"arr_min": rng.choice([10_000, 50_000])},
        lambda: {"arr_max": rng.choice([20_000, 100_000])},
        lambda: {"stages": rng.sample(Stage.values, 2)},
        lambda: {"health_colors": [rng.choice(Color.values)]},
    ]
    specs = []
    for index in range(count - drops):
        moves = rng.sample(MOVES, rng.choice([1, 1, 1, 2]))
        spec = {
            "name": f"{TAG}{index:02d}",
            "trigger_kind": TriggerKind.HEALTH_COLOR_CHANGED,
            "trigger_params": {
                "from_colors": sorted({a for a, _ in moves}),
                "to_colors": sorted({b for _, b in moves}),
            },
            "cooldown_days": rng.choice(COOLDOWNS),
        }
        for _ in range(rng.choice([1, 2, 2])):  # the first playbook has no condition at all
            spec.update(rng.choice(conditions[1:])() if index else {})
        specs.append(spec)
    for index in range(count - drops, count):
        specs.append(
            {
                "name": f"{TAG}{index:02d}",
                "trigger_kind": TriggerKind.SCORE_DROPPED,
                "trigger_params": {"points": rng.choice([5, 10, 20]), "days": rng.choice([7, 30])},
                "cooldown_days": 7,
            }
        )
    return specs


def create_playbooks(specs) -> list[Playbook]:
    User = get_user_model()
    made = []
    for spec in specs:
        spec = dict(spec)
        owners = spec.pop("owners", [])
        playbook = Playbook.objects.create(enabled=True, **spec)
        if owners:
            playbook.owners.set(User.objects.filter(username__in=owners))
        PlaybookAction.objects.bulk_create(
            [
                PlaybookAction(
                    playbook=playbook, position=0, kind=ActionKind.CREATE_TASK,
                    params={"title": "Check in with {{ account.name }}", "due_in_days": 3},
                ),
                PlaybookAction(
                    playbook=playbook, position=1, kind=ActionKind.ADD_NOTE,
                    params={"body": "Playbook {{ run.playbook }} fired"},
                ),
            ]
        )  # fmt: skip
        made.append(playbook)
    return made


def chunks(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class QueryCounter:
    """Counts the queries run through the connection (``execute_wrapper``: no SQL is kept)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@benchmark("playbook_throughput")
def playbook_throughput(ctx: Context) -> Case:
    from celery import current_app

    rng = random.Random(SEED)
    tag = f"{TAG}{uuid.uuid4().hex[:10]}"
    queue = tag
    before_queue = current_app.conf.task_default_queue
    User = get_user_model()
    plans = sorted(set(Account.objects.values_list("plan", flat=True).order_by()) - {""})
    owners = sorted(u.username for u in User.objects.all() if roles.user_roles(u) == {roles.CSM})
    state = {"playbooks": [], "changes": [], "floor_table": False, "runs_from": None}
    qn = connection.ops.quote_name
    run_table, action_table = qn(PlaybookRun._meta.db_table), qn(RunAction._meta.db_table)

    def reset():
        """Delete the runs (and run actions) the passes made; the cooldown history stays."""
        if state["runs_from"] is None:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {action_table} WHERE run_id IN (SELECT id FROM {run_table}"
                " WHERE id > %s)",
                [state["runs_from"]],
            )
            cursor.execute(f"DELETE FROM {run_table} WHERE id > %s", [state["runs_from"]])

    def teardown():
        current_app.conf.task_default_queue = before_queue
        reset()
        ids = [p.pk for p in state["playbooks"]]
        if ids:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {action_table} WHERE run_id IN (SELECT id FROM {run_table}"
                    f" WHERE playbook_id IN ({', '.join(['%s'] * len(ids))}))",
                    ids,
                )
                cursor.execute(
                    f"DELETE FROM {run_table} WHERE playbook_id IN "
                    f"({', '.join(['%s'] * len(ids))})",
                    ids,
                )
            Playbook.objects.filter(pk__in=ids).delete()
        for part in chunks(state["changes"], 5000):
            HealthChange.objects.filter(pk__in=part).delete()
        if state["floor_table"]:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        discard_queue(queue)

    try:
        current_app.conf.task_default_queue = queue  # first actions queued here, then purged
        playbooks = state["playbooks"] = create_playbooks(playbook_specs(rng, plans, owners))
        accounts = list(
            Account.objects.filter(status=AccountStatus.ACTIVE)
            .order_by("id")
            .values_list("id", flat=True)
        )
        accounts = (accounts * (ctx.size // max(len(accounts), 1) + 1))[: ctx.size]
        now = timezone.now()
        moves = [rng.choice(MOVES) for _ in accounts]
        made = HealthChange.objects.bulk_create(
            [
                HealthChange(
                    account_id=account_id,
                    changed_at=now - timedelta(seconds=rng.randint(0, 3600)),
                    from_color=a,
                    to_color=b,
                    from_score={"green": 80.0, "yellow": 55.0, "red": 30.0}[a],
                    to_score={"green": 80.0, "yellow": 55.0, "red": 30.0}[b],
                    explanation=f"{b.capitalize()}: {tag}",
                )
                for account_id, (a, b) in zip(accounts, moves, strict=True)
            ],
            batch_size=2000,
        )
        state["changes"] = sorted(c.pk for c in made)
        prior = [
            PlaybookRun(
                playbook=p, account_id=account_id, occurrence_key=f"{PRIOR}{p.pk}:{account_id}",
                trigger_kind=p.trigger_kind, occurred_at=now - timedelta(days=2),
                status=RunStatus.SUCCEEDED, explanation="bench cooldown history",
                created_at=now - timedelta(days=2), finished_at=now - timedelta(days=2),
            )
            for p in playbooks
            if p.cooldown_days
            for account_id in set(accounts)
            if rng.random() < PRIOR_SHARE
        ]  # fmt: skip
        PlaybookRun.objects.bulk_create(prior, batch_size=2000)
        state["runs_from"] = PlaybookRun.objects.order_by("-id").values_list("id", flat=True)[0]
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
            cursor.execute(
                f"CREATE TABLE {FLOOR_TABLE} (id integer PRIMARY KEY GENERATED BY DEFAULT AS"
                " IDENTITY, playbook_id bigint NOT NULL, account_id bigint NOT NULL,"
                " occurrence_key varchar(255) NOT NULL, trigger_kind varchar(30) NOT NULL,"
                " occurred_at timestamp NOT NULL, status varchar(12) NOT NULL,"
                " explanation text NOT NULL, facts text NOT NULL, claim varchar(32) NOT NULL,"
                " created_at timestamp NOT NULL, finished_at timestamp NULL,"
                " UNIQUE (playbook_id, occurrence_key))"
            )
            state["floor_table"] = True
        log(
            f"playbook_throughput: {len(playbooks)} playbooks, {len(state['changes']):,} colour "
            f"changes, {len(prior):,} runs of cooldown history"
        )
    except BaseException:
        teardown()
        raise

    change_ids = state["changes"]

    def one_pass(batch: int) -> dict:
        """Evaluate every change in announced batches; time, queries, and what it did."""
        counter = QueryCounter()
        totals = {"fired": 0, "suppressed": 0, "repeated": 0, "matched": 0}
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            for ids in chunks(change_ids, batch):
                result = evaluate_announced("health", ids)
                totals["fired"] += len(result.fired)
                for key in ("suppressed", "repeated", "matched"):
                    totals[key] += getattr(result, key)
            seconds = time.perf_counter() - started
        discard_queue(queue)  # the first actions it queued: no worker here runs them
        return {"seconds": seconds, "queries": counter.count, **totals}

    def floor_rows() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT playbook_id, account_id, occurrence_key, trigger_kind, occurred_at,"
                f" status, explanation, facts, claim, created_at, finished_at FROM {run_table}"
                " WHERE id > %s ORDER BY id",
                [state["runs_from"]],
            )
            rows = cursor.fetchall()

        # facts (jsonb) comes as text: Django has psycopg2 hand jsonb over undecoded.
        adapt = connection.ops.adapt_datetimefield_value
        return [(*r[:4], adapt(r[4]), *r[5:9], adapt(r[9]), adapt(r[10])) for r in rows]

    insert = (
        f"INSERT INTO {FLOOR_TABLE} (playbook_id, account_id, occurrence_key, trigger_kind,"
        " occurred_at, status, explanation, facts, claim, created_at, finished_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )

    def floor(rows) -> float:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {FLOOR_TABLE}")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, rows)
        return time.perf_counter() - started

    def custom(repeat: int) -> dict:
        reset()
        warm = one_pass(BATCHES[-1])  # untimed: caches, plans; and the floor's rows
        rows = floor_rows()
        floor(rows)
        passes = {b: [] for b in BATCHES}
        floors = []
        for _ in range(min(repeat, MAX_REPEAT)):
            for batch in BATCHES:
                reset()
                passes[batch].append(one_pass(batch))
            floors.append(floor(rows))
        reset()
        for batch, done in passes.items():
            if any((d["fired"], d["suppressed"]) != (warm["fired"], warm["suppressed"])
                   for d in done):  # fmt: skip
                raise RuntimeError(f"playbook_throughput: passes at batch {batch} differ: {done}")
        main = passes[BATCHES[-1]]
        seconds = statistics.median(d["seconds"] for d in main)
        floor_seconds = statistics.median(floors)
        changes = len(change_ids)
        fields = {
            "seconds": seconds,
            "floor_seconds": floor_seconds,
            "repeat": len(main),
            "changes": changes,
            "playbooks": len(state["playbooks"]),
            "fired": warm["fired"],
            "suppressed": warm["suppressed"],
            "matched": warm["matched"],
            "runs_per_second": round(warm["fired"] / seconds, 1),
            "rows_per_second": round((warm["fired"] + warm["suppressed"]) / seconds, 1),
            "changes_per_second": round(changes / seconds, 1),
            "floor_rows_per_second": round(len(rows) / floor_seconds, 1) if floor_seconds else None,
        }
        for batch, done in passes.items():
            queries = done[0]["queries"]
            fields[f"seconds_{batch}"] = round(statistics.median(d["seconds"] for d in done), 4)
            fields[f"queries_{batch}"] = queries
            fields[f"queries_per_change_{batch}"] = round(queries / changes, 3)
            fields[f"queries_per_batch_{batch}"] = round(queries / -(-changes // batch), 1)
        return fields

    return Case(custom=custom, teardown=teardown)
