"""Who the demo's customers are, how they use the product, and why some of them leave.

The story, in the simulation's own terms (nothing here is read back by the scorecards):

- Each account buys seats at a price per seat (ARR / seats): its plan's list price times a
  deal factor. Some buy more seats than they have people to fill.
- Its people (contacts) use the product every day with a chance set by their persona, the
  account's engagement (a weekly random walk around the account's level, which erodes for
  some accounts), a ramp after signing, and events of their own: admins who fade away,
  champions who leave the company.
- Value comes from the key events (``KEY_EVENTS``: reports shared, dashboards built,
  workflows automated, integrations synced), which make up more of an engaged account's use.
  ``value ratio`` = key uses per paid seat per 28 days, against the uses a seat's list price
  pays for (``Plan.uses_per_seat``), times list price / the price the account pays. A big
  customer's use is worth more per event (a shared report reaches more people), so its seat
  needs fewer; Starter's price is the least forgiving.
- A renewal is decided 20-90 days before the renewal date on the value ratio of the 8 weeks
  before: the lower the ratio, the higher the chance to leave (``churn_chance``). An account
  that decides to leave fades from that day (its usage decays, key use first) and churns on
  its renewal date; a few leave whatever their value (``BACKGROUND_CHURN``: bought by a
  competitor's customer, budget gone) with two weeks' warning at most. A renewal whose
  decision day is after ``as_of`` is not decided yet.
- Engagement also dips for a few weeks and recovers (a project ends, holidays, a reorg):
  the false alarms a score has to live with.

Deterministic: one ``numpy`` generator per purpose, spawned from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from accounts.choices import Persona, TouchModel
from demo import names

PRE_ROLL = 140  # days simulated before the window: renewals early in it are decided on them
DECISION_LEAD = (20, 90)  # days before the renewal date when the customer decides
DECISION_WEEKS = 8  # weeks of value the decision looks back on
CHURN_LOGIT_AT_PAR = -0.8  # value ratio 1: about a third leave
CHURN_SLOPE = 2.4  # per unit of log value ratio: ratio 2 -> ~10%, ratio 0.5 -> ~75%
BACKGROUND_CHURN = 0.03  # leave whatever the value (acquired, budget gone), with no warning
WEEKEND_FACTOR = 0.12


@dataclass(frozen=True)
class Plan:
    name: str
    weight: float
    list_price: int  # per seat per year
    uses_per_seat: float  # key uses per seat per 28 days that the list price pays for
    employees: tuple[int, int]
    people: tuple[int, int]
    touch: tuple[tuple[str, float], ...]


PLANS = [
    Plan("Starter", 0.35, 1_500, 0.85, (8, 80), (2, 5),
         ((TouchModel.TECH, 0.8), (TouchModel.LOW, 0.2))),
    Plan("Growth", 0.30, 3_000, 0.4, (50, 400), (4, 9),
         ((TouchModel.LOW, 0.75), (TouchModel.TECH, 0.25))),
    Plan("Business", 0.22, 9_000, 0.34, (300, 3_000), (6, 13),
         ((TouchModel.HIGH, 0.6), (TouchModel.LOW, 0.4))),
    Plan("Enterprise", 0.13, 20_000, 0.28, (2_000, 60_000), (9, 18),
         ((TouchModel.HIGH, 1.0),)),
]  # fmt: skip

# The key events: where customers get value. Which events count is the simulation's own
# choice; the platform has to find them in the data (the event catalogue).
KEY_EVENTS = ("report_shared", "dashboard_created", "workflow_automated", "integration_synced")
# Chance of being active on a weekday, and mean events per active day, by persona.
PERSONA_RHYTHM = {
    Persona.ADMIN: (0.45, 1.6),
    Persona.CHAMPION: (0.4, 1.6),
    Persona.END_USER: (0.2, 1.4),
    Persona.EXECUTIVE_SPONSOR: (0.05, 1.2),
    Persona.BILLING: (0.03, 1.0),
}
EVENTS_BY_PERSONA = {
    Persona.ADMIN: [("login", 4), ("dashboard_viewed", 2), ("user_invited", 0.6),
                    ("settings_updated", 0.8), ("integration_synced", 1.0),
                    ("integration_configured", 0.15),
                    ("dashboard_created", 0.6), ("export_downloaded", 0.3)],
    Persona.CHAMPION: [("login", 4), ("report_created", 2), ("report_shared", 2),
                       ("dashboard_viewed", 3), ("dashboard_created", 1),
                       ("workflow_automated", 0.8)],
    Persona.END_USER: [("login", 5), ("dashboard_viewed", 4), ("report_created", 1.2),
                       ("report_shared", 0.5), ("alert_acknowledged", 2),
                       ("export_downloaded", 1)],
    Persona.EXECUTIVE_SPONSOR: [("login", 3), ("dashboard_viewed", 3), ("report_viewed", 2)],
    Persona.BILLING: [("login", 2), ("invoice_viewed", 3)],
}  # fmt: skip
OWNERS_BY_TOUCH = {
    TouchModel.HIGH: ["maya", "jonas"],
    TouchModel.LOW: ["priya", "jonas"],
    TouchModel.TECH: ["sam"],  # the pooled, digital-led book
}


@dataclass
class Person:
    persona: str
    first: str
    last: str
    title: str
    activity: float  # chance of a weekday of activity at full engagement
    left_day: int | None = None  # grid day from which they are gone
    fades_from: int | None = None  # grid day from which an admin drifts away


@dataclass
class Customer:
    """One simulated account; days are offsets on the simulation's grid (see ``Grid``)."""

    index: int
    name: str
    plan: Plan
    touch: str
    owner: str
    industry: str
    employees: int
    currency: str
    region: str
    seats: int
    arr: int
    contract_start: date
    renewal_date: date
    people: list[Person]
    level: float  # log engagement the account returns to
    fit: float  # share of its use on key features, relative to the persona mix
    erodes_from: int | None = None  # grid day from which its engagement erodes
    decided_day: int | None = None  # grid day it decided to leave
    churn_day: date | None = None
    story: str = "healthy"
    value_ratio: float = 0.0  # at its last decision, or today

    @property
    def price_per_seat(self) -> float:
        return self.arr / self.seats


