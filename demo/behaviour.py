"""How much each person uses the product on each day of the grid, and the renewals it leads to.

Arrays are (people or accounts) x grid days, for one chunk of customers at a time:
``usage_chance`` (chance of a day of activity) and ``key_share`` (chance that an event is a
key event). ``decide_renewals`` reads the value they give, decides each renewal, and marks the
customers who leave; the arrays are then rebuilt with their fade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accounts.choices import Persona
from demo.simulation import (
    BACKGROUND_CHURN,
    DECISION_LEAD,
    DECISION_WEEKS,
    EVENTS_BY_PERSONA,
    KEY_EVENTS,
    PERSONA_RHYTHM,
    WEEKEND_FACTOR,
    Customer,
    Grid,
    add_years,
    churn_chance,
)

RAMP_DAYS = 45  # a new customer reaches its full use this many days after signing
FADE_DAYS = 56  # an admin who drifts away takes this long to reach FADED
FADED = 0.15
EROSION_PER_WEEK = 0.035  # log engagement lost per week by an eroding account
EROSION_FLOOR = -1.2
DIPS_PER_YEAR = 0.5  # temporary dips of engagement, each 2-6 weeks deep, then recovered
SURPRISE_WARNING = 14  # days at most between a no-warning decision and the renewal
LEAVING_DAYS = (18, 35)  # time constant of the fade of a customer who decided to leave


def _key_weights(persona: str) -> tuple[float, float]:
    mix = EVENTS_BY_PERSONA[persona]
    key = sum(w for n, w in mix if n in KEY_EVENTS)
    return key, sum(w for n, w in mix if n not in KEY_EVENTS)


KEY_WEIGHTS = {p: _key_weights(p) for p in EVENTS_BY_PERSONA}


def engagement(customers: list[Customer], grid: Grid, rng: np.random.Generator) -> np.ndarray:
    """Log engagement per account and grid day: a weekly walk back towards the account's
    level, with a few dips that recover, eroding for some accounts from a day on."""
    weeks = grid.size // 7 + 1
    level = np.array([c.level for c in customers])
    noise = rng.normal(0, 0.09, size=(len(customers), weeks))
    walk = np.empty_like(noise)
    walk[:, 0] = level
    for w in range(1, weeks):
        walk[:, w] = walk[:, w - 1] + 0.2 * (level - walk[:, w - 1]) + noise[:, w]
    for row in range(len(customers)):
        for _ in range(rng.poisson(DIPS_PER_YEAR * weeks / 52)):
            start, length = rng.integers(0, weeks), rng.integers(2, 7)
            walk[row, start : start + length] -= rng.uniform(0.4, 1.0)
    daily = np.repeat(walk, 7, axis=1)[:, : grid.size]
    days = np.arange(grid.size)
    for row, customer in enumerate(customers):
        if customer.erodes_from is not None:
            lost = (days - customer.erodes_from).clip(min=0) / 7 * EROSION_PER_WEEK
            daily[row] -= np.minimum(lost, -EROSION_FLOOR)
    return daily


@dataclass
class Usage:
    """A chunk's usage on the grid; ``owner`` is the row (customer) of each person."""

    customers: list[Customer]
    owner: np.ndarray
    usage_chance: np.ndarray  # people x days
    key_share: np.ndarray  # people x days
    per_day: np.ndarray  # mean events on an active day, per person


