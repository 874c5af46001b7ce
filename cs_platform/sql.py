"""The PostgreSQL-specific SQL the apps need, in one place (PostgreSQL is the only database).

The apps write portable SQL (or the ORM) themselves and come here for what only PostgreSQL
does, and what makes their hot paths cheap:

- ``unnest(rows, *types)``: ``UNNEST(%s::bigint[], %s::text[], ...)`` and its parameters, one
  array per column: many rows selected from a fixed number of parameters, where a VALUES list
  costs the server a parse of every value (ingest, roll-ups, dirty marks).
- the ``__any`` lookup (``account_id__any=ids``): ``account_id = ANY(%s::bigint[])``, the ids
  as one array parameter. Django's ``__in`` sends a list of thousands of ids value by value,
  once per query, and ``IN (SELECT unnest(...))`` hides their number from the planner, which
  then scanned a whole roll-up table for a 28-day window; ``= ANY`` is estimated element by
  element and takes the (account, date) index (measures, scoring).
- ``copy_upsert(model, columns, rows, conflict)``: thousands of rows written through COPY into
  a temporary table, then one INSERT ... SELECT ... ON CONFLICT (score writing); ``JSONText``
  marks a JSON column's value already serialised.
- ``copy_insert(model, columns, data)``: new rows appended with one COPY, no conflict handling
  (a duplicate key fails it all); ``data`` is tuples or a file already in COPY's text format
  (the demo's millions of events).
- ``take_queued(model, column, order_by, limit)``: delete and return the oldest rows of a
  queue table, skipping rows another transaction holds (``FOR UPDATE SKIP LOCKED``), so
  concurrent workers never wait on each other nor take the same row (the dirty-account drain).
- ``fetchone_prepared(text, params, using)``: the first row of a fixed statement, prepared
  once per database session (``PREPARE``/``EXECUTE``; the hot API reads, see
  ``cs_platform.api.rows``). ``DB_PREPARED_STATEMENTS=false`` sends the text instead, for a
  pooler in transaction mode (PgBouncer) that cannot keep a statement on a session.
- ``inserted(table)``: the ``RETURNING`` expression of an ``INSERT ... ON CONFLICT DO UPDATE``
  that is true for the rows it inserted and false for those it updated, so an upsert can say
  which keys are new without a second query (the roll-ups' and the event catalogue's counts
  of distinct contacts, names and accounts).
- ``truncate(model)``: empty a table in the caller's transaction without leaving dead rows
  (the event catalogue's nightly rebuild).
- ``local_work_mem(mb)``: a bigger ``work_mem`` for the statements of a block, inside the
  caller's transaction, so one big aggregate hashes in memory instead of sorting on disk.
"""

import functools
import hashlib
import io
import json
import re
import weakref
from contextlib import contextmanager
from datetime import date, datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connection, connections, transaction
from django.db.models import Field, ForeignObject, Lookup


def unnest(rows, *types: str) -> tuple[str, list[list]]:
    """(``UNNEST(%s::t1[], %s::t2[], ...)``, one list of values per column) for ``rows``,
    tuples whose values are of the PostgreSQL ``types`` in order. No rows: empty arrays."""
    if not types:
        raise ValueError("unnest needs the type of each column")
    columns = [list(c) for c in zip(*rows, strict=True)] or [[] for _ in types]
    if len(columns) != len(types):
        raise ValueError(f"rows of {len(columns)} values for {len(types)} types")
    return "UNNEST(" + ", ".join(f"%s::{t}[]" for t in types) + ")", columns


class AnyOf(Lookup):
    """``field__any=ids``: ``field = ANY(%s::bigint[])`` with the ids (bigint, as every id is)
    as one array parameter; an empty list matches nothing."""

    lookup_name = "any"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [[int(v) for v in value]]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs}::bigint[])", (*lhs_params, *rhs_params)


# Foreign keys keep lookups of their own (account_id__any as much as id__any).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)


