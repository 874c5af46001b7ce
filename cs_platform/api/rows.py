"""Model instances from one hand-written SELECT, for the API's hottest read paths.

Building a queryset and compiling it to SQL costs Django about half a millisecond per query,
more than the database takes to answer a primary-key lookup. A hot endpoint can instead run
one fixed statement (several tables joined) and cut each row into model instances here: the
columns come from the models' metadata, the values go through the same converters the ORM
applies (JSON, dates, booleans on SQLite...), and the instances are made as ``Model.from_db``
makes them (see ``Columns.make``), so the rest of the code sees ordinary models (fields not
selected are deferred, loaded on use).

On PostgreSQL each statement is also prepared once per connection (``PREPARE``, then
``EXECUTE``): planning a join of five tables costs the server several times what running it
on primary keys does. ``DB_PREPARED_STATEMENTS=false`` turns that off, for a pooler in
transaction mode (PgBouncer) that cannot keep a statement prepared on a session.
"""

import hashlib
import re

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connections
from django.db.backends.signals import connection_created
from django.db.models.base import ModelState


class Columns:
    """Some concrete fields of ``model`` under the table alias ``alias`` in a SELECT."""

    def __init__(self, model, alias: str, fields=None, exclude=()):
        concrete = model._meta.concrete_fields
        wanted = set(fields) if fields is not None else {f.attname for f in concrete}
        self.model = model
        self.alias = alias
        self.fields = [f for f in concrete if f.attname in wanted and f.attname not in exclude]
        missing = wanted - {f.attname for f in concrete} - set(exclude)
        if missing:
            raise ValueError(f"{model.__name__} has no concrete fields {sorted(missing)}")
        self.attnames = [f.attname for f in self.fields]
        self._pk_index = self.attnames.index(model._meta.pk.attname)
        self._converters = {}  # per database alias

    def __len__(self) -> int:
        return len(self.fields)

    def sql(self, connection) -> str:
        qn = connection.ops.quote_name
        return ", ".join(f"{qn(self.alias)}.{qn(f.column)}" for f in self.fields)

    def table(self, connection) -> str:
        qn = connection.ops.quote_name
        return f"{qn(self.model._meta.db_table)} {qn(self.alias)}"

    def col(self, connection, attname: str) -> str:
        qn = connection.ops.quote_name
        return f"{qn(self.alias)}.{qn(self.model._meta.get_field(attname).column)}"

    def converters(self, connection) -> list:
        """[(index, converters, col)] of the fields that have converters on ``connection``."""
        found = self._converters.get(connection.alias)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                col = field.get_col(self.alias)
                converters = [
                    *connection.ops.get_db_converters(col),
                    *field.get_db_converters(connection),
                ]
                if converters:
                    found.append((index, converters, col))
            self._converters[connection.alias] = found
        return found

    def convert(self, connection, values) -> list | None:
        """This slice of a row as Python values (the ORM's converters applied); None when
        its primary key is NULL (no match in a LEFT JOIN)."""
        if values[self._pk_index] is None:
            return None
        converted = list(values)
        for index, converters, col in self.converters(connection):
            value = converted[index]
            for converter in converters:
                value = converter(value, col, connection)
            converted[index] = value
        return converted

    def make(self, using: str, converted: list):
        """An instance from ``convert``'s values, as loaded from the database ``using``.

        What ``Model.from_db`` makes (fields not selected deferred), without its ``__init__``,
        which costs more than the rest of a row: no pre_init/post_init signal is sent (no
        model read here has a receiver)."""
        instance = self.model.__new__(self.model)
        instance.__dict__.update(zip(self.attnames, converted, strict=True))
        state = instance._state = ModelState()
        state.adding = False
        state.db = using
        return instance

    def load(self, connection, values):
        """The instance of this slice of a row; None when its primary key is NULL."""
        converted = self.convert(connection, values)
        return None if converted is None else self.make(connection.alias, converted)


_PLACEHOLDER = re.compile(r"%s")


def _forget_prepared(sender, connection, **kwargs):
    # A new session has nothing prepared (Django may reconnect a wrapper at any request).
    connection.cs_prepared = set()


connection_created.connect(_forget_prepared, dispatch_uid="cs-api-rows-prepared")


class Statement:
    """A fixed SELECT over several ``Columns`` (in that order, then ``extra`` columns), its text
    built once per database."""

    def __init__(self, parts: list[Columns], build):
        """``build(connection, select)`` returns the statement around the SELECT list."""
        self.parts = parts
        self.build = build
        self._sql = {}
        self._prepared = {}  # per database alias: (name, PREPARE text, EXECUTE text)

    def sql(self, connection) -> str:
        text = self._sql.get(connection.alias)
        if text is None:
            select = ", ".join(part.sql(connection) for part in self.parts)
            text = self._sql[connection.alias] = self.build(connection, select)
        return text

    def prepared(self, connection) -> tuple[str, str, str]:
        """(name, PREPARE statement, EXECUTE statement) of this statement on PostgreSQL."""
        found = self._prepared.get(connection.alias)
        if found is None:
            text = self.sql(connection)
            if "%" in _PLACEHOLDER.sub("", text):
                raise ValueError("a prepared statement's text may hold no % but its %s")
            count = 0

            def number(match):
                nonlocal count
                count += 1
                return f"${count}"

            # The name comes from the text: a changed statement is prepared anew.
            name = "cs_" + hashlib.sha1(text.encode()).hexdigest()[:20]
            body = _PLACEHOLDER.sub(number, text)
            execute = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
            found = (name, f"PREPARE {name} AS {body}", execute)
            self._prepared[connection.alias] = found
        return found

    def execute(self, cursor, connection, params) -> None:
        if connection.vendor != "postgresql" or not settings.DB_PREPARED_STATEMENTS:
            cursor.execute(self.sql(connection), params)
            return
        name, prepare, execute = self.prepared(connection)
        done = getattr(connection, "cs_prepared", None)
        if done is None:
            done = connection.cs_prepared = set()
        if name not in done:
            cursor.execute(prepare)
            done.add(name)
        try:
            cursor.execute(execute, params)
        except NotSupportedError as exc:
            # A migration changed the type of a column the statement returns (while this
            # process kept its connection): PostgreSQL refuses the old plan ("cached plan must
            # not change result type"). Outside a transaction, prepare it again, once.
            if connection.in_atomic_block or getattr(exc.__cause__, "pgcode", None) != "0A000":
                raise
            cursor.execute(f"DEALLOCATE {name}")
            cursor.execute(prepare)
            cursor.execute(execute, params)

    def fetch_values(self, params, using: str = DEFAULT_DB_ALIAS) -> tuple | None:
        """([each part's converted values or None], extra values) of the first row, or None
        when there is no row."""
        connection = connections[using]
        with connection.cursor() as cursor:
            self.execute(cursor, connection, params)
            row = cursor.fetchone()
        if row is None:
            return None
        parts, start = [], 0
        for part in self.parts:
            parts.append(part.convert(connection, row[start : start + len(part)]))
            start += len(part)
        return parts, row[start:]

    def fetch_one(self, params, using: str = DEFAULT_DB_ALIAS) -> tuple | None:
        """([each part's instance or None], extra values) of the first row, or None when there
        is no row."""
        found = self.fetch_values(params, using)
        if found is None:
            return None
        parts, extra = found
        instances = [
            None if values is None else part.make(using, values)
            for part, values in zip(self.parts, parts, strict=True)
        ]
        return instances, extra
