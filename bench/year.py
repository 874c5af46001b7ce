"""The year dataset: a year of history at any size, for the benchmarks that read history.

``health_validation`` and ``health_learn`` need what the issue states (10,000 accounts and a
year, churners with their history before they churned); the other benchmarks' data has 60
days above 1,000 accounts. The year lives in a database of its own beside the bench
database (``<name>_bench_year``), so neither dataset slows down or disturbs the other, and
``--keep-db`` keeps each.

It is the demo's simulation (``demo.simulation``, ``demo.behaviour``, ``demo.events``: the
same customers, usage, renewals and churn as ``seed_demo`` draws), written as
``demo.portfolio.build_demo_portfolio`` writes it except for the raw events: the measures
read the daily roll-ups, never events, so the roll-ups are counted from the simulated events
in numpy and written with COPY (``rollups``), and the event catalogue's rows from the same
counts (no weekly volume). At 1,000 accounts ``seed_demo``'s path spends half of its 56 s
writing the events and rebuilding the roll-ups from them; at 10,000 these would be 5.3
million events. The health history is then scored by the app itself
(``demo.history.build_history``: every account on the first of each month, the recent days,
each churner 14, 30 and 60 days before it churned), so snapshots are what scoring writes.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time

import numpy as np
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.catalogue import describe_event
from accounts.models import DailyAccountUsage, DailyContactUsage, DailyFeatureUsage, EventDefinition
from bench.data import PASSWORD, SEED, log, read_meta, write_meta
from bench.database import BenchDatabase, bench_database, ensure_exists, recreate, url_of
from bench.registry import Context
from bench.services import private_queue
from cs_platform.sql import copy_insert
from demo import behaviour, writer
from demo.contracts import write_contract_history
from demo.events import NAMES, Events, draw_events
from demo.history import build_history
from demo.journeys import write_journeys, write_success_plans
from demo.portfolio import CHUNK
from demo.simulation import KEY_EVENTS, Grid, draw_customers, generators
from demo.surveys import write_surveys_and_notes
from demo.users import demo_users, ensure_demo_users

DAYS = 365
SUFFIX = "_year"
GENERATOR = 1  # bump when the dataset's shape changes: --keep-db then regenerates it
DAY = 86_400


def _text(values) -> np.ndarray:
    return np.asarray(values).astype(str).astype(object)


def _copy(model, columns: list[str], *values) -> int:
    """COPY columns of equal length (numpy arrays) into ``model``'s table."""
    if not len(values[0]):
        return 0
    lines = _text(values[0])
    for column in values[1:]:
        lines = lines + "\t" + (column if column.dtype == object else _text(column))
    copy_insert(model, columns, io.StringIO("\n".join(lines.tolist()) + "\n"))
    return len(lines)


def rollups(events: Events, contact_ids: np.ndarray, owner: np.ndarray, account_ids) -> dict:
    """The three daily roll-ups of a chunk's events, as ``accounts.usage`` counts them (UTC
    days; an account-day's active contacts and distinct events are its contact and feature
    rows), written with COPY. ``owner``: each person's account row in ``account_ids``."""
    names = len(NAMES)
    day = events.at // DAY  # days since the epoch, UTC
    first = int(day.min()) if len(day) else 0
    day = day - first  # from the chunk's first day: keys stay small
    span = int(day.max()) + 1 if len(day) else 1
    dates = _text(np.datetime64("1970-01-01") + (first + np.arange(span)).astype("timedelta64[D]"))
    account = owner[events.person]

    contact_key, contact_n = np.unique(events.person * span + day, return_counts=True)
    person, contact_day = np.divmod(contact_key, span)
    feature_key, feature_n = np.unique(
        (account * span + day) * names + events.name, return_counts=True
    )
    feature_account_day, feature_name = np.divmod(feature_key, names)
    account_key, account_n = np.unique(account * span + day, return_counts=True)
    # Contact and feature rows per account-day, aligned with account_key (both sorted).
    contacts = np.bincount(
        np.searchsorted(account_key, owner[person] * span + contact_day), minlength=len(account_key)
    )
    features = np.bincount(
        np.searchsorted(account_key, feature_account_day), minlength=len(account_key)
    )
    ids = np.asarray(account_ids, dtype=np.int64)
    a_row, a_day = np.divmod(account_key, span)
    f_row, f_day = np.divmod(feature_account_day, span)
    return {
        "account_days": _copy(
            DailyAccountUsage,
            ["account_id", "date", "event_count", "active_contacts", "distinct_events"],
            ids[a_row], dates[a_day], account_n, contacts, features,
        ),
        "contact_days": _copy(
            DailyContactUsage,
            ["contact_id", "account_id", "date", "event_count"],
            contact_ids[person], ids[owner[person]], dates[contact_day], contact_n,
        ),
        "feature_days": _copy(
            DailyFeatureUsage,
            ["account_id", "date", "name", "event_count"],
            ids[f_row], dates[f_day], np.array(NAMES, dtype=object)[feature_name], feature_n,
        ),
    }  # fmt: skip