# --- COPY ----------------------------------------------------------------------------------

_SPECIAL = re.compile(r"[\\\t\n\r]")


class JSONText(str):
    """A value already serialised to JSON (for a JSON column): written as it is, not
    serialised again; the caller may have needed the text anyway (e.g. to hash it)."""


def copy_text(value) -> str:
    """One field in COPY's text format: ``\\N`` for NULL, backslash escapes for tab,
    newline, carriage return and backslash; lists and dicts as JSON."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value)
    elif isinstance(value, datetime | date):
        return value.isoformat()
    elif isinstance(value, int | float):
        return repr(value)
    value = str(value)
    if not _SPECIAL.search(value):
        return value
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _copy_buffer(rows) -> io.StringIO:
    return io.StringIO("".join("\t".join(map(copy_text, row)) + "\n" for row in rows))


def _column_names(model, attnames: list[str]) -> list[str]:
    """The quoted columns of ``model``'s fields named by attname (``account_id``)."""
    column = {f.attname: f.column for f in model._meta.concrete_fields}
    return [connection.ops.quote_name(column[a]) for a in attnames]


def copy_upsert(model, columns: list[str], rows: list[tuple], conflict: list[str]) -> None:
    """Insert ``rows`` (values in ``columns`` order, attnames like ``account_id``) or update
    every other column of the row that has the same ``conflict`` columns.

    For 10,000 rows Django's bulk_create spends more time building model instances and the
    statement than PostgreSQL spends writing them; COPY skips both."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column = dict(zip(columns, _column_names(model, columns), strict=True))
    names = ", ".join(column.values())
    keys = ", ".join(column[c] for c in conflict)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for c, n in column.items() if c not in conflict)
    temp = quote(f"tmp_{model._meta.db_table}")
    buffer = _copy_buffer(rows)
    with transaction.atomic(), connection.cursor() as cursor:
        # Only the written columns, with their types and no constraints; gone at commit.
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        cursor.copy_expert(f"COPY {temp} ({names}) FROM STDIN", buffer)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        )


def copy_insert(model, columns: list[str], data) -> None:
    """Append rows to ``model``'s table with one ``COPY ... FROM STDIN``: no temporary
    table and no conflict handling (a duplicate key fails the whole COPY), for large writes
    of new rows (the demo's events). ``data`` is tuples in ``columns`` order (attnames like
    ``account_id``), or a file-like object already in COPY's text format, e.g. written by
    pandas' ``to_csv(sep="\\t", header=False, index=False)`` for a million rows at C speed."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(_column_names(model, columns))
    if not hasattr(data, "read"):
        data = _copy_buffer(data)
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", data)


# --- SKIP LOCKED ---------------------------------------------------------------------------


def take_queued(model, column: str, order_by: str, limit: int) -> list:
    """Delete up to ``limit`` rows of ``model``'s table, lowest ``order_by`` first, and return
    their ``column`` values (in no particular order); rows locked by another transaction are
    left to it. The caller's transaction holds the deletion: a rollback puts the rows back."""
    table = connection.ops.quote_name(model._meta.db_table)
    key, order = _column_names(model, [column, order_by])
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} ORDER BY {order} "
            f"LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING {key}",
            [limit],
        )
        return [row[0] for row in cursor.fetchall()]


# --- upserts, TRUNCATE, work_mem ------------------------------------------------------------


def inserted(table: str) -> str:
    """``(table.xmax = 0)``: in the ``RETURNING`` list of ``INSERT INTO table ... ON CONFLICT
    DO UPDATE``, true for a row the statement inserted, false for one it updated. ``table``
    is the target's quoted name or its alias (``INSERT INTO x AS t``: ``t``).

    Why it holds: ``xmax`` is the id of a transaction that deleted, updated or locked the row
    version. A version the INSERT just wrote has none (0). The conflict path first locks the
    existing row (its ``xmax`` becomes this transaction's id) and its UPDATE writes the new
    version with that lock carried over, so the version RETURNING sees has a non-zero
    ``xmax``. This is how PostgreSQL stores rows (true since ON CONFLICT came, in 9.5), not
    documented SQL; ``tests/cs_platform/test_sql.py`` checks it on the server the tests run
    on. Rows skipped by ``DO NOTHING`` or a ``DO UPDATE ... WHERE`` that is false are not
    returned at all."""
    return f"({table}.xmax = 0)"


