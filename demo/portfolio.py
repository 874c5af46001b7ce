"""build_demo_portfolio: a year of a believable book of customers, written in one transaction.

Every random draw comes from generators seeded by ``seed`` and every date is relative to
``as_of``, so the same seed and date give the same portfolio; a failed run leaves nothing.
Customers are simulated and written ``CHUNK`` at a time (``demo.simulation`` says who they
are and why some leave, ``demo.behaviour`` how they use the product), then the roll-ups,
journeys, surveys and milestones are built for all of them at once.
"""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

import numpy as np
from django.db import transaction
from django.utils import timezone

from accounts.catalogue import describe_event, rebuild_event_catalogue
from accounts.usage import rebuild_daily_usage
from demo import behaviour, writer
from demo.contracts import write_contract_history
from demo.events import draw_events
from demo.journeys import write_journeys, write_success_plans
from demo.simulation import KEY_EVENTS, Grid, draw_customers, generators
from demo.surveys import write_surveys_and_notes
from demo.users import demo_users, ensure_demo_users

CHUNK = 200  # customers simulated at once: bounds memory (people x days arrays)


@dataclass
class Counts:
    users: int = 0
    accounts: int = 0
    churned: int = 0
    contacts: int = 0
    events: int = 0
    surveys: int = 0
    notes: int = 0
    escalations: int = 0
    transitions: int = 0
    milestones: int = 0
    contract_changes: int = 0
    by_kind: Counter = field(default_factory=Counter)


def _simulate_chunk(customers, grid, rngs, seed, users, now, counts) -> list:
    """Simulate and write one chunk: accounts, contacts, events."""
    walk = behaviour.engagement(customers, grid, rngs["engagement"])
    behaviour.decide_renewals(behaviour.usage(customers, walk, grid), grid, rngs["renewals"])
    use = behaviour.usage(customers, walk, grid)  # with the fade of those who leave
    personas = [p.persona for c in customers for p in c.people]
    events = draw_events(use, personas, grid, now, rngs["events"])
    accounts = writer.write_accounts(customers, seed, users, now)
    contact_ids = writer.write_contacts(accounts, customers, events, seed, counts.contacts)
    account_ids = np.array([a.pk for a in accounts], dtype=np.int64)[use.owner]
    counts.events += writer.write_events(events, contact_ids, account_ids, seed, counts.events)
    counts.contacts += len(contact_ids)
    return accounts


def build_demo_portfolio(
    *, accounts: int, seed: int, days: int, as_of: date, password_for
) -> tuple[Counts, list[tuple[str, str, str]]]:
    """Write ``accounts`` customers (those who churned within the ``days`` up to ``as_of``
    included) with their usage, in one transaction; (counts, demo logins)."""
    if days < 30 or accounts < 1:
        raise ValueError("a demo portfolio needs at least 1 account and 30 days of history")
    counts = Counts()
    # Nothing happens after the real present, even when seeding in the morning.
    now = min(datetime.combine(as_of, time(hour=20), UTC), timezone.now())
    grid = Grid(as_of, days)
    window_start = grid.day(grid.window_start)
    rngs = generators(seed, "engagement", "renewals", "events")
    with transaction.atomic():
        logins = ensure_demo_users(password_for)
        counts.users, users = len(logins), demo_users()
        customers = draw_customers(accounts, grid, seed)
        rows = []
        for start in range(0, len(customers), CHUNK):
            chunk = customers[start : start + CHUNK]
            rows += _simulate_chunk(chunk, grid, rngs, seed, users, now, counts)
        # Generators of their own, so each part added later leaves the others' rows as they were.
        writer.link_parents(random.Random(f"parents-{seed}"), rows, customers)
        counts.contract_changes = write_contract_history(
            random.Random(f"contracts-{seed}"), rows, now
        )
        stories = {a.pk: c.story for a, c in zip(rows, customers, strict=True)}
        values = {a.pk: c.value_ratio for a, c in zip(rows, customers, strict=True)}
        counts.transitions, counts.escalations = write_journeys(
            random.Random(f"journeys-{seed}"), rows, stories, now
        )
        counts.surveys, counts.notes = write_surveys_and_notes(
            random.Random(f"surveys-{seed}"), rows, values, stories, window_start, now
        )
        rebuild_daily_usage(window_start, as_of, [a.pk for a in rows])
        counts.milestones = write_success_plans(
            random.Random(f"plans-{seed}"), rows, window_start, now
        )
    # The event catalogue knows the demo's events, and its admin chose the key features.
    rebuild_event_catalogue(now)
    for name in KEY_EVENTS:
        describe_event(name, key_feature=True, description="A key feature of the demo product.")
    counts.accounts = len(rows)
    counts.by_kind.update(stories.values())
    counts.churned = sum(c.churn_day is not None for c in customers)
    return counts, logins
