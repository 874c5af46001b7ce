"""Writing a chunk of simulated customers: accounts and contacts with bulk_create (hundreds of
rows, whose ids the next rows need), events with one COPY (hundreds of thousands).

The events' COPY text is built column by column with numpy, not row by row in Python: at
300 accounts and a year that is about 0.15 M rows, written in seconds where
``bulk_create`` took 40 for 0.18 M.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import numpy as np

from accounts.choices import AccountStatus, Persona
from accounts.models import Account, Contact, Event
from cs_platform.sql import copy_insert
from demo.events import NAMES, Events
from demo.simulation import Customer

BATCH = 5000
EVENT_COLUMNS = ["account_id", "contact_id", "name", "occurred_at", "properties", "message_id",
                 "received_at"]  # fmt: skip
PROPERTIES = '{"source": "demo"}'


def write_accounts(customers: list[Customer], seed: int, users: dict, now: datetime) -> list:
    """One Account per customer, in order; their contract history is ``demo.contracts``'."""
    accounts = []
    for c in customers:
        churned_at = None
        if c.churn_day is not None:
            churned_at = min(datetime.combine(c.churn_day, time(hour=17), UTC), now)
        accounts.append(
            Account(
                external_id=f"acc_{seed}_{c.index + 1:05d}",
                name=c.name,
                domain=c.name.lower().replace(" ", "") + ".example",
                industry=c.industry,
                employee_count=c.employees,
                plan=c.plan.name,
                arr=Decimal(c.arr),
                currency=c.currency,
                licenses_purchased=c.seats,
                touch_model=c.touch,
                owner=users[c.owner],
                contract_start=c.contract_start,
                renewal_date=c.renewal_date,
                status=AccountStatus.CHURNED if churned_at else AccountStatus.ACTIVE,
                churned_at=churned_at,
                traits={"region": c.region},
            )
        )
    return Account.objects.bulk_create(accounts, batch_size=BATCH)


def _email(person, domain: str, used: set) -> str:
    local = f"{person.first}.{person.last}".lower().replace("ü", "ue")
    email, n = f"{local}@{domain}", 2
    while email in used:
        email, n = f"{local}{n}@{domain}", n + 1
    used.add(email)
    return email


def write_contacts(accounts, customers, events: Events, seed: int, numbered: int) -> np.ndarray:
    """The chunk's people as contacts, first and last seen from their events; their ids in
    the order of the chunk's people. ``numbered``: contacts written before (external ids)."""
    people = [(a, c, p) for a, c in zip(accounts, customers, strict=True) for p in c.people]
    first = np.full(len(people), np.iinfo(np.int64).max)
    last = np.full(len(people), -1)
    np.minimum.at(first, events.person, events.at)
    np.maximum.at(last, events.person, events.at)
    contacts, used = [], {}
    for row, (account, customer, person) in enumerate(people):
        seen = datetime.combine(account.contract_start, time(hour=10), UTC)
        seen += timedelta(days=(row * 7) % 11)
        contacts.append(
            Contact(
                account=account,
                external_id=f"usr_{seed}_{numbered + row + 1:06d}",
                email=_email(person, account.domain, used.setdefault(account.pk, set())),
                name=f"{person.first} {person.last}",
                title=person.title,
                persona=person.persona,
                is_key_contact=person.persona in {Persona.CHAMPION, Persona.EXECUTIVE_SPONSOR},
                is_active=person.left_day is None and customer.churn_day is None,
                first_seen_at=_from_epoch(first[row]) if last[row] >= 0 else seen,
                last_seen_at=_from_epoch(last[row]) if last[row] >= 0 else None,
            )
        )
    created = Contact.objects.bulk_create(contacts, batch_size=BATCH)
    return np.array([c.pk for c in created], dtype=np.int64)


def _from_epoch(seconds) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _text(values) -> np.ndarray:
    return np.asarray(values).astype(str).astype(object)


def write_events(events: Events, contact_ids, account_of_person, seed: int, numbered: int) -> int:
    """COPY the events; message ids ``demo-<seed>-<n>`` continue from ``numbered``. The COPY
    text is joined from columns of strings (numpy object arrays): a quarter of the time
    pandas' ``to_csv`` takes for the same rows."""
    if not len(events):
        return 0
    at = _text(np.datetime_as_string(events.at.astype("datetime64[s]"))) + "+00"
    ids = np.char.zfill(np.arange(numbered + 1, numbered + len(events) + 1).astype(str), 9)
    lines = (
        _text(account_of_person[events.person]) + "\t"
        + _text(contact_ids[events.person]) + "\t"
        + np.array(NAMES, dtype=object)[events.name] + "\t"
        + at + f"\t{PROPERTIES}\tdemo-{seed}-" + ids.astype(object) + "\t"
        + at
    )  # fmt: skip
    copy_insert(Event, EVENT_COLUMNS, io.StringIO("\n".join(lines.tolist()) + "\n"))
    return len(events)


def link_parents(rng, accounts, customers) -> None:
    """A few smaller accounts are subsidiaries of an enterprise customer."""
    parents = [a for a, c in zip(accounts, customers, strict=True) if c.plan.name == "Enterprise"]
    if not parents:
        return
    parent_ids = {a.pk for a in parents}
    children = [a for a in accounts if a.pk not in parent_ids and rng.random() < 0.04]
    for child in children:
        child.parent = rng.choice(parents)
    Account.objects.bulk_update(children, ["parent"], batch_size=BATCH)