class Catalogue:
    """Per event name: events, first and last seen, accounts and users (the catalogue's
    usage columns), summed over the chunks."""

    def __init__(self):
        self.events = np.zeros(len(NAMES), dtype=np.int64)
        self.first = np.full(len(NAMES), np.iinfo(np.int64).max)
        self.last = np.full(len(NAMES), -1)
        self.accounts = np.zeros(len(NAMES), dtype=np.int64)
        self.users = np.zeros(len(NAMES), dtype=np.int64)

    def add(self, events: Events, owner: np.ndarray) -> None:
        self.events += np.bincount(events.name, minlength=len(NAMES))
        np.minimum.at(self.first, events.name, events.at)
        np.maximum.at(self.last, events.name, events.at)
        for key, total in ((owner[events.person], self.accounts), (events.person, self.users)):
            pairs = np.unique(key * len(NAMES) + events.name)
            total += np.bincount(pairs % len(NAMES), minlength=len(NAMES))

    def write(self) -> None:
        def seen(seconds) -> datetime:
            return datetime.fromtimestamp(int(seconds), UTC)

        EventDefinition.objects.bulk_create(
            EventDefinition(
                name=name,
                event_count=int(self.events[i]),
                account_count=int(self.accounts[i]),
                user_count=int(self.users[i]),
                first_seen_at=seen(self.first[i]),
                last_seen_at=seen(self.last[i]),
            )
            for i, name in enumerate(NAMES)
            if self.events[i]
        )
        for name in KEY_EVENTS:
            describe_event(name, key_feature=True, description="A key feature of the demo product.")