def usage(customers: list[Customer], walk: np.ndarray, grid: Grid) -> Usage:
    """Each person's chance of activity and share of key events, day by day."""
    days = np.arange(grid.size)
    weekday = np.array([grid.day(d).weekday() for d in range(7)])
    weekend = np.where(weekday[(days % 7)] >= 5, WEEKEND_FACTOR, 1.0)
    owner, chance, share, per_day = [], [], [], []
    for row, c in enumerate(customers):
        start = grid.offset(c.contract_start)
        ramp = ((days - start) / RAMP_DAYS + 0.3).clip(0, 1) * (days >= start)
        engaged = np.exp(walk[row])
        leaving = np.ones(grid.size)
        if c.decided_day is not None:
            tau = LEAVING_DAYS[0] + (c.index % 7) * (LEAVING_DAYS[1] - LEAVING_DAYS[0]) / 6
            since = (days - c.decided_day).clip(min=0)
            leaving = np.maximum(np.exp(-since / tau), 0.05)
            if c.churn_day is not None:
                leaving[days >= grid.offset(c.churn_day)] = 0.0
        depth = c.fit * np.sqrt(engaged) * leaving  # key use goes first
        for person in c.people:
            p = person.activity * engaged * ramp * weekend * leaving
            if person.fades_from is not None:
                p = p * (1 - (days - person.fades_from).clip(min=0) / FADE_DAYS).clip(FADED, 1)
            if person.left_day is not None:
                p = p * (days < person.left_day)
            key, other = KEY_WEIGHTS[person.persona]
            owner.append(row)
            chance.append(p.clip(0, 0.97))
            share.append(depth * key / (depth * key + other))
            per_day.append(PERSONA_RHYTHM[person.persona][1])
    return Usage(customers, np.array(owner), np.array(chance), np.array(share), np.array(per_day))


def value_ratio(use: Usage, grid: Grid) -> np.ndarray:
    """Per account and day: expected key uses per paid seat over the last 28 days, against
    the uses a seat's list price pays for, times list price / price paid."""
    key = use.usage_chance * use.per_day[:, None] * use.key_share
    per_account = np.zeros((len(use.customers), grid.size))
    np.add.at(per_account, use.owner, key)
    total = np.cumsum(per_account, axis=1)
    rolling = total - np.pad(total, ((0, 0), (28, 0)))[:, : grid.size]
    seats = np.array([c.seats for c in use.customers], dtype=float)
    paid = np.array(
        [c.plan.uses_per_seat * c.price_per_seat / c.plan.list_price for c in use.customers]
    )
    return rolling / seats[:, None] / paid[:, None]


def decide_renewals(use: Usage, grid: Grid, rng: np.random.Generator) -> None:
    """Each renewal in the window (or decided by as_of) is kept or lost on the value of the
    weeks before its decision; sets renewal date, churn, decision day and the story."""
    ratio = value_ratio(use, grid)
    last = grid.size - 1
    for row, c in enumerate(use.customers):
        renewal = add_years(c.contract_start, 1)
        while grid.offset(renewal) < grid.window_start:
            renewal = add_years(renewal, 1)
        while True:
            lead = int(rng.integers(DECISION_LEAD[0], DECISION_LEAD[1] + 1))
            decided = grid.offset(renewal) - lead
            roll, surprise = rng.random(), rng.random() < BACKGROUND_CHURN
            if surprise:
                decided = grid.offset(renewal) - int(rng.integers(0, SURPRISE_WARNING + 1))
            if decided > last:
                break  # not decided yet
            window = ratio[row, max(0, decided - 7 * DECISION_WEEKS) : decided + 1]
            c.value_ratio = float(window.mean())
            if surprise or roll < churn_chance(c.value_ratio):
                c.decided_day = decided
                if grid.offset(renewal) <= last:
                    c.churn_day = renewal
                break
            renewal = add_years(renewal, 1)
        c.renewal_date = renewal
        if c.decided_day is None:
            c.value_ratio = float(ratio[row, -28:].mean())
        c.story = _story(c, grid)


def _story(c: Customer, grid: Grid) -> str:
    """A word for what happened to the account (counts in the summary, notes, surveys)."""
    if c.churn_day is not None:
        return "churned"
    if c.decided_day is not None:
        return "leaving"
    if (grid.as_of - c.contract_start).days < 100:
        return "ramping"
    if any(p.fades_from is not None for p in c.people):
        return "fading admin"
    if any(p.left_day is not None and p.persona == Persona.CHAMPION for p in c.people):
        return "champion left"
    if c.erodes_from is not None and c.erodes_from < grid.size - 60:
        return "eroding"
    return "healthy"
