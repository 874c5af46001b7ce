"""cs_platform.sql, the one module of PostgreSQL-specific SQL: arrays, COPY, SKIP LOCKED,
prepared statements, upserts that tell new rows, TRUNCATE and work_mem, on the real database
with hand-worked values."""

import io
import json
from datetime import UTC, date, datetime, timedelta

import psycopg2
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Contact, DailyAccountUsage, DirtyAccount, EventUse, EventWeek
from cs_platform import sql
from health.models import HealthSnapshot
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

BIG = 3_000_000_000  # above 2**31: an integer[] cast would fail on it
HOSTILE = 'Tab\there, new\nline, back\\slash, quote " and → unicode, \\N not null'


def select(text: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(text, params)
        return cursor.fetchall()


def statements(queries) -> list[str]:
    return [q["sql"].split(" ")[0] for q in queries.captured_queries]


# --- unnest / the __any lookup ---------------------------------------------------------------


def test_unnest_sends_one_array_per_column():
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    rows = [(BIG, "a\tb", at), (2, None, at)]
    fragment, params = sql.unnest(rows, "bigint", "text", "timestamptz")
    assert fragment == "UNNEST(%s::bigint[], %s::text[], %s::timestamptz[])"
    assert params == [[BIG, 2], ["a\tb", None], [at, at]]
    assert select(f"SELECT * FROM {fragment}", params) == rows


def test_unnest_of_no_rows_selects_nothing():
    fragment, params = sql.unnest([], "bigint", "date")
    assert params == [[], []]
    assert select(f"SELECT * FROM {fragment}", params) == []


def test_unnest_refuses_rows_that_do_not_match_the_types():
    with pytest.raises(ValueError, match="2 values for 3 types"):
        sql.unnest([(1, 2)], "bigint", "bigint", "bigint")
    with pytest.raises(ValueError):
        sql.unnest([(1, 2), (3,)], "bigint", "bigint")


def test_the_any_lookup_finds_ids_beyond_a_32_bit_integer_in_one_parameter():
    big = AccountFactory(id=BIG)
    small = AccountFactory()
    AccountFactory()  # not asked for
    contact = ContactFactory(account=big)
    found = Account.objects.filter(id__any=[BIG, small.pk, 999]).order_by("id")
    with CaptureQueriesContext(connection) as queries:
        assert list(found.values_list("id", flat=True)) == [small.pk, big.pk]
    assert '"id" = ANY(' in queries.captured_queries[0]["sql"]
    assert not Account.objects.filter(id__any=[]).exists()
    # Through a foreign key as well, which is how the measures use it.
    assert list(Contact.objects.filter(account_id__any=[BIG])) == [contact]


# --- COPY ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, text",
    [
        (None, r"\N"),
        (True, "t"),
        (False, "f"),
        (7, "7"),
        (2.5, "2.5"),
        (date(2026, 3, 1), "2026-03-01"),
        ("tab\tnew\nline\rback\\", r"tab\tnew\nline\rback\\"),
        ([{"a": None}], '[{"a": null}]'),
        (sql.JSONText('{"a":1}'), '{"a":1}'),
    ],
)
def test_copy_text_escapes_what_the_copy_format_needs(value, text):
    assert sql.copy_text(value) == text


# A snapshot's points per measure, written as PostgreSQL prints an array (here empty).
POINTS = ["measure_points"]


def test_copy_upsert_inserts_then_updates_with_awkward_text():
    account = AccountFactory(id=BIG)
    columns = ["account_id", "date", "score", "color", "components", "explanation", *POINTS]
    components = [{"measure": "nps", "note": HOSTILE, "raw": None}]
    sql.copy_upsert(
        HealthSnapshot,
        columns,
        [(account.pk, date(2026, 3, 1), 50.0, "yellow", components, HOSTILE, "{}")],
        conflict=["account_id", "date"],
    )
    row = HealthSnapshot.objects.get()
    assert (row.account_id, row.score, row.color, row.explanation) == (BIG, 50.0, "yellow", HOSTILE)
    assert row.components == components
    assert row.scorecard_version_id is None

    sql.copy_upsert(
        HealthSnapshot,
        columns,
        [
            (account.pk, date(2026, 3, 1), 80.0, "green", [], "better", "{}"),
            (account.pk, date(2026, 3, 2), 81.0, "green", [], "", "{}"),
        ],
        conflict=["account_id", "date"],
    )
    assert list(HealthSnapshot.objects.order_by("date").values_list("score", "explanation")) == [
        (80.0, "better"),
        (81.0, ""),
    ]
    sql.copy_upsert(HealthSnapshot, columns, [], conflict=["account_id", "date"])  # no-op


