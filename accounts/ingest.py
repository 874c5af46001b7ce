"""Segment-compatible ingestion: validate, link, store, and say per message what happened.

Everything accepted is written in one transaction before the caller answers, so a 200 means
committed. ``group`` and ``identify`` upsert accounts and contacts; ``track`` and ``page`` become
events, linked to an account through ``context.groupId`` or the contact's account. A repeated
``messageId`` is reported as a duplicate and counted once. Work is set-based: a batch of 500
messages costs a fixed number of queries, whatever its size.

Lock order. Clients post batches for the same accounts and users at once, so one batch's
transaction takes its row locks in an order every other batch shares, or two of them wait on
each other until PostgreSQL breaks the deadlock by failing one (issue 14: a 500). In order:

1. processed message ids of group/identify calls, sorted (a new key waits for a concurrent
   insert of the same key);
2. with group/identify calls only: the existing contacts the batch names, in id order, FOR NO
   KEY UPDATE, so the contact upserts and first/last seen below lock only rows already held;
3. accounts (the group upsert: existing rows in id order, new ones by external_id), then
   contacts (created and upserted, sorted by external_id);
4. events, sorted by message id;
5. the contacts whose first/last seen move, in id order, FOR NO KEY UPDATE;
6. the roll-ups: contact-days, feature-days, account-days, each sorted by its key;
7. the dirty marks, sorted, in one statement (``marks_written_last``);
8. at COMMIT, PostgreSQL's deferred foreign-key checks take FOR KEY SHARE on every account
   and contact referenced, in the order of the rows written. No step above locks with FOR
   UPDATE, the one row lock that blocks KEY SHARE: steps 2, 3 and 5 lock with FOR NO KEY
   UPDATE, as an UPDATE that changes no key does. (Before, FOR UPDATE in steps 3 and 5 met
   the other batch's commit-time KEY SHARE, each waiting on the other.)
"""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.choices import ContractSource, Persona
from accounts.dirty import mark_dirty, marks_written_last
from accounts.models import Account, Contact, Event, ProcessedMessage
from accounts.upsert import upsert_accounts, upsert_contacts
from accounts.usage import add_to_rollups
from cs_platform.sql import unnest

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_EVENT_NAME = 200
MAX_ID_LENGTH = 255
# An event may be timestamped this far ahead of its arrival (a device clock running fast);
# beyond it the time is wrong, and a usage day in the future would be scored as if it came.
FUTURE_TOLERANCE = timedelta(hours=24)
CONFLICT_RETRIES = 3
TYPES = {"track", "page", "screen", "identify", "group"}
ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"

# Segment group traits -> Account fields (Segment's reserved traits and common aliases).
GROUP_TRAITS = {
    "name": "name",
    "website": "domain",
    "domain": "domain",
    "industry": "industry",
    "employees": "employee_count",
    "employee_count": "employee_count",
    "plan": "plan",
    "arr": "arr",
    "currency": "currency",
    "licenses": "licenses_purchased",
    "licenses_purchased": "licenses_purchased",
    "seats": "licenses_purchased",
    "touch_model": "touch_model",
    "renewal_date": "renewal_date",
    "contract_start": "contract_start",
}
IDENTIFY_TRAITS = {
    "email": "email",
    "name": "name",
    "title": "title",
    "persona": "persona",
    "is_key_contact": "is_key_contact",
}


@dataclass
class MessageResult:
    index: int
    message_id: str
    type: str
    status: str
    reason: str = ""

    def as_dict(self) -> dict:
        data = {"index": self.index, "messageId": self.message_id, "status": self.status}
        if self.reason:
            data["reason"] = self.reason
        return data


class Rejected(ValueError):
    """One message cannot be stored; the reason goes back to the sender."""


