"""The bench data: a demo portfolio of the chosen size, generated in the bench database.

Imported only after django.setup().
"""

import json
import sys
import time
from datetime import date, timedelta

from django.core.management import call_command
from django.db import DatabaseError, connection, connections

from bench.database import BenchDatabase, ensure_exists, recreate
from bench.registry import Context
from demo.portfolio import build_demo_portfolio

SEED = 1  # fixed: the same size gives the same portfolio, so runs compare
PASSWORD = "bench-password-123"
# bench_meta is outside Django's migrations on purpose: it describes the data, not the app's
# schema.


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def days_for(size: int) -> int:
    """Days of usage: fewer for big portfolios so generation time and disk stay moderate."""
    return 120 if size <= 1000 else 60


def read_meta(name: str = "data") -> dict | None:
    """A JSON value of bench_meta: 'data' describes the generated data; benchmarks that add
    data of their own (e.g. 'health-topup') record it under another name."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT value FROM bench_meta WHERE name = %s", [name])
            row = cursor.fetchone()
    except DatabaseError:  # no table yet: not bench data
        return None
    return json.loads(row[0]) if row else None


def write_meta(meta: dict, name: str = "data") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_meta"
            " (name varchar(20) PRIMARY KEY, value text NOT NULL)"
        )
        cursor.execute("DELETE FROM bench_meta WHERE name = %s", [name])
        cursor.execute(
            "INSERT INTO bench_meta (name, value) VALUES (%s, %s)", [name, json.dumps(meta)]
        )


def delete_meta(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_meta WHERE name = %s", [name])


def prepare(target: BenchDatabase, size: int, keep: bool, generate: bool = True) -> Context:
    """Migrate the bench database and fill it, or with ``keep`` reuse data of the same shape.

    ``generate`` false (every benchmark of the run brings its own data): the bench database
    is left as it is, and the Context only says the size asked for."""
    if not generate:
        log("the benchmarks chosen bring their own data: the bench data is not generated")
        return Context(size, 0, date.today(), date.today(), keep=keep)
    days = days_for(size)
    meta = None
    if keep:
        ensure_exists(target)
        meta = read_meta()
        if meta and (meta["size"], meta["days"], meta["seed"]) != (size, days, SEED):
            log(f"--keep-db: existing data has {meta['size']} accounts, regenerating")
            meta = None
    connections.close_all()  # a PostgreSQL database with sessions on it cannot be dropped
    if meta is None:
        recreate(target)
    call_command("migrate", verbosity=0, interactive=False)
    if meta is None:
        log(f"generating {size} accounts with {days} days of usage in {target.name}")
        started = time.perf_counter()
        as_of = date.today()
        counts, _ = build_demo_portfolio(
            accounts=size, seed=SEED, days=days, as_of=as_of, password_for=lambda _: PASSWORD
        )
        meta = {"size": size, "days": days, "seed": SEED, "as_of": as_of.isoformat()}
        meta["counts"] = {k: getattr(counts, k) for k in ("accounts", "contacts", "events")}
        write_meta(meta)
        log(f"generated {meta['counts']} in {time.perf_counter() - started:.1f}s")
    else:
        log(f"--keep-db: reusing {meta['counts']} generated on {meta['as_of']}")
    as_of = date.fromisoformat(meta["as_of"])
    return Context(size, days, as_of, as_of - timedelta(days=days - 1), keep=keep)
