"""Upserting thousands of score rows: COPY into a temporary table on PostgreSQL, then one
INSERT ... SELECT ... ON CONFLICT; ``bulk_create`` elsewhere.

For 10,000 accounts Django's bulk_create spends more time building model instances and the
SQL statement than PostgreSQL spends writing the rows; COPY skips both.
"""

import io
import json
import re
from datetime import date, datetime

from django.db import connection, transaction

_SPECIAL = re.compile(r"[\\\t\n\r]")


class JSONText(str):
    """A value already serialised to JSON (for a JSON column): written as it is, not
    serialised again; the caller may have needed the text anyway (e.g. to hash it)."""


def _text(value) -> str:
    """One field in PostgreSQL's COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        value = json.dumps(value)
    elif isinstance(value, JSONText):
        pass
    elif isinstance(value, datetime | date):
        return value.isoformat()
    elif isinstance(value, int | float):
        return repr(value)
    value = str(value)
    if not _SPECIAL.search(value):
        return value
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def upsert(model, columns: list[str], rows: list[tuple], conflict: list[str]) -> None:
    """Insert ``rows`` (values in ``columns`` order, attnames like ``account_id``) or update
    every other column of the row that has the same ``conflict`` columns."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        rows = [[json.loads(v) if isinstance(v, JSONText) else v for v in row] for row in rows]
        model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows],
            update_conflicts=True,
            unique_fields=[c.removesuffix("_id") for c in conflict],
            update_fields=[c.removesuffix("_id") for c in columns if c not in conflict],
            batch_size=1000,
        )
        return
    quote = connection.ops.quote_name
    table = model._meta.db_table
    names = [quote(model._meta.get_field(c.removesuffix("_id")).column) for c in columns]
    temp = quote(f"tmp_{table}")
    buffer = io.StringIO("".join("\t".join(map(_text, row)) + "\n" for row in rows))
    updates = ", ".join(
        f"{n} = EXCLUDED.{n}" for c, n in zip(columns, names, strict=True) if c not in conflict
    )
    keys = ", ".join(quote(model._meta.get_field(c.removesuffix("_id")).column) for c in conflict)
    with transaction.atomic(), connection.cursor() as cursor:
        # Only the written columns, with their types and no constraints; gone at commit.
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} ON COMMIT DROP AS "
            f"SELECT {', '.join(names)} FROM {quote(table)} WITH NO DATA"
        )
        cursor.cursor.copy_expert(f"COPY {temp} ({', '.join(names)}) FROM STDIN", buffer)
        cursor.execute(
            f"INSERT INTO {quote(table)} ({', '.join(names)}) "
            f"SELECT {', '.join(names)} FROM {temp} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {updates}"
        )