def _parse_time(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Rejected(f"{field}: expected an ISO 8601 date-time string")
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except (ValueError, OverflowError):  # looks right, is not a date (month 13, hour 25)
        parsed = None
    if parsed is None:
        raise Rejected(f"{field}: {value!r} is not an ISO 8601 date-time")
    if timezone.is_naive(parsed):
        return parsed.replace(tzinfo=UTC)
    # Stored as UTC: an exotic offset (-23:53 is valid ISO 8601) must not reach the database.
    return parsed.astimezone(UTC)


def event_time(message: dict, received_at: datetime, batch_sent_at) -> datetime:
    """When it happened, as Segment computes it.

    An explicit ``timestamp`` is taken as given. Otherwise the device's ``originalTimestamp``
    is corrected for the device clock's skew: received_at - (sentAt - originalTimestamp).
    """
    explicit = _parse_time(message.get("timestamp"), "timestamp")
    if explicit:
        return explicit
    original = _parse_time(message.get("originalTimestamp"), "originalTimestamp")
    sent_at = _parse_time(message.get("sentAt"), "sentAt") or batch_sent_at
    if original and sent_at:
        try:
            return received_at - (sent_at - original)
        except OverflowError:
            raise Rejected("originalTimestamp: too far from sentAt to correct") from None
    return original or received_at


def _group_id(message: dict) -> str | None:
    context = message.get("context") or {}
    traits = message.get("traits") or {}
    company = traits.get("company") if isinstance(traits.get("company"), dict) else {}
    for value in (context.get("groupId"), traits.get("groupId"), company.get("id")):
        if value not in (None, ""):
            if len(str(value)) > MAX_ID_LENGTH:
                raise Rejected(f"groupId: longer than {MAX_ID_LENGTH} characters")
            return str(value)
    return None


def _identifier(message: dict, field: str) -> str | None:
    value = message.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str | int):
        raise Rejected(f"{field}: expected a string")
    if len(str(value)) > MAX_ID_LENGTH:
        raise Rejected(f"{field}: longer than {MAX_ID_LENGTH} characters")
    return str(value)


def _validate(message, index: int, received_at, sent_at) -> dict:
    """Check one message's shape; returns it normalised, or raises Rejected."""
    if not isinstance(message, dict):
        raise Rejected("each message must be a JSON object")
    kind = message.get("type")
    if kind not in TYPES:
        raise Rejected(f"type: expected one of {', '.join(sorted(TYPES))}, got {kind!r}")
    dumped = json.dumps(message, default=str)
    if len(dumped) > MAX_MESSAGE_BYTES:
        raise Rejected(f"message larger than {MAX_MESSAGE_BYTES // 1024} KB")
    if "\\u0000" in dumped:
        raise Rejected("contains a NUL character (\\u0000), which cannot be stored")
    for field in ("context", "traits", "properties"):
        if message.get(field) is not None and not isinstance(message[field], dict):
            raise Rejected(f"{field}: expected an object")
    context_traits = (message.get("context") or {}).get("traits")
    if context_traits is not None and not isinstance(context_traits, dict):
        raise Rejected("context.traits: expected an object")
    user_id = _identifier(message, "userId")
    normal = {
        "index": index,
        "type": kind,
        "message_id": _identifier(message, "messageId") or f"generated-{uuid.uuid4()}",
        "user_id": user_id,
        "group_id": _group_id(message),
        "traits": message.get("traits") or context_traits or {},
        "properties": message.get("properties") or {},
        "at": event_time(message, received_at, sent_at),
    }
    if kind == "group":
        if message.get("groupId") in (None, ""):
            raise Rejected("groupId: required for group")
        normal["group_id"] = _identifier(message, "groupId")
        normal["traits"] = message.get("traits") or {}
    elif kind == "identify":
        if not user_id:
            raise Rejected("userId: required for identify (anonymous profiles are not stored)")
    else:
        name = message.get("event") if kind == "track" else f"{kind}_viewed"
        if not isinstance(name, str) or not name.strip():
            raise Rejected("event: required for track")
        if len(name) > MAX_EVENT_NAME:
            raise Rejected(f"event: longer than {MAX_EVENT_NAME} characters")
        if not user_id and not normal["group_id"]:
            raise Rejected("no userId and no context.groupId: the event cannot be linked")
        if normal["at"] > received_at + FUTURE_TOLERANCE:
            raise Rejected(
                f"timestamp: {normal['at']:%Y-%m-%dT%H:%M:%SZ} is more than 24 hours after the "
                "message arrived (check the sender's clock)"
            )
        normal["name"] = name.strip()
        if kind in {"page", "screen"} and message.get("name"):
            normal["properties"] = {**normal["properties"], "name": message["name"]}
    return normal