@dataclass
class Grid:
    """Day 0 is ``PRE_ROLL`` days before the window's first day; the last day is as_of."""

    as_of: date
    days: int
    first: date = field(init=False)
    size: int = field(init=False)

    def __post_init__(self):
        self.size = self.days + PRE_ROLL
        self.first = self.as_of - timedelta(days=self.size - 1)

    def offset(self, day: date) -> int:
        return (day - self.first).days

    def day(self, offset: int) -> date:
        return self.first + timedelta(days=int(offset))

    @property
    def window_start(self) -> int:
        return PRE_ROLL


def generators(seed: int, *purposes: str) -> dict[str, np.random.Generator]:
    """One generator per purpose: a change in one part leaves the others' draws as they were."""
    spawned = np.random.SeedSequence(seed).spawn(len(purposes))
    return {p: np.random.default_rng(s) for p, s in zip(purposes, spawned, strict=True)}


def churn_chance(value_ratio: float) -> float:
    """The chance of leaving for want of value at a renewal decided on ``value_ratio``."""
    logit = CHURN_LOGIT_AT_PAR - CHURN_SLOPE * np.log(max(value_ratio, 1e-3))
    return float(1 / (1 + np.exp(-logit)))


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _pick(rng: np.random.Generator, options):
    values, weights = zip(*options, strict=True)
    weights = np.asarray(weights, dtype=float)
    return values[rng.choice(len(values), p=weights / weights.sum())]


def _people(rng: np.random.Generator, plan: Plan, grid: Grid) -> list[Person]:
    n = int(rng.integers(plan.people[0], plan.people[1] + 1))
    personas = [Persona.ADMIN, Persona.CHAMPION]
    if plan.name in {"Business", "Enterprise"} or rng.random() < 0.3:
        personas.append(Persona.EXECUTIVE_SPONSOR)
    if rng.random() < 0.5:
        personas.append(Persona.BILLING)
    if n > 8 and rng.random() < 0.5:
        personas.append(Persona.ADMIN)
    personas += [Persona.END_USER] * max(0, n - len(personas))
    people = []
    for persona in personas:
        left = None
        # Champions move on more often than anyone (and take the account's advocate along).
        if rng.random() < (0.1 if persona == Persona.CHAMPION else 0.03):
            left = int(rng.integers(grid.size // 4, grid.size - 7))
        people.append(
            Person(
                persona=persona,
                first=str(rng.choice(names.FIRST)),
                last=str(rng.choice(names.LAST)),
                title=str(rng.choice(names.TITLES[persona])),
                activity=PERSONA_RHYTHM[persona][0] * float(rng.uniform(0.6, 1.3)),
                left_day=left,
            )
        )
    if rng.random() < 0.18:  # the admins stop looking after the account
        fades = int(rng.integers(grid.size // 5, grid.size - 20))
        for person in people:
            if person.persona == Persona.ADMIN:
                person.fades_from = fades
    return people


def draw_customers(n: int, grid: Grid, seed: int) -> list[Customer]:
    """Who the customers are: plan, seats, price, contract dates, people, engagement."""
    rng = generators(seed, "customers")["customers"]
    customers, used = [], set()
    for i in range(n):
        plan = _pick(rng, [(p, p.weight) for p in PLANS])
        name = f"{rng.choice(names.NAME_A)} {rng.choice(names.NAME_B)}"
        while name in used:
            name = f"{rng.choice(names.NAME_A)} {rng.choice(names.NAME_B)} {rng.integers(2, 999)}"
        used.add(name)
        touch = _pick(rng, plan.touch)
        people = _people(rng, plan, grid)
        users = sum(p.persona != Persona.BILLING for p in people)
        # Most buy a seat per user; some buy for a roll-out that never came.
        seats = max(1, round(users * (1 + float(rng.exponential(0.4)))))
        deal = float(rng.uniform(0.75, 1.25))
        arr = max(100, round(seats * plan.list_price * deal, -2))
        # A growing book: about one in six signed within the last year.
        recent = rng.random() < 0.16
        age = int(rng.integers(14, 365)) if recent else int(rng.integers(365, 4 * 365))
        # Contracts start on the first of a month, as invoices do.
        start = (grid.as_of - timedelta(days=age)).replace(day=1)
        erodes = rng.random() < 0.2
        customers.append(
            Customer(
                index=i,
                name=name,
                plan=plan,
                touch=touch,
                owner=str(rng.choice(OWNERS_BY_TOUCH[touch])),
                industry=_pick(rng, names.INDUSTRIES),
                employees=int(rng.uniform(*plan.employees)),
                currency=_pick(rng, [("USD", 0.75), ("EUR", 0.17), ("GBP", 0.08)]),
                region=_pick(rng, [("NA", 0.5), ("EMEA", 0.35), ("APAC", 0.15)]),
                seats=seats,
                arr=int(arr),
                contract_start=start,
                renewal_date=start,  # set by decide_renewals
                people=people,
                level=float(rng.normal(0, 0.3)),
                fit=float(rng.lognormal(0, 0.3)),
                erodes_from=int(rng.integers(0, grid.size)) if erodes else None,
            )
        )
    return customers
