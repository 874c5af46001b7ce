"""Where the benchmarks keep their data: never the developer's own database.

Derivation is pure (no I/O, no Django) so it is testable and can run before the settings are
imported: the settings read DATABASE_URL once, at import, so it must point at the bench
database by then.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}
SUFFIX = "_bench"


@dataclass(frozen=True)
class BenchDatabase:
    vendor: str  # "postgresql" or "sqlite", as Django's connection.vendor says
    url: str  # the DATABASE_URL the bench process runs with
    name: str  # the database name, or the SQLite file path
    admin_url: str = ""  # libpq URL of the server's maintenance database (PostgreSQL only)


def bench_database(source_url: str | None, var_dir: Path) -> BenchDatabase:
    """The bench database beside the one ``source_url`` names.

    PostgreSQL: same server and credentials, database ``<name>_bench``. SQLite (also when
    DATABASE_URL is unset): the file ``bench.sqlite3`` in the var directory.
    """
    if not source_url or source_url.startswith("sqlite:"):
        path = Path(var_dir) / "bench.sqlite3"
        return BenchDatabase("sqlite", f"sqlite:///{path}", str(path))
    parts = urlsplit(source_url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r} (postgres or sqlite)")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ValueError("names no database (e.g. postgres://user@host:5432/dbname)")
    bench_name = name + SUFFIX
    url = urlunsplit(parts._replace(path="/" + quote(bench_name)))
    # libpq knows postgres:// and postgresql:// but not dj-database-url's pgsql:// alias.
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return BenchDatabase("postgresql", url, bench_name, admin)


def _admin_connection(db: BenchDatabase):
    import psycopg2

    conn = psycopg2.connect(db.admin_url)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def ensure_exists(db: BenchDatabase) -> None:
    """Create the PostgreSQL bench database if missing (SQLite creates its file on connect)."""
    if db.vendor != "postgresql":
        return
    from psycopg2 import sql

    conn = _admin_connection(db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db.name])
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))
    finally:
        conn.close()


def recreate(db: BenchDatabase) -> None:
    """Start from an empty bench database. Callers close Django's connections first."""
    if db.vendor == "postgresql" and not db.name.endswith(SUFFIX):
        raise RuntimeError(f"refusing to drop {db.name!r}: not a bench database")
    if db.vendor == "sqlite":
        for suffix in ("", "-wal", "-shm"):  # WAL mode leaves side files
            Path(db.name + suffix).unlink(missing_ok=True)
        return
    from psycopg2 import sql

    conn = _admin_connection(db)
    try:
        with conn.cursor() as cur:
            # FORCE ends sessions a previous, interrupted run may have left open.
            name = sql.Identifier(db.name)
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(name))
    finally:
        conn.close()


def var_dir(base_dir: Path) -> Path:
    """The settings' VAR_DIR, computed the same way but without importing the settings."""
    return Path(os.environ.get("CS_VAR_DIR", "").strip() or base_dir / "var")


BLOATED_BYTES_PER_ROW = 20_000  # a score row with its components JSON is 1-3 kB


def vacuum_if_no_autovacuum(tables, label: str) -> None:
    """On a PostgreSQL server with autovacuum off, vacuum ``tables`` (FULL when most rows are
    dead), so a benchmark is not timed on a bloat production never has.

    Each recompute_all rewrites every AccountHealth row; without autovacuum the dead versions
    pile up (a 10,000-account bench database was seen at 380,000 dead rows, 617 MB for 9,387
    live ones); the ingest benchmarks leave dead roll-up rows behind the same way.
    """
    from django.db import connection

    from bench.data import log

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return
        cursor.execute(
            "SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid)"
            " FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            [list(tables)],
        )
        for table, live, dead, size in cursor.fetchall():
            # Mostly dead, or a file far bigger than its rows: rewrite it (a plain VACUUM leaves
            # the file its size, and the planner then avoids scanning it); else mark the space
            # free and refresh the statistics.
            full = "FULL " if dead > live or size > BLOATED_BYTES_PER_ROW * max(live, 1) else ""
            log(f"{label}: autovacuum is off; VACUUM {full}ANALYZE {table} "
                f"({live:,} live rows, {dead:,} dead)")  # fmt: skip
            cursor.execute(f"VACUUM {full}ANALYZE {connection.ops.quote_name(table)}")