def _mapped(traits: dict, mapping: dict) -> tuple[dict, dict]:
    item, rest = {}, {}
    for key, value in traits.items():
        if key in mapping and value not in (None, ""):
            item[mapping[key]] = value
        elif key not in {"groupId", "company"}:
            rest[key] = value
    return item, rest


def _first_error(result) -> str:
    return "; ".join(f"{field}: {' '.join(reasons)}" for field, reasons in result.errors.items())


def ingest_messages(messages: list, *, received_at=None, sent_at=None) -> list[MessageResult]:
    """Store a batch; every message gets a result in the order it came."""
    received_at = received_at or timezone.now()
    results: dict[int, MessageResult] = {}
    valid: list[dict] = []
    for index, message in enumerate(messages):
        message_id = str(message.get("messageId", "")) if isinstance(message, dict) else ""
        kind = message.get("type", "") if isinstance(message, dict) else ""
        try:
            valid.append(_validate(message, index, received_at, sent_at))
        except Rejected as exc:
            results[index] = MessageResult(index, message_id, str(kind), REJECTED, str(exc))

    rejected_up_front = dict(results)
    for attempt in range(CONFLICT_RETRIES):
        results = dict(rejected_up_front)
        try:
            with transaction.atomic(), marks_written_last():
                _store(valid, results, received_at)
            break
        except (IntegrityError, OperationalError) as exc:
            # A concurrent request created the same account or contact a moment earlier (a
            # second pass finds it committed and updates it instead). A deadlock should not
            # happen (see "Lock order" above); if one still does, nothing was written and the
            # batch is tried again, as a last safety net.
            if attempt == CONFLICT_RETRIES - 1 or not _may_retry(exc):
                raise
    return [results[i] for i in sorted(results)]


def _may_retry(exc) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    # PostgreSQL's deadlock_detected and serialization_failure: nothing was written.
    return getattr(exc.__cause__, "pgcode", None) in {"40P01", "40001"}


def _store(valid, results, received_at):
    profiles = [m for m in valid if m["type"] in {"group", "identify"}]
    fresh = _first_time_seen(profiles, received_at)
    if fresh:
        _lock_contacts({m["user_id"] for m in valid if m["user_id"]})
    for message in profiles:
        if message["message_id"] not in fresh:
            results[message["index"]] = MessageResult(
                message["index"], message["message_id"], message["type"], DUPLICATE
            )
    _apply_groups(
        [m for m in profiles if m["type"] == "group" and m["message_id"] in fresh], results
    )
    _apply_identifies(
        [m for m in profiles if m["type"] == "identify" and m["message_id"] in fresh], results
    )
    touched_accounts: set[int] = set()
    events = [m for m in valid if m["type"] not in {"group", "identify"}]
    _store_events(events, results, touched_accounts, received_at)
    mark_dirty(touched_accounts)


