"""The HTTP ingest benchmark's payload helpers, without a server or a database."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from bench.benchmarks.ingest_http import (
    CALL,
    COLUMNS,
    DAY,
    NOW,
    Person,
    batch_templates,
    call_day,
    copy_rows,
    csv_template,
    make_specs,
    render,
    server_environment,
)
from bench.registry import Context

PEOPLE = [
    Person(1, "usr_1", 10, "acc_1", "admin"),
    Person(2, "usr_2", 10, "acc_1", "end_user"),
    Person(3, "usr_3", 11, "acc_2", "end_user"),
]
NAMES = {"admin": [("login", 5), ("settings_updated", 1)], "end_user": [("dashboard_viewed", 1)]}
DAY_1 = date(2026, 3, 2)
NOW_TEXT = "2026-03-05T09:00:00+00:00"


def specs(count=20):
    return make_specs(PEOPLE, count, lambda persona: NAMES[persona], seed=3)


def rendered_batches(batch_size=5, call=0, day=DAY_1):
    bodies = batch_templates(specs(), batch_size, "bench-t")
    return [json.loads(render(body, call, day, NOW_TEXT)) for body in bodies]


def test_specs_are_reproducible_and_named_as_the_persona_acts():
    first, again = specs(), specs()
    assert first == again
    assert {s.person for s in first} <= set(PEOPLE)
    for spec in first:
        assert spec.name in {n for n, _ in NAMES[spec.person.persona]}
        datetime.strptime(spec.time_of_day, "%H:%M:%S.%f")
    with pytest.raises(ValueError, match="no contacts"):
        make_specs([], 1, lambda persona: NAMES[persona])


def test_batches_carry_batch_size_track_messages_linked_to_account_and_contact():
    batches = rendered_batches(batch_size=5)
    assert len(batches) == 4
    for body in batches:
        assert body["sentAt"] == NOW_TEXT
        assert len(body["batch"]) == 5
        for message in body["batch"]:
            assert message["type"] == "track"
            person = next(p for p in PEOPLE if p.user_id == message["userId"])
            assert message["context"]["groupId"] == person.group_id
            assert message["timestamp"].startswith("2026-03-02T")
    with pytest.raises(ValueError, match="batches of 7"):
        batch_templates(specs(), 7, "bench-t")


def test_every_call_sends_new_message_ids_and_no_placeholder_survives():
    ids = {
        call: [m["messageId"] for body in rendered_batches(call=call) for m in body["batch"]]
        for call in (0, 1, 10)
    }
    assert all(len(set(found)) == 20 for found in ids.values())
    assert not set(ids[0]) & set(ids[1]) and not set(ids[1]) & set(ids[10])
    text = render(b"".join(batch_templates(specs(), 5, "bench-t")), 1, DAY_1, NOW_TEXT)
    for placeholder in (CALL, DAY, NOW):
        assert placeholder.encode() not in text


def test_copy_buffer_holds_the_same_events_as_the_batches():
    rows = copy_rows(specs(), "bench-t")
    buffer = render(csv_template(rows), 4, DAY_1, NOW_TEXT).decode()
    parsed = list(csv.reader(io.StringIO(buffer)))
    messages = [m for body in rendered_batches(call=4) for m in body["batch"]]
    assert len(parsed) == len(messages) == 20
    for row, message in zip(parsed, messages, strict=True):
        record = dict(zip(COLUMNS, row, strict=True))
        person = next(p for p in PEOPLE if p.user_id == message["userId"])
        assert (int(record["account_id"]), int(record["contact_id"])) == (
            person.account_id,
            person.contact_id,
        )
        assert record["name"] == message["event"]
        assert json.loads(record["properties"]) == message["properties"]
        occurred = datetime.fromisoformat(record["occurred_at"])
        assert occurred == datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))
        assert record["received_at"] == NOW_TEXT
        # Floor and subject rows must not collide on the unique message_id.
        assert record["message_id"] != message["messageId"]
        assert record["message_id"].startswith("bench-t-copy-4-")
    assert len({row[5] for row in parsed}) == 20


def test_the_ingest_reads_the_message_as_the_floor_row_describes_it():
    from accounts.ingest import _validate

    message = rendered_batches(call=0)[0]["batch"][0]
    row = dict(zip(COLUMNS, copy_rows(specs(), "bench-t")[0], strict=True))
    normal = _validate(message, 0, datetime.now(UTC), None)
    assert normal["name"] == row["name"]
    assert normal["properties"] == json.loads(row["properties"])
    assert normal["at"] == datetime.fromisoformat(row["occurred_at"].replace(DAY, "2026-03-02"))


def test_subject_and_floor_write_to_days_of_their_own_inside_the_window():
    ctx = Context(size=5, days=120, as_of=date(2026, 3, 2), start=date(2025, 11, 3))
    subject_days = [call_day(ctx, call, newest=True) for call in range(60)]
    floor_days = [call_day(ctx, call, newest=False) for call in range(60)]
    assert subject_days[0] == ctx.as_of and floor_days[0] == ctx.start
    assert len(set(subject_days)) == len(set(floor_days)) == 60
    assert not set(subject_days) & set(floor_days)
    assert all(ctx.start <= d <= ctx.as_of for d in subject_days + floor_days)
    assert call_day(ctx, 60, newest=True) == ctx.as_of  # wraps around after half the window
    assert ctx.start + timedelta(days=ctx.days - 1) == ctx.as_of


def test_server_environment_keeps_the_database_and_opens_the_gates():
    env = server_environment({"DATABASE_URL": "postgres://x/y_bench", "DEBUG": "true"})
    assert env["DATABASE_URL"] == "postgres://x/y_bench"
    assert (env["DEBUG"], env["SECURE_SSL_REDIRECT"], env["EMBEDDED_SERVICES"]) == (
        "false",
        "false",
        "true",
    )
    assert set(env["ALLOWED_HOSTS"].split(",")) == {"127.0.0.1", "localhost"}
    assert int(env["API_RATE_LIMIT_PER_MINUTE"]) >= 10**8
