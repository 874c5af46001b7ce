"""Model instances from one hand-written SELECT, for the API's hottest read paths.

Building a queryset and compiling it to SQL costs Django about half a millisecond per query,
more than the database takes to answer a primary-key lookup. A hot endpoint can instead run
one fixed statement (several tables joined) and cut each row into model instances here: the
columns come from the models' metadata, the values go through the same converters the ORM
applies (JSON, dates...), and the instances are made by ``Model.from_db``, so the rest of the
code sees ordinary models (fields not selected are deferred, loaded on use). Each statement
is prepared once per session (``cs_platform.sql.fetchone_prepared``).
"""

from django.db import DEFAULT_DB_ALIAS, connections

from cs_platform.sql import fetchone_prepared


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
        """An instance from ``convert``'s values, as loaded from the database ``using``
        (fields not selected deferred).

        ``Model.from_db``, Django's documented way. Building the instance by hand (``__new__``
        and ``_state``, skipping ``__init__``) saved about 20 us over the health endpoint's 5
        rows (5 us against 23-26 us a row), under 1% of a request; ``health_endpoint_http``
        at 300 accounts, runs alternating on a loaded machine, gave rps_ratio 0.458, 0.524,
        0.376, 0.384 by hand and 0.504, 0.368, 0.378, 0.566 with ``from_db``: no difference
        above the noise."""
        return self.model.from_db(using, self.attnames, converted)

    def load(self, connection, values):
        """The instance of this slice of a row; None when its primary key is NULL."""
        converted = self.convert(connection, values)
        return None if converted is None else self.make(connection.alias, converted)


class Statement:
    """A fixed SELECT over several ``Columns`` (in that order, then ``extra`` columns), its text
    built once per database and prepared once per session (``cs_platform.sql``)."""

    def __init__(self, parts: list[Columns], build):
        """``build(connection, select)`` returns the statement around the SELECT list."""
        self.parts = parts
        self.build = build
        self._sql = {}

    def sql(self, connection) -> str:
        text = self._sql.get(connection.alias)
        if text is None:
            select = ", ".join(part.sql(connection) for part in self.parts)
            text = self._sql[connection.alias] = self.build(connection, select)
        return text

    def fetch_values(self, params, using: str = DEFAULT_DB_ALIAS) -> tuple | None:
        """([each part's converted values or None], extra values) of the first row, or None
        when there is no row."""
        connection = connections[using]
        row = fetchone_prepared(self.sql(connection), params, using)
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