def _first_time_seen(messages, received_at) -> set[str]:
    """Record group/identify message ids; returns those not seen before (events have theirs)."""
    if not messages:
        return set()
    table = connection.ops.quote_name(ProcessedMessage._meta.db_table)
    field = ProcessedMessage._meta.get_field("received_at")
    at = field.get_db_prep_value(received_at, connection)
    ids = sorted({m["message_id"] for m in messages})  # sorted: see "Lock order"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (message_id, received_at) VALUES "
            + ", ".join(["(%s, %s)"] * len(ids))
            + " ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
            [v for message_id in ids for v in (message_id, at)],
        )
        fresh = {row[0] for row in cursor.fetchall()}
    # A second copy inside this batch is a duplicate of the first.
    seen, first = set(), set()
    for message in messages:
        if message["message_id"] in fresh and message["message_id"] not in seen:
            first.add(message["message_id"])
        seen.add(message["message_id"])
    return first


def _lock_contacts(external_ids: set[str]) -> None:
    """Lock the existing contacts of these user ids, in id order (step 2 of "Lock order").

    Only for batches that upsert contacts: otherwise a contact locked by the upsert early in
    one batch and by first/last seen late in another makes two batches cross. A batch of
    events alone locks existing contacts only late (first/last seen), holding nothing a
    batch of profiles wants but a contact both create at once (a user first seen in both);
    locking them all up front would queue every batch behind the one before."""
    table = connection.ops.quote_name(Contact._meta.db_table)
    source, params = unnest([(e,) for e in sorted(external_ids)], "text")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM {table} AS c WHERE c.external_id IN (SELECT * FROM {source}) "
            "AND c.external_id <> '' ORDER BY c.id FOR NO KEY UPDATE",  # <>: the unique index
            params,
        )


def _apply_groups(groups, results):
    items = []
    for message in groups:
        item, extra = _mapped(message["traits"], GROUP_TRAITS)
        item["external_id"] = message["group_id"]
        if extra:
            item["traits"] = extra
        items.append(item)
    # Segment sends group before the name is known; a new account is named after its id.
    existing = set(
        Account.objects.filter(external_id__in=[i["external_id"] for i in items]).values_list(
            "external_id", flat=True
        )
    )
    for item in items:
        if item["external_id"] not in existing and "name" not in item:
            item["name"] = item["external_id"]
    # The upsert marks what it wrote for recompute, in this transaction.
    # Each account's contract change is dated at its (last) call's timestamp.
    moments = {m["group_id"]: m["at"] for m in groups}
    written = upsert_accounts(
        _sorted_by_key(_last_per_key(items)),
        all_or_nothing=False,
        source=ContractSource.SEGMENT,
        moments=moments,
    )
    _record_upserts(groups, written, results)
    # group(userId, groupId) says the user belongs to the account: later identify and track
    # calls without a groupId then find the account through the user.
    members = {
        m["user_id"]: m["group_id"]
        for m in groups
        if m["user_id"] and results[m["index"]].status == ACCEPTED
    }
    if members:
        ids = dict(
            Account.objects.filter(external_id__in=set(members.values())).values_list(
                "external_id", "id"
            )
        )
        Contact.objects.bulk_create(
            [
                Contact(external_id=u, account_id=ids[g])
                for u, g in sorted(members.items())
                if g in ids
            ],
            ignore_conflicts=True,
        )


def _last_per_key(items: list[dict], key: str = "external_id") -> list[dict]:
    """Several calls for the same id in one batch: merge them, later values winning."""
    merged: dict[str, dict] = {}
    for item in items:
        target = merged.setdefault(item[key], {})
        traits = {**target.get("traits", {}), **item.get("traits", {})}
        target.update(item)
        if traits:
            target["traits"] = traits
    return list(merged.values())


def _sorted_by_key(items: list[dict], key: str = "external_id") -> list[dict]:
    """Items in key order: the upsert creates rows in item order (see "Lock order")."""
    return sorted(items, key=lambda item: item[key])


