"""Where the benchmarks keep their data: never the developer's own database.

The bench database is ``<name>_bench`` beside the PostgreSQL database the settings use:
``DATABASE_URL``'s, else the settings' default (``url_of`` turns its ``DATABASES`` entry into a
URL, which the bench's child processes, gunicorn and Celery, then get as ``DATABASE_URL``).
Derivation is pure (no I/O, no Django), so it is testable.
"""

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}
SUFFIX = "_bench"


@dataclass(frozen=True)
class BenchDatabase:
    url: str  # the DATABASE_URL the bench process runs with
    name: str  # the database name
    admin_url: str  # libpq URL of the server's maintenance database


def url_of(config: dict) -> str:
    """A Django ``DATABASES`` entry (PostgreSQL) as a ``postgres://`` URL; a Unix-socket
    directory as the host is percent-encoded, as libpq and dj-database-url read it."""
    if "postgresql" not in config.get("ENGINE", ""):
        raise ValueError(f"the default database is not PostgreSQL ({config.get('ENGINE')!r})")
    user = quote(str(config.get("USER") or ""), safe="")
    password = str(config.get("PASSWORD") or "")
    credentials = f"{user}:{quote(password, safe='')}@" if password else f"{user}@" if user else ""
    host = quote(str(config.get("HOST") or ""), safe="")
    port = f":{config['PORT']}" if config.get("PORT") else ""
    options = {k: v for k, v in (config.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{credentials}{host}{port}/{quote(str(config['NAME']), safe='')}{query}"


def bench_database(source_url: str, suffix: str = SUFFIX) -> BenchDatabase:
    """The bench database beside the one ``source_url`` names: same server and credentials,
    database ``<name>_bench`` (``<name><suffix>``: the year dataset's is ``<name>_bench_year``,
    beside the bench database)."""
    parts = urlsplit(source_url or "")
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"expected a postgres:// URL, got {source_url!r}")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ValueError("names no database (e.g. postgres://user@host:5432/dbname)")
    bench_name = name + suffix
    url = urlunsplit(parts._replace(path="/" + quote(bench_name)))
    # libpq knows postgres:// and postgresql:// but not dj-database-url's pgsql:// alias.
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return BenchDatabase(url, bench_name, admin)


def _admin_connection(db: BenchDatabase):
    import psycopg2

    conn = psycopg2.connect(db.admin_url)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def ensure_exists(db: BenchDatabase) -> None:
    """Create the bench database if missing."""
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
    if not (db.name.endswith(SUFFIX) or f"{SUFFIX}_" in db.name):
        raise RuntimeError(f"refusing to drop {db.name!r}: not a bench database")
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