def test_json_already_serialised_is_written_as_it_is():
    account = AccountFactory()
    components = [{"measure": "nps", "note": HOSTILE, "raw": 7.0}]
    sql.copy_upsert(
        HealthSnapshot,
        ["account_id", "date", "score", "color", "components", "explanation", *POINTS],
        [
            (
                account.pk,
                date(2026, 3, 1),
                50.0,
                "yellow",
                sql.JSONText(json.dumps(components)),
                "",
                "{}",
            )
        ],  # fmt: skip
        conflict=["account_id", "date"],
    )
    # Stored as JSON (not as a JSON string holding it).
    assert HealthSnapshot.objects.get().components == components


# --- SKIP LOCKED ---------------------------------------------------------------------------


def mark(*accounts, start=datetime(2026, 3, 1, 9, tzinfo=UTC)):
    for minutes, account in enumerate(accounts):
        DirtyAccount.objects.create(account=account, marked_at=start + timedelta(minutes=minutes))


def test_take_queued_takes_the_oldest_rows_and_deletes_them():
    first, second, third = AccountFactory(id=BIG), AccountFactory(), AccountFactory()
    mark(first, second, third)
    assert sorted(sql.take_queued(DirtyAccount, "account_id", "marked_at", 2)) == [
        second.pk,
        BIG,
    ]
    assert list(DirtyAccount.objects.values_list("account_id", flat=True)) == [third.pk]
    assert sql.take_queued(DirtyAccount, "account_id", "marked_at", 5) == [third.pk]
    assert sql.take_queued(DirtyAccount, "account_id", "marked_at", 5) == []


@pytest.mark.django_db(transaction=True)
def test_take_queued_skips_rows_another_transaction_holds():
    first, second, third = AccountFactory(), AccountFactory(), AccountFactory()
    mark(first, second, third)
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:  # psycopg2 opens a transaction: the lock stays held
            cursor.execute(
                "SELECT 1 FROM accounts_dirtyaccount WHERE account_id = %s FOR UPDATE", [first.pk]
            )
        taken = sql.take_queued(DirtyAccount, "account_id", "marked_at", 2)
        assert sorted(taken) == [second.pk, third.pk]  # not waiting for the first, not taking it
    finally:
        other.close()
    assert list(DirtyAccount.objects.values_list("account_id", flat=True)) == [first.pk]


# --- prepared statements -------------------------------------------------------------------

STATEMENT = "SELECT id, external_id FROM accounts_account WHERE id = %s AND name <> %s"


@pytest.mark.django_db(transaction=True)
def test_a_statement_is_prepared_once_per_session():
    account = AccountFactory(id=BIG, external_id="big")
    with CaptureQueriesContext(connection) as queries:
        assert sql.fetchone_prepared(STATEMENT, [BIG, ""]) == (BIG, "big")
        assert sql.fetchone_prepared(STATEMENT, [account.pk, ""]) == (BIG, "big")
        assert sql.fetchone_prepared(STATEMENT, [1, ""]) is None
    assert statements(queries) == ["PREPARE", "EXECUTE", "EXECUTE", "EXECUTE"]
    name = queries.captured_queries[0]["sql"].split(" ")[1]
    assert queries.captured_queries[0]["sql"] == (
        f"PREPARE {name} AS SELECT id, external_id FROM accounts_account"
        " WHERE id = $1 AND name <> $2"
    )
    connection.close()  # a new session has nothing prepared
    with CaptureQueriesContext(connection) as queries:
        assert sql.fetchone_prepared(STATEMENT, [BIG, ""]) == (BIG, "big")
    assert statements(queries) == ["PREPARE", "EXECUTE"]


def test_without_prepared_statements_the_text_is_sent(settings):
    settings.DB_PREPARED_STATEMENTS = False
    AccountFactory(id=BIG, external_id="big")
    with CaptureQueriesContext(connection) as queries:
        assert sql.fetchone_prepared(STATEMENT, [BIG, ""]) == (BIG, "big")
    assert statements(queries) == ["SELECT"]


def test_a_statement_with_a_stray_percent_sign_is_refused():
    with pytest.raises(ValueError, match="no % but its %s"):
        sql.fetchone_prepared("SELECT 1 WHERE 'a' LIKE 'a%%' AND 1 = %s", [1])