def truncate(model) -> None:
    """Empty ``model``'s table with ``TRUNCATE``, in the caller's transaction (a rollback
    brings the rows back; other sessions wait for the table until it ends).

    A DELETE of every row leaves them all behind as dead rows for vacuum (millions a night in
    the event catalogue's rebuild); TRUNCATE gives the table a new, empty file. PostgreSQL
    refuses to truncate a table with foreign-key checks this transaction deferred on it, so
    those run first and the transaction's constraints are deferred again afterwards (Django
    creates its foreign keys ``DEFERRABLE INITIALLY DEFERRED``). No ``CASCADE``: a table
    other tables reference cannot be truncated this way."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {connection.ops.quote_name(model._meta.db_table)}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def local_work_mem(mb: int):
    """``work_mem`` of ``mb`` MB for the statements run in the block, then back to what it
    was; only inside a transaction (``SET LOCAL``: the transaction's end resets it anyway,
    also when the block raises).

    ``work_mem`` is per sort or hash of a statement, so raise it for one known statement,
    not the session: the event catalogue's recount (2.3 M groups from 10 M events) hashes in
    memory with 256 MB and takes 16 s, against 70 s sorting on disk with the default 4 MB."""
    if not connection.in_atomic_block:
        raise RuntimeError("local_work_mem needs a transaction (transaction.atomic)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem')")
        before = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('work_mem', %s, true)", [f"{int(mb)}MB"])
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [before])


# --- prepared statements -------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"%s")
# What each session (psycopg2 connection) has prepared; a new session starts with nothing.
_prepared_in: "weakref.WeakKeyDictionary[object, set[str]]" = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=256)
def _prepared(text: str) -> tuple[str, str, str]:
    """(name, PREPARE statement, EXECUTE statement) of ``text``, its ``%s`` numbered."""
    if "%" in _PLACEHOLDER.sub("", text):
        raise ValueError("a prepared statement's text may hold no % but its %s")
    count = len(_PLACEHOLDER.findall(text))
    numbers = iter(range(1, count + 1))
    body = _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", text)
    # The name comes from the text: a changed statement is prepared anew.
    name = "cs_" + hashlib.sha1(text.encode()).hexdigest()[:20]
    execute = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
    return name, f"PREPARE {name} AS {body}", execute


def fetchone_prepared(text: str, params, using: str = DEFAULT_DB_ALIAS) -> tuple | None:
    """The first row of ``text`` (``%s`` placeholders, no other ``%``), or None.

    Planning a join of five tables costs the server several times what running it on primary
    keys does: the statement is planned once per session, then only executed."""
    db = connections[using]
    with db.cursor() as cursor:
        if not settings.DB_PREPARED_STATEMENTS:
            cursor.execute(text, params)
            return cursor.fetchone()
        name, prepare, execute = _prepared(text)
        done = _prepared_in.setdefault(cursor.connection, set())
        if name not in done:
            cursor.execute(prepare)
            done.add(name)
        try:
            cursor.execute(execute, params)
        except NotSupportedError as exc:
            # A migration changed the type of a column the statement returns (while this
            # process kept its connection): PostgreSQL refuses the old plan ("cached plan must
            # not change result type"). Outside a transaction, prepare it again, once.
            if db.in_atomic_block or getattr(exc.__cause__, "pgcode", None) != "0A000":
                raise
            cursor.execute(f"DEALLOCATE {name}")
            cursor.execute(prepare)
            cursor.execute(execute, params)
        return cursor.fetchone()