def _record_upserts(messages, upsert_results, results):
    by_key = {r.key: r for r in upsert_results}
    for message in messages:
        key = message["group_id"] if message["type"] == "group" else message["user_id"]
        outcome = by_key.get(key)
        status, reason = ACCEPTED, ""
        if outcome is not None and outcome.status in {"rejected", "skipped"}:
            status, reason = REJECTED, _first_error(outcome) or "not stored"
        results[message["index"]] = MessageResult(
            message["index"], message["message_id"], message["type"], status, reason
        )


def _apply_identifies(identifies, results):
    known = set(
        Contact.objects.filter(external_id__in=[m["user_id"] for m in identifies]).values_list(
            "external_id", flat=True
        )
    )
    items, sendable = [], []
    for message in identifies:
        item, extra = _mapped(message["traits"], IDENTIFY_TRAITS)
        if "name" not in item:
            full = " ".join(
                str(message["traits"].get(k, "")) for k in ("firstName", "lastName")
            ).strip()
            if full:
                item["name"] = full
                extra.pop("firstName", None), extra.pop("lastName", None)
        item["external_id"] = message["user_id"]
        if message["group_id"]:
            item["account"] = message["group_id"]
        elif message["user_id"] not in known:
            results[message["index"]] = MessageResult(
                message["index"], message["message_id"], "identify", REJECTED,
                "a new user needs context.groupId or traits.groupId to link it to an account",
            )  # fmt: skip
            continue
        if extra:
            item["traits"] = extra
        items.append(item)
        sendable.append(message)
    if not items:
        return
    # identify may arrive before group: make sure the named accounts exist.
    _ensure_accounts({i["account"] for i in items if "account" in i})
    outcomes = upsert_contacts(_sorted_by_key(_last_per_key(items)), all_or_nothing=False)
    _record_upserts(sendable, outcomes, results)


def _ensure_accounts(external_ids: set[str]) -> None:
    if external_ids:
        Account.objects.bulk_create(
            [Account(external_id=e, name=e) for e in sorted(external_ids)], ignore_conflicts=True
        )


def _store_events(events, results, touched, received_at):
    if not events:
        return
    accounts = dict(
        Account.objects.filter(external_id__in={m["group_id"] for m in events if m["group_id"]})
        .values_list("external_id", "id")
    )  # fmt: skip
    contacts = {
        ext: (pk, account_id)
        for ext, pk, account_id in Contact.objects.filter(
            external_id__in={m["user_id"] for m in events if m["user_id"]}
        ).values_list("external_id", "id", "account_id")
    }
    new_contacts: dict[str, int] = {}
    rows = []
    for message in events:
        account_id = None
        if message["group_id"]:
            account_id = accounts.get(message["group_id"])
            if account_id is None:
                results[message["index"]] = _reject(
                    message, f"context.groupId {message['group_id']!r} is not a known account; "
                    "send a group call for it first",
                )  # fmt: skip
                continue
        contact = contacts.get(message["user_id"]) if message["user_id"] else None
        if account_id is None:
            if contact is None:
                results[message["index"]] = _reject(
                    message, f"userId {message['user_id']!r} is not a known contact and no "
                    "context.groupId names the account",
                )  # fmt: skip
                continue
            account_id = contact[1]
        if message["user_id"] and contact is None:
            new_contacts.setdefault(message["user_id"], account_id)
        rows.append((message, account_id))

    # Users first seen in a track call become contacts of the account they acted in.
    if new_contacts:
        Contact.objects.bulk_create(
            [
                Contact(external_id=ext, account_id=acc, persona=Persona.END_USER)
                for ext, acc in sorted(new_contacts.items())
            ],
            ignore_conflicts=True,
        )
        contacts.update(
            {
                ext: (pk, acc)
                for ext, pk, acc in Contact.objects.filter(
                    external_id__in=list(new_contacts)
                ).values_list("external_id", "id", "account_id")
            }
        )

    stored = _insert_events(
        [
            (
                account_id,
                contacts[m["user_id"]][0] if m["user_id"] in contacts else None,
                m["name"],
                m["at"],
                m["properties"],
                m["message_id"],
                received_at,
            )
            for m, account_id in sorted(rows, key=lambda row: row[0]["message_id"])
        ]
    )
    for message, account_id in rows:
        status = ACCEPTED if message["message_id"] in stored else DUPLICATE
        stored.discard(message["message_id"])  # a second copy in the same batch is a duplicate
        results[message["index"]] = MessageResult(
            message["index"], message["message_id"], message["type"], status
        )
        if status == ACCEPTED:
            touched.add(account_id)
    accepted = [(m, a) for m, a in rows if results[m["index"]].status == ACCEPTED]
    if accepted:
        _after_events(accepted, contacts)