def build_year_portfolio(size: int, seed: int, as_of: date) -> dict:
    """``size`` customers over ``DAYS`` up to ``as_of``: accounts, contacts, roll-ups,
    contracts, journeys, surveys, milestones and the catalogue, in one transaction."""
    now = min(datetime.combine(as_of, day_time(hour=20), UTC), timezone.now())
    grid = Grid(as_of, DAYS)
    window_start = grid.day(grid.window_start)
    rngs = generators(seed, "engagement", "renewals", "events")
    counts = {"accounts": 0, "contacts": 0, "events": 0, "account_days": 0, "contact_days": 0,
              "feature_days": 0}  # fmt: skip
    catalogue = Catalogue()
    with transaction.atomic():
        ensure_demo_users(lambda _: PASSWORD)
        users = demo_users()
        customers = draw_customers(size, grid, seed)
        rows = []
        for start in range(0, len(customers), CHUNK):
            chunk = customers[start : start + CHUNK]
            walk = behaviour.engagement(chunk, grid, rngs["engagement"])
            behaviour.decide_renewals(behaviour.usage(chunk, walk, grid), grid, rngs["renewals"])
            use = behaviour.usage(chunk, walk, grid)
            personas = [p.persona for c in chunk for p in c.people]
            events = draw_events(use, personas, grid, now, rngs["events"])
            accounts = writer.write_accounts(chunk, seed, users, now)
            contact_ids = writer.write_contacts(accounts, chunk, events, seed, counts["contacts"])
            for key, n in rollups(events, contact_ids, use.owner, [a.pk for a in accounts]).items():
                counts[key] += n
            catalogue.add(events, use.owner)
            counts["contacts"] += len(contact_ids)
            counts["events"] += len(events)
            rows += accounts
            if (start // CHUNK) % 10 == 9:
                log(f"year data: {len(rows):,} of {size:,} accounts simulated")
        writer.link_parents(random.Random(f"parents-{seed}"), rows, customers)
        write_contract_history(random.Random(f"contracts-{seed}"), rows, now)
        stories = {a.pk: c.story for a, c in zip(rows, customers, strict=True)}
        values = {a.pk: c.value_ratio for a, c in zip(rows, customers, strict=True)}
        write_journeys(random.Random(f"journeys-{seed}"), rows, stories, now)
        write_surveys_and_notes(
            random.Random(f"surveys-{seed}"), rows, values, stories, window_start, now
        )
        write_success_plans(random.Random(f"plans-{seed}"), rows, window_start, now)
        catalogue.write()
    counts["accounts"] = len(rows)
    counts["churned"] = sum(c.churn_day is not None for c in customers)
    return counts


@contextlib.contextmanager
def switched_to(db: BenchDatabase):
    """This process's default connection (and ``DATABASE_URL``, for child processes) on
    ``db`` for the duration; back on the bench database afterwards."""
    settings_dict = connections["default"].settings_dict
    before, before_url = settings_dict["NAME"], os.environ.get("DATABASE_URL")
    connections.close_all()
    settings_dict["NAME"], os.environ["DATABASE_URL"] = db.name, db.url
    try:
        yield db
    finally:
        connections.close_all()
        settings_dict["NAME"] = before
        if before_url is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = before_url


_prepared: set[str] = set()  # year databases generated or checked by this process


def prepare_year(db: BenchDatabase, size: int, keep: bool) -> Context:
    """Migrate and fill ``db`` (already switched to) with the year at ``size`` accounts,
    once per process; with ``keep``, reuse data of the same shape from an earlier run."""
    meta = read_meta() if (keep or db.name in _prepared) else None
    shape = {"size": size, "days": DAYS, "seed": SEED, "generator": GENERATOR}
    if meta and {k: meta.get(k) for k in shape} != shape:
        log(f"year data: {db.name} holds other data ({meta.get('size')} accounts); regenerating")
        meta = None
    if meta is None:
        connections.close_all()
        recreate(db)
    call_command("migrate", verbosity=0, interactive=False)  # kept data: new migrations too
    if meta is None:
        as_of = date.today()
        log(f"year data: generating {size:,} accounts with {DAYS} days in {db.name}")
        started = time.perf_counter()
        counts = build_year_portfolio(size, SEED, as_of)
        log(f"year data: {counts} in {time.perf_counter() - started:.0f}s; scoring the history")
        with private_queue("bench-year"):  # today's colour changes queue playbook tasks
            history = build_history(as_of, as_of - timedelta(days=DAYS - 1))
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        meta = {**shape, "as_of": as_of.isoformat(), "counts": counts, "history": history}
        write_meta(meta)
        log(f"year data: ready in {time.perf_counter() - started:.0f}s: {history}")
    else:
        log(f"year data: reusing {meta['counts']} generated on {meta['as_of']}")
    _prepared.add(db.name)
    as_of = date.fromisoformat(meta["as_of"])
    return Context(size, DAYS, as_of, as_of - timedelta(days=DAYS - 1), keep=keep)


@contextlib.contextmanager
def year_data(ctx: Context):
    """The year dataset at ``ctx.size`` (``<bench database>_year``), switched to: yields
    its Context."""
    db = bench_database(url_of(connections["default"].settings_dict), suffix=SUFFIX)
    ensure_exists(db)
    with switched_to(db):
        yield prepare_year(db, ctx.size, ctx.keep)
