"""CSV import of accounts and contacts: the rows of a file become upsert items, reported by line.

Rows go through the same upsert as the bulk API, so a file is validated exactly like a request.
What this module adds is particular to files: decoding, the header, line numbers and a dry run.
"""

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction

from accounts.choices import ContractSource
from accounts.upsert import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    MAX_ITEMS,
    upsert_accounts,
    upsert_contacts,
)

TRAIT_PREFIX = "traits."
STATUSES = ("created", "updated", "unchanged", "rejected", "skipped")
# The upsert names an earlier item by its index; someone fixing a file needs its line.
_ITEM_REFERENCE = re.compile(r"\bitem (\d+)\b")


class CsvError(ValueError):
    """The file as a whole cannot be imported (encoding, header, shape, size)."""


@dataclass
class LineResult:
    line: int  # line of the file where the row starts; the header is line 1
    status: str  # as ItemResult.status
    id: int | None
    key: str
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class CsvImport:
    """What became of each row. In a dry run the statuses say what an import would do."""

    lines: list[LineResult]
    dry_run: bool

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(result.status for result in self.lines)
        return {status: counted[status] for status in STATUSES}

    @property
    def errors(self) -> list[str]:
        return [
            f"line {result.line}: {name}: {reason}"
            for result in self.lines
            for name, reasons in result.errors.items()
            for reason in reasons
        ]

    @property
    def failed(self) -> bool:
        """Rows were rejected and no row was (or, in a dry run, would be) imported."""
        counts = self.counts
        return bool(counts["rejected"]) and not (
            counts["created"] + counts["updated"] + counts["unchanged"]
        )


def import_accounts_csv(data, *, dry_run: bool = False, valid_only: bool = False) -> CsvImport:
    """Create or update accounts from a CSV file (bytes or a file object).

    By default one bad row means nothing is imported; ``valid_only`` imports the good rows.
    """
    upsert = partial(upsert_accounts, source=ContractSource.CSV)
    return _import(data, upsert, ACCOUNT_FIELDS, ("external_id",), dry_run, valid_only)


def import_contacts_csv(data, *, dry_run: bool = False, valid_only: bool = False) -> CsvImport:
    """Create or update contacts from a CSV file; see import_accounts_csv."""
    return _import(
        data, upsert_contacts, CONTACT_FIELDS, ("external_id", "email"), dry_run, valid_only
    )


def _import(data, upsert, fields, identifying, dry_run, valid_only) -> CsvImport:
    rows = _read_rows(data, [name for name in fields if name != "traits"], identifying)
    if len(rows) > MAX_ITEMS:
        raise CsvError(f"the file has {len(rows)} rows; at most {MAX_ITEMS} at once: split it")
    lines = [line for line, _ in rows]
    with transaction.atomic():
        results = upsert([item for _, item in rows], all_or_nothing=not valid_only)
        if dry_run:
            transaction.set_rollback(True)
    return CsvImport(
        [
            LineResult(
                line=lines[result.index],
                status=result.status,
                # a dry run's new rows were rolled back, and their ids with them
                id=None if dry_run and result.status == "created" else result.id,
                key=result.key,
                errors={
                    name: [_name_lines(reason, lines) for reason in reasons]
                    for name, reasons in result.errors.items()
                },
            )
            for result in results
        ],
        dry_run=dry_run,
    )


def _name_lines(reason: str, lines: list[int]) -> str:
    return _ITEM_REFERENCE.sub(lambda match: f"line {lines[int(match[1])]}", reason)


def _read_rows(data, columns: list[str], identifying: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line, item) for each non-blank row; empty cells are left out of the item."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise CsvError("the file is empty: line 1 must name the columns") from None
    _check_header(header, columns, identifying)
    rows = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1  # a quoted cell may span several lines
            if len(cells) > len(header):
                raise CsvError(
                    f"line {line}: {len(cells)} values, but the header names {len(header)} columns"
                )
            item = {}
            for name, cell in zip(header, cells, strict=False):  # missing cells are empty
                if cell := cell.strip():
                    if name.startswith(TRAIT_PREFIX):
                        item.setdefault("traits", {})[name.removeprefix(TRAIT_PREFIX)] = cell
                    else:
                        item[name] = cell
            if item:
                rows.append((line, item))
    except csv.Error as exc:
        raise CsvError(f"line {reader.line_num}: {exc}") from None
    return rows


def _decode(data) -> str:
    raw = data if isinstance(data, bytes | bytearray) else data.read()
    if isinstance(raw, str):  # a file opened in text mode was decoded by its opener
        return raw.removeprefix("\ufeff")
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CsvError(
            f"line {line}: the file is not UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "save it as UTF-8 (in Excel: CSV UTF-8) and try again"
        ) from None


def _check_header(header: list[str], columns: list[str], identifying: tuple[str, ...]) -> None:
    allowed = f"{', '.join(columns)}, {TRAIT_PREFIX}<name>"
    if "" in header:
        raise CsvError(f"line 1: column {header.index('') + 1} has no name; allowed: {allowed}")
    unknown = [
        name
        for name in header
        if name not in columns
        and not (name.startswith(TRAIT_PREFIX) and len(name) > len(TRAIT_PREFIX))
    ]
    if unknown:
        raise CsvError(f"line 1: unknown columns: {', '.join(unknown)}; allowed: {allowed}")
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if repeated:
        raise CsvError(f"line 1: columns named more than once: {', '.join(repeated)}")
    if not set(identifying) & set(header):
        raise CsvError(f"line 1: the header needs a column {' or '.join(identifying)}")