def _reject(message, reason) -> MessageResult:
    return MessageResult(message["index"], message["message_id"], message["type"], REJECTED, reason)


def _insert_events(rows) -> set[str]:
    """INSERT ... ON CONFLICT (message_id) DO NOTHING RETURNING message_id.

    Returns the message ids actually stored; the others were already there (duplicates),
    even when a concurrent request stored them a moment ago.
    """
    if not rows:
        return set()
    table = connection.ops.quote_name(Event._meta.db_table)
    columns = "account_id, contact_id, name, occurred_at, properties, message_id, received_at"
    conflict = "ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
    rows = [
        (account_id, contact_id, name, at, json.dumps(props, default=str), message_id, received)
        for account_id, contact_id, name, at, props, message_id, received in rows
    ]
    # The rows as seven arrays: PostgreSQL parses seven parameters rather than a VALUES list
    # of seven per event (psycopg2 sends aware datetimes as they are).
    source, params = unnest(
        rows, "bigint", "bigint", "text", "timestamptz", "jsonb", "text", "timestamptz"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM {source} {conflict}", params)
        return {row[0] for row in cursor.fetchall()}


def _after_events(accepted, contacts):
    """Contacts' first/last seen and the roll-ups, in a fixed number of statements."""
    seen: dict[int, tuple[datetime, datetime]] = {}
    rollup_rows = []
    for message, account_id in accepted:
        contact_id = contacts[message["user_id"]][0] if message["user_id"] in contacts else None
        rollup_rows.append((account_id, contact_id, message["name"], message["at"]))
        if contact_id is not None:
            low, high = seen.get(contact_id, (message["at"], message["at"]))
            seen[contact_id] = (min(low, message["at"]), max(high, message["at"]))
    _widen_seen(seen)
    add_to_rollups(rollup_rows)


def _widen_seen(seen: dict[int, tuple[datetime, datetime]]) -> None:
    """Move first_seen_at back and last_seen_at forward where this batch says so."""
    if not seen:
        return
    # One UPDATE from three arrays; the ORM's bulk_update builds a CASE per row. The rows to
    # change are locked first, in id order (the join's order follows the plan, not the
    # ids), and FOR NO KEY UPDATE, as the UPDATE itself would: FOR UPDATE also blocks the
    # KEY SHARE of another batch's commit-time foreign-key checks (see "Lock order").
    table = connection.ops.quote_name(Contact._meta.db_table)
    rows = [(pk, low, high) for pk, (low, high) in sorted(seen.items())]
    source, params = unnest(rows, "bigint", "timestamptz", "timestamptz")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET "
            "first_seen_at = LEAST(COALESCE(c.first_seen_at, v.low), v.low), "
            "last_seen_at = GREATEST(COALESCE(c.last_seen_at, v.high), v.high) "
            f"FROM (SELECT v.id, v.low, v.high FROM {source} AS v(id, low, high) "
            f"JOIN {table} AS locked ON locked.id = v.id "
            "WHERE locked.first_seen_at IS NULL OR locked.first_seen_at > v.low "
            "OR locked.last_seen_at IS NULL OR locked.last_seen_at < v.high "
            "ORDER BY v.id FOR NO KEY UPDATE OF locked) AS v WHERE c.id = v.id",
            params,
        )