@pytest.mark.django_db(transaction=True)
def test_a_column_type_changed_since_preparing_gets_the_statement_prepared_again():
    text = "SELECT value FROM sql_test_prepared WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE sql_test_prepared (id integer, value integer)")
        cursor.execute("INSERT INTO sql_test_prepared VALUES (1, 42)")
    try:
        assert sql.fetchone_prepared(text, [1]) == (42,)
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE sql_test_prepared ALTER COLUMN value TYPE text")
        with CaptureQueriesContext(connection) as queries:
            assert sql.fetchone_prepared(text, [1]) == ("42",)
        assert statements(queries) == ["EXECUTE", "DEALLOCATE", "PREPARE", "EXECUTE"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE sql_test_prepared")


# --- copy_insert ---------------------------------------------------------------------------


def test_copy_insert_appends_rows_from_tuples_or_copy_text():
    account = AccountFactory()
    day = date(2026, 3, 1)
    columns = ["account_id", "date", "score", "color", "components", "explanation", *POINTS]
    sql.copy_insert(HealthSnapshot, columns, [(account.pk, day, 71.5, "green", [], HOSTILE, "{}")])
    text = f"{account.pk}\t{day + timedelta(days=1)}\t40\tred\t[]\tplain\t{{}}\n"
    sql.copy_insert(HealthSnapshot, columns, io.StringIO(text))
    rows = HealthSnapshot.objects.order_by("date").values_list(
        "date", "score", "color", "explanation"
    )
    assert list(rows) == [
        (day, 71.5, "green", HOSTILE),
        (day + timedelta(days=1), 40, "red", "plain"),
    ]


# --- inserted / truncate / local_work_mem --------------------------------------------------

UPSERT_USAGE = """
    INSERT INTO accounts_dailyaccountusage
        (account_id, date, event_count, active_contacts, distinct_events)
    SELECT account_id, day, n, 0, 0 FROM {rows} AS r(account_id, day, n)
    ON CONFLICT (account_id, date)
    DO UPDATE SET event_count = accounts_dailyaccountusage.event_count + EXCLUDED.event_count
    RETURNING date, event_count, {new} AS new
"""


def upsert_usage(account_id, counts: dict) -> dict:
    rows, params = sql.unnest(
        [(account_id, day, n) for day, n in counts.items()], "bigint", "date", "integer"
    )
    text = UPSERT_USAGE.format(rows=rows, new=sql.inserted("accounts_dailyaccountusage"))
    return {day: (n, new) for day, n, new in select(text, params)}


def test_an_upsert_of_three_rows_one_of_which_exists_reports_two_new():
    account = AccountFactory(id=BIG)
    DailyAccountUsage.objects.create(account=account, date=date(2026, 3, 1), event_count=5)
    day1, day2, day3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
    assert upsert_usage(BIG, {day1: 2, day2: 1, day3: 4}) == {
        day1: (7, False),  # 5 + 2, updated
        day2: (1, True),
        day3: (4, True),
    }
    # Rows this transaction inserted a moment ago are updated, not new, the second time.
    assert upsert_usage(BIG, {day2: 1, date(2026, 3, 4): 1}) == {
        day2: (2, False),
        date(2026, 3, 4): (1, True),
    }


def test_inserted_takes_the_alias_of_the_target():
    EventWeek.objects.create(name="login", week=date(2026, 3, 2), event_count=3)
    rows, params = sql.unnest(
        [("login", date(2026, 3, 2), 1), ("login", date(2026, 3, 9), 2)], "text", "date", "integer"
    )
    returned = select(
        f"INSERT INTO accounts_eventweek AS t (name, week, event_count) SELECT * FROM {rows} "
        "ON CONFLICT (name, week) DO UPDATE SET event_count = t.event_count + EXCLUDED.event_count "
        f"RETURNING t.week, t.event_count, {sql.inserted('t')}",
        params,
    )
    assert sorted(returned) == [(date(2026, 3, 2), 4, False), (date(2026, 3, 9), 2, True)]
    assert sql.inserted("t") == "(t.xmax = 0)"


def test_truncate_empties_a_table_whose_foreign_keys_this_transaction_has_yet_to_check():
    account = AccountFactory()
    day = date(2026, 3, 1)
    # The foreign-key checks of these rows are deferred to the commit: PostgreSQL refuses to
    # truncate a table with such pending checks unless they run first.
    EventUse.objects.bulk_create(
        [EventUse(name=n, account=account, first_seen=day, last_seen=day) for n in "abc"]
    )
    sql.truncate(EventUse)
    assert EventUse.objects.count() == 0
    # And the transaction's foreign keys are deferred again: a row pointing at no account is
    # accepted until the check (removed again before the test's end checks the constraints).
    orphan = EventUse.objects.create(name="x", account_id=BIG, first_seen=day, last_seen=day)
    orphan.delete()


def show_work_mem() -> str:
    return select("SHOW work_mem", [])[0][0]


def test_local_work_mem_applies_to_the_block_only():
    before = show_work_mem()
    assert before != "256MB"
    with sql.local_work_mem(256):
        assert show_work_mem() == "256MB"
    assert show_work_mem() == before


def test_local_work_mem_set_in_a_block_that_failed_ends_with_its_savepoint():
    before = show_work_mem()
    with pytest.raises(ZeroDivisionError), transaction.atomic(), sql.local_work_mem(64):
        assert show_work_mem() == "64MB"
        1 / 0  # noqa: B018 (the block fails)
    assert show_work_mem() == before


@pytest.mark.django_db(transaction=True)
def test_local_work_mem_needs_a_transaction():
    with pytest.raises(RuntimeError, match="needs a transaction"), sql.local_work_mem(256):
        pass  # pragma: no cover
