"""A believable demo portfolio: accounts, contacts, usage, surveys, notes, journeys.

Everything random comes from one ``random.Random(seed)`` and every date is relative to
``as_of``, so the same seed and date give the same portfolio. Rows are written in bulk inside
one transaction: a failed run leaves nothing behind. It lives in cs_platform because it fills
several apps (accounts and journeys, later health) at once.
"""

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.choices import (
    AccountStatus,
    ContractSource,
    NoteKind,
    Persona,
    SurveyKind,
    TouchModel,
)
from accounts.models import Account, Contact, ContractChange, Event, Note, SurveyResponse
from accounts.usage import rebuild_daily_usage
from cs_platform import roles
from journeys.choices import MilestoneRule, Severity, Stage
from journeys.milestones import assign_milestones, evaluate_milestones
from journeys.models import (
    AccountMilestone,
    AccountStage,
    Escalation,
    Handoff,
    MilestoneDefinition,
    MilestoneTemplate,
    StageTransition,
)

BATCH = 5000

# username, first name, last name, role; CSMs own accounts by touch model.
DEMO_USERS = [
    ("admin", "Ada", "Admin", roles.ADMIN),
    ("maya", "Maya", "Lopez", roles.CSM),
    ("jonas", "Jonas", "Berg", roles.CSM),
    ("priya", "Priya", "Natarajan", roles.CSM),
    ("sam", "Sam", "Okafor", roles.CSM),
    ("viewer", "Vic", "Viewer", roles.VIEWER),
]
OWNERS_BY_TOUCH = {
    TouchModel.HIGH: ["maya", "jonas"],
    TouchModel.LOW: ["priya", "jonas"],
    TouchModel.TECH: ["sam"],  # the pooled, digital-led book
}


@dataclass(frozen=True)
class Plan:
    name: str
    weight: float
    arr: tuple[int, int]
    employees: tuple[int, int]
    seats: tuple[int, int]
    contacts: tuple[int, int]
    touch: tuple[tuple[str, float], ...]


PLANS = [
    Plan("Starter", 0.35, (3_000, 12_000), (8, 80), (5, 25), (2, 5),
         ((TouchModel.TECH, 0.8), (TouchModel.LOW, 0.2))),
    Plan("Growth", 0.30, (12_000, 45_000), (50, 400), (20, 100), (4, 9),
         ((TouchModel.LOW, 0.75), (TouchModel.TECH, 0.25))),
    Plan("Business", 0.22, (45_000, 150_000), (300, 3_000), (80, 400), (6, 13),
         ((TouchModel.HIGH, 0.6), (TouchModel.LOW, 0.4))),
    Plan("Enterprise", 0.13, (150_000, 900_000), (2_000, 60_000), (300, 2_500), (9, 18),
         ((TouchModel.HIGH, 1.0),)),
]  # fmt: skip

INDUSTRIES = [
    ("Software", 0.24), ("Financial services", 0.14), ("Healthcare", 0.11), ("Retail", 0.1),
    ("Manufacturing", 0.1), ("Education", 0.07), ("Media", 0.06), ("Logistics", 0.08),
    ("Professional services", 0.1),
]  # fmt: skip
NAME_A = [
    "Acme", "Northwind", "Bluefin", "Cobalt", "Lumen", "Harbor", "Pinecrest", "Vertex", "Quill",
    "Silverline", "Redwood", "Brightpath", "Orbit", "Summit", "Copperleaf", "Meridian", "Nimbus",
    "Atlas", "Keystone", "Falcon", "Juniper", "Granite", "Helix", "Beacon", "Crescent", "Driftwood",
    "Evergreen", "Foxglove", "Ironbridge", "Kestrel", "Larkspur", "Mosaic", "Nova", "Oakridge",
    "Prairie", "Radiant", "Sable", "Tidewater", "Upland", "Wildflower",
]  # fmt: skip
NAME_B = [
    "Analytics", "Health", "Logistics", "Labs", "Retail", "Capital", "Systems", "Foods", "Media",
    "Learning", "Robotics", "Energy", "Partners", "Software", "Bank", "Clinics", "Freight",
    "Studios", "Works", "Insurance",
]  # fmt: skip
FIRST = [
    "Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
    "Noah", "Emma", "Liam", "Olivia", "Mia", "Lucas", "Sofia", "Ethan", "Zoe", "Mateo", "Aisha",
    "Chen", "Hana", "Ravi", "Lena", "Omar", "Ines", "Kofi", "Yuki", "Nina",
]  # fmt: skip
LAST = [
    "Smith", "Garcia", "Chen", "Müller", "Patel", "Kim", "Nguyen", "Johnson", "Rossi", "Silva",
    "Cohen", "Okoye", "Larsen", "Dubois", "Novak", "Tanaka", "Ali", "Brown", "Moreau", "Schmidt",
]  # fmt: skip
TITLES = {
    Persona.ADMIN: ["IT Administrator", "Operations Manager", "Platform Owner"],
    Persona.END_USER: ["Analyst", "Support Engineer", "Account Executive", "Coordinator"],
    Persona.CHAMPION: ["Head of Operations", "Director of Analytics", "Team Lead"],
    Persona.EXECUTIVE_SPONSOR: ["VP Operations", "Chief Operating Officer", "CTO"],
    Persona.BILLING: ["Finance Manager", "Procurement Lead"],
}
# Chance of being active on a weekday, and events per active day, by persona. End users of
# an operational tool come and go; admins are expected every day.
PERSONA_RHYTHM = {
    Persona.ADMIN: (0.7, 3.0),
    Persona.CHAMPION: (0.65, 3.0),
    Persona.END_USER: (0.4, 2.2),
    Persona.EXECUTIVE_SPONSOR: (0.07, 1.3),
    Persona.BILLING: (0.03, 1.0),
}
WEEKEND_FACTOR = 0.12
EVENTS_BY_PERSONA = {
    Persona.ADMIN: [("login", 5), ("dashboard_viewed", 3), ("user_invited", 1),
                    ("settings_updated", 1), ("integration_configured", 0.3),
                    ("report_created", 1)],
    Persona.CHAMPION: [("login", 4), ("report_created", 3), ("report_shared", 2),
                       ("dashboard_viewed", 3), ("workflow_automated", 1)],
    Persona.END_USER: [("login", 5), ("dashboard_viewed", 4), ("report_created", 1.5),
                       ("alert_acknowledged", 2), ("export_downloaded", 1)],
    Persona.EXECUTIVE_SPONSOR: [("login", 3), ("dashboard_viewed", 3), ("report_viewed", 2)],
    Persona.BILLING: [("login", 2), ("invoice_viewed", 3)],
}  # fmt: skip
NOTE_TEXTS = {
    NoteKind.CALL: [
        "Check-in call: team happy with the new dashboards, asked about SSO.",
        "Call with the champion: budget review next quarter, wants an ROI summary.",
        "Support follow-up call; the export issue is fixed on their side.",
    ],
    NoteKind.MEETING: [
        "Quarterly business review: agreed goals for the next two quarters.",
        "Onboarding workshop with the admins; integrations configured together.",
        "Executive alignment meeting; sponsor asked for usage numbers per team.",
    ],
    NoteKind.EMAIL: [
        "Sent the renewal proposal and the usage summary.",
        "Shared training material for new end users.",
    ],
    NoteKind.NOTE: [
        "New team lead on their side; schedule an intro.",
        "Usage dropped after their reorg; keep an eye on it.",
    ],
}
# The default EscalationPolicy response deadlines (journeys migration 0003).
RESPONSE_HOURS = {Severity.CRITICAL: 4, Severity.HIGH: 24, Severity.MEDIUM: 72, Severity.LOW: 120}
HANDOFF_REASONS = [
    "Month-end reporting takes the team three days by hand.",
    "Their current tool cannot follow usage across regions.",
    "A new COO wants one view of operations.",
]
HANDOFF_PROBLEMS = [
    "Consolidate regional spreadsheets; automate the weekly report.",
    "Alerting on incidents reaches the wrong people.",
    "No one trusts the numbers in the board pack.",
]
HANDOFF_CRITERIA = [
    "Weekly report produced in under an hour by the end of Q1.",
    "All regional leads use the dashboards every week.",
    "Board pack generated from the product, no spreadsheets.",
]
ESCALATION_TITLES = [
    "Data sync failing since the last release",
    "Reports time out for the whole team",
    "SSO login broken for new users",
    "Billing dispute over seat count",
    "Integration with CRM drops records",
    "Executive unhappy with response times",
]
NPS_COMMENTS = {
    "promoter": ["Great product, the team relies on it daily.", "Support is excellent."],
    "passive": ["Does the job, reporting could be better.", "Fine, but onboarding took long."],
    "detractor": [
        "Too slow and too many bugs lately.",
        "We are not getting the value we expected.",
    ],
}


@dataclass
class Trajectory:
    """How an account's usage moves over the window: a multiplier per day offset."""

    kind: str  # healthy | declining | low | churned | ramping
    base: float
    decline_start: int = 0  # day offset (0 = first day of the window) where decline begins
    end_day: int | None = None  # no usage from this offset on (churn)

    def factor(self, day: int, window: int) -> float:
        if self.end_day is not None and day >= self.end_day:
            return 0.0
        if self.kind in {"declining", "churned"} and day >= self.decline_start:
            stop = self.end_day if self.end_day is not None else window
            span = max(stop - self.decline_start, 1)
            return self.base * max(0.1, 1 - 0.9 * (day - self.decline_start) / span)
        return self.base


@dataclass
class Counts:
    users: int = 0
    accounts: int = 0
    contacts: int = 0
    events: int = 0
    surveys: int = 0
    notes: int = 0
    escalations: int = 0
    transitions: int = 0
    milestones: int = 0
    contract_changes: int = 0
    by_kind: Counter = field(default_factory=Counter)


def _weighted(rng: random.Random, options):
    values, weights = zip(*options, strict=True)
    return rng.choices(values, weights=weights)[0]


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _at(day: date, rng: random.Random, start_hour: int = 8, end_hour: int = 19) -> datetime:
    seconds = rng.randrange(start_hour * 3600, end_hour * 3600)
    return datetime.combine(day, time.min, UTC) + timedelta(seconds=seconds)


def ensure_demo_users(password_for) -> list[tuple[str, str, str]]:
    """Create (or reset) the demo users; returns (username, role, password) to print."""
    User = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in roles.ALL_ROLES}
    logins = []
    for username, first, last, role in DEMO_USERS:
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.example"},
        )
        user.is_staff = role == roles.ADMIN
        user.is_superuser = role == roles.ADMIN
        password = password_for(username)
        user.set_password(password)
        user.save()
        user.groups.set([groups[role]])
        logins.append((username, role, password))
    return logins


def build_demo_portfolio(
    *, accounts: int, seed: int, days: int, as_of: date, password_for
) -> tuple[Counts, list[tuple[str, str, str]]]:
    """Write `accounts` accounts with `days` days of usage up to `as_of`, in one transaction."""
    if days < 30 or accounts < 1:
        raise ValueError("a demo portfolio needs at least 1 account and 30 days of history")
    rng = random.Random(seed)
    counts = Counts()
    # Nothing happens after the real present, even when seeding in the morning.
    now = min(datetime.combine(as_of, time(hour=20), UTC), timezone.now())
    window_start = as_of - timedelta(days=days - 1)
    with transaction.atomic():
        logins = ensure_demo_users(password_for)
        counts.users = len(logins)
        users = {u.username: u for u in get_user_model().objects.filter(
            username__in=[name for name, *_ in DEMO_USERS])}  # fmt: skip

        account_objs, plans, trajectories = _make_accounts(rng, accounts, seed, as_of, days, users)
        Account.objects.bulk_create(account_objs, batch_size=BATCH)
        _link_parents(rng, account_objs, plans)
        counts.accounts = len(account_objs)
        # Its own generator, so adding the history left every other row of a seed as it was.
        counts.contract_changes = _write_contract_history(
            random.Random(f"contracts-{seed}"), account_objs, now
        )

        for start in range(0, len(account_objs), 100):
            chunk = account_objs[start : start + 100]
            _write_contacts_and_events(
                rng, chunk, plans, trajectories, seed, window_start, days, now, counts
            )

        _write_journeys(rng, account_objs, trajectories, as_of, users, counts)
        _write_surveys_and_notes(rng, account_objs, trajectories, window_start, now, counts)
        rebuild_daily_usage(window_start, as_of, [a.pk for a in account_objs])
        _write_success_plans(rng, account_objs, as_of, days, now, counts)
        _fit_licenses(account_objs)
    return counts, logins


def _fit_licenses(accounts) -> None:
    """The demo tracks a handful of people per account: seats bought must match them, or
    license utilisation would read a few % everywhere. 100-150% of the contacts, by id."""
    contacts = (
        Contact.objects.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(n=Count("id"))
        .values("n")
    )
    Account.objects.filter(pk__in=[a.pk for a in accounts]).update(
        licenses_purchased=Coalesce(Subquery(contacts), 0) * (100 + F("id") % 51) / 100
    )


SUCCESS_PLANS = {
    # template: (touch model or "", priority, [(name, days, rule, event, threshold, first value)])
    "High-touch onboarding": ("high", 1, [
        ("Kick-off call held", 7, MilestoneRule.MANUAL, "", 1, False),
        ("First report shared", 30, MilestoneRule.EVENT_COUNT, "report_shared", 1, True),
        ("Three people active", 45, MilestoneRule.ACTIVE_USERS, "", 3, False),
    ]),
    "Guided onboarding": ("", 10, [
        ("Two reports created", 21, MilestoneRule.EVENT_COUNT, "report_created", 2, True),
        ("Two people active", 30, MilestoneRule.ACTIVE_USERS, "", 2, False),
    ]),
}  # fmt: skip


def _write_success_plans(rng, accounts, as_of, days, now, counts):
    """Milestone templates, sales handoffs for high-touch accounts, and milestones evaluated."""
    for name, (touch, priority, milestones) in SUCCESS_PLANS.items():
        template, created = MilestoneTemplate.objects.get_or_create(
            name=name, defaults={"touch_model": touch, "priority": priority}
        )
        if created:
            MilestoneDefinition.objects.bulk_create(
                MilestoneDefinition(
                    template=template, name=title, order=i, target_days=days, rule=rule,
                    event_name=event, threshold=threshold, marks_first_value=first_value,
                )
                for i, (title, days, rule, event, threshold, first_value) in enumerate(milestones)
            )  # fmt: skip
    high = [a for a in accounts if a.touch_model == TouchModel.HIGH and rng.random() < 0.9]
    Handoff.objects.bulk_create(
        Handoff(
            account=a,
            reasons_for_buying=rng.choice(HANDOFF_REASONS),
            problems_to_solve=rng.choice(HANDOFF_PROBLEMS),
            success_criteria=rng.choice(HANDOFF_CRITERIA),
            expected_go_live=a.contract_start + timedelta(days=rng.randint(30, 90)),
            sold_by=f"{rng.choice(FIRST)} {rng.choice(LAST)} (AE)",
        )
        for a in high
    )
    counts.milestones = assign_milestones(accounts)
    # Kick-off calls happened a few days into the contract, as the CSMs recorded them.
    kickoffs = AccountMilestone.objects.filter(
        account__in=accounts, definition__rule=MilestoneRule.MANUAL
    ).select_related("account")
    for milestone in kickoffs:
        held = milestone.account.contract_start + timedelta(days=rng.randint(2, 9))
        if held <= as_of:
            milestone.reached_at = datetime.combine(held, time(15), UTC)
            milestone.reached_by_id = milestone.account.owner_id
    AccountMilestone.objects.bulk_update(kickoffs, ["reached_at", "reached_by"])
    # Customers older than the usage window reached their milestones before it began: give
    # them the dates they would have had, so time to value is about onboarding, not history.
    window_start = as_of - timedelta(days=max(0, days - 1))
    history = list(
        AccountMilestone.objects.filter(
            account__in=accounts, account__contract_start__lt=window_start, reached_at__isnull=True
        ).select_related("account", "definition")
    )
    for milestone in history:
        took = int(milestone.definition.target_days * rng.uniform(0.3, 1.4))
        day = min(milestone.account.contract_start + timedelta(days=took), window_start)
        milestone.reached_at = datetime.combine(day, time(12), UTC)
    AccountMilestone.objects.bulk_update(history, ["reached_at"], batch_size=BATCH)
    evaluate_milestones(today=as_of, now=now)


def _make_accounts(rng, n, seed, as_of, days, users):
    accounts, plans, trajectories = [], {}, {}
    used_names = set()
    for i in range(n):
        plan = _weighted(rng, [(p, p.weight) for p in PLANS])
        name = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)}"
        while name in used_names:
            name = f"{rng.choice(NAME_A)} {rng.choice(NAME_B)} {rng.randint(2, 999)}"
        used_names.add(name)
        touch = _weighted(rng, plan.touch)
        arr = Decimal(round(rng.uniform(*plan.arr), -2))
        roll = rng.random()
        churned = roll < 0.06
        if churned:
            churn_day = as_of - timedelta(days=rng.randint(5, min(110, days - 10)))
            contract_start = _add_years(churn_day, -rng.randint(1, 2))
            renewal = churn_day
            traj = Trajectory("churned", rng.uniform(0.5, 0.9), 0, None)
            end = days - 1 - (as_of - churn_day).days
            traj.end_day = end
            traj.decline_start = max(0, end - rng.randint(40, 80))
        else:
            # A growing book: one in ten customers signed in the last quarter.
            recent = rng.random() < 0.1
            contract_start = as_of - timedelta(days=rng.randint(14, 90 if recent else 3 * 365))
            renewal = contract_start
            while renewal <= as_of:
                renewal = _add_years(renewal, 1)
            age = (as_of - contract_start).days
            if roll < 0.19:
                decline_start = rng.randint(days // 3, max(days // 3, days - 30))
                traj = Trajectory("declining", rng.uniform(0.7, 1.1), decline_start)
            elif roll < 0.27:
                traj = Trajectory("low", rng.uniform(0.25, 0.45))
            elif age < 100:
                traj = Trajectory("ramping", rng.uniform(0.6, 1.0))
            else:
                traj = Trajectory("healthy", rng.uniform(0.85, 1.25))
        owner = users[rng.choice(OWNERS_BY_TOUCH[touch])]
        account = Account(
            external_id=f"acc_{seed}_{i + 1:05d}",
            name=name,
            domain=name.lower().replace(" ", "") + ".example",
            industry=_weighted(rng, INDUSTRIES),
            employee_count=int(rng.uniform(*plan.employees)),
            plan=plan.name,
            arr=arr,
            currency=_weighted(rng, [("USD", 0.75), ("EUR", 0.17), ("GBP", 0.08)]),
            licenses_purchased=rng.randint(*plan.seats),
            touch_model=touch,
            owner=owner,
            contract_start=contract_start,
            renewal_date=renewal,
            status=AccountStatus.CHURNED if churned else AccountStatus.ACTIVE,
            churned_at=datetime.combine(renewal, time(hour=17), UTC) if churned else None,
            traits={"region": _weighted(rng, [("NA", 0.5), ("EMEA", 0.35), ("APAC", 0.15)])},
        )
        accounts.append(account)
        plans[account.external_id] = plan
        trajectories[account.external_id] = traj
    return accounts, plans, trajectories


def _write_contract_history(rng, accounts, now) -> int:
    """Every account's contract from its start: yearly renewals (mostly early, some late),
    expansions and contractions at renewal and mid-term, ending on today's ARR and renewal date;
    a churned account's last renewal date is the day it left, never renewed.
    """
    changes = []
    for account in accounts:
        # The events in order: (day, kind, renewal date renewed or None, ARR ratio).
        events = []
        due = _add_years(account.contract_start, 1)
        while due < account.renewal_date:
            late = rng.random() < 0.2
            day = due + timedelta(days=rng.randint(1, 25) if late else -rng.randint(0, 45))
            if day >= account.renewal_date or day >= now.date():  # signed early after all
                day = due - timedelta(days=rng.randint(1, 20))
            roll, ratio = rng.random(), 1
            if roll < 0.3:  # grew into a bigger plan or more seats
                ratio = rng.uniform(1.1, 1.4)
            elif roll < 0.4:  # renewed with fewer seats
                ratio = rng.uniform(0.75, 0.95)
            events.append((day, due, ratio))
            # Some customers buy more seats in the middle of a contract year.
            mid = due + timedelta(days=rng.randint(90, 270))
            if rng.random() < 0.15 and mid < account.renewal_date:
                events.append((mid, None, rng.uniform(1.05, 1.25)))
            due = _add_years(due, 1)
        events = [e for e in sorted(events, key=lambda e: e[0]) if e[0] < now.date()]
        arr = Decimal(account.arr)
        for *_, ratio in events:
            arr = arr / Decimal(ratio)
        arr = max(Decimal(round(arr, -2)), Decimal(100))
        renewal = _add_years(account.contract_start, 1)
        changes.append(
            ContractChange(
                account=account,
                changed_at=datetime.combine(account.contract_start, time(9), UTC),
                arr_after=arr,
                renewal_date_after=renewal,
                source=ContractSource.DEMO,
            )
        )
        for index, (day, renewed, ratio) in enumerate(events):
            after = (
                Decimal(account.arr)
                if index == len(events) - 1
                else max(Decimal(round(arr * Decimal(ratio), -2)), Decimal(100))
            )
            next_renewal = _add_years(renewed, 1) if renewed else renewal
            if after == arr and next_renewal == renewal:
                continue
            changes.append(
                ContractChange(
                    account=account,
                    changed_at=_at(day, rng, 9, 18),
                    arr_before=arr,
                    arr_after=after,
                    renewal_date_before=renewal,
                    renewal_date_after=next_renewal,
                    source=ContractSource.DEMO,
                )
            )
            arr, renewal = after, next_renewal
    ContractChange.objects.bulk_create(changes, batch_size=BATCH)
    return len(changes)


def _link_parents(rng, accounts, plans):
    """A few smaller accounts are subsidiaries of an enterprise customer."""
    parents = [a for a in accounts if plans[a.external_id].name == "Enterprise"]
    if not parents:
        return
    parent_ids = {a.pk for a in parents}
    children = [a for a in accounts if a.pk not in parent_ids and rng.random() < 0.04]
    for child in children:
        child.parent = rng.choice(parents)
    Account.objects.bulk_update(children, ["parent"], batch_size=BATCH)


def _contact_personas(rng, plan: Plan) -> list[str]:
    n = rng.randint(*plan.contacts)
    personas = [Persona.ADMIN, Persona.CHAMPION]
    if plan.name in {"Business", "Enterprise"} or rng.random() < 0.3:
        personas.append(Persona.EXECUTIVE_SPONSOR)
    if rng.random() < 0.5:
        personas.append(Persona.BILLING)
    if n > 8 and rng.random() < 0.5:
        personas.append(Persona.ADMIN)
    personas += [Persona.END_USER] * max(0, n - len(personas))
    return personas


def _write_contacts_and_events(rng, accounts, plans, trajectories, seed, start, days, now, counts):
    contacts, pending_events = [], []
    for account in accounts:
        traj = trajectories[account.external_id]
        used_emails = set()
        for persona in _contact_personas(rng, plans[account.external_id]):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = f"{first}.{last}".lower().replace("ü", "ue")
            email, n = f"{local}@{account.domain}", 2
            while email in used_emails:
                email, n = f"{local}{n}@{account.domain}", n + 1
            used_emails.add(email)
            # A few people leave their company mid-window.
            left_day = rng.randint(days // 3, days - 7) if rng.random() < 0.04 else None
            contact = Contact(
                account=account,
                external_id=f"usr_{seed}_{counts.contacts + len(contacts) + 1:06d}",
                email=email,
                name=f"{first} {last}",
                title=rng.choice(TITLES[persona]),
                persona=persona,
                is_key_contact=persona in {Persona.CHAMPION, Persona.EXECUTIVE_SPONSOR},
                is_active=left_day is None,
                first_seen_at=datetime.combine(account.contract_start, time(hour=10), UTC)
                + timedelta(days=rng.randint(0, 10)),
            )
            activity, per_day = PERSONA_RHYTHM[persona]
            activity *= rng.uniform(0.6, 1.3)  # people differ
            names = EVENTS_BY_PERSONA[persona]
            last_seen = first_event = None
            contract_offset = (account.contract_start - start).days
            for day in range(max(0, contract_offset), days):
                if left_day is not None and day >= left_day:
                    break
                current = start + timedelta(days=day)
                p = activity * traj.factor(day, days)
                if traj.kind == "ramping":
                    p *= min(1.0, 0.3 + (day - contract_offset) / 45)
                if current.weekday() >= 5:
                    p *= WEEKEND_FACTOR
                if rng.random() >= p:
                    continue
                for _ in range(1 + int(rng.expovariate(1 / per_day))):
                    occurred = _at(current, rng)
                    if occurred > now:
                        continue
                    pending_events.append(
                        (len(contacts), _weighted(rng, names), occurred, rng.getrandbits(64))
                    )
                    last_seen = max(last_seen, occurred) if last_seen else occurred
                    first_event = first_event or occurred
            contact.last_seen_at = last_seen
            if first_event:
                contact.first_seen_at = first_event
            if account.churned_at:
                contact.is_active = False
            contacts.append(contact)
    Contact.objects.bulk_create(contacts, batch_size=BATCH)
    counts.contacts += len(contacts)
    events = [
        Event(
            account_id=contacts[index].account_id,
            contact_id=contacts[index].pk,
            name=name,
            occurred_at=occurred,
            properties={"source": "demo"},
            message_id=f"demo-{seed}-{token:016x}-{counts.events + i}",
            received_at=occurred,
        )
        for i, (index, name, occurred, token) in enumerate(pending_events)
    ]
    Event.objects.bulk_create(events, batch_size=BATCH)
    counts.events += len(events)


def _write_journeys(rng, accounts, trajectories, as_of, users, counts):
    """Stage history per account: onboarding → adoption, a renewal each year, escalations."""
    transitions, stages, escalations = [], [], []
    for account in accounts:
        traj = trajectories[account.external_id]
        moves = []  # (datetime, stage, reason, rule)
        start_at = datetime.combine(account.contract_start, time(hour=9), UTC)
        moves.append((start_at, Stage.ONBOARDING, "Handoff from sales completed", "contract_start"))
        onboarding_days = (
            rng.randint(30, 60) if account.touch_model == "tech" else rng.randint(45, 100)
        )
        adoption_at = start_at + timedelta(days=onboarding_days)
        end = account.churned_at or datetime.combine(as_of, time(hour=20), UTC)
        if adoption_at < end:
            moves.append(
                (adoption_at, Stage.ADOPTION, "Onboarding milestones completed", "milestones_done")
            )
        anniversary = _add_years(account.contract_start, 1)
        while True:
            renewal_start = datetime.combine(anniversary - timedelta(days=90), time(hour=6), UTC)
            if renewal_start >= end or renewal_start <= moves[-1][0]:
                break
            moves.append((renewal_start, Stage.RENEWAL, "Renewal within 90 days", "renewal_window"))
            renewed_at = datetime.combine(anniversary, time(hour=12), UTC)
            if renewed_at >= end or (account.churned_at and anniversary >= account.renewal_date):
                break  # a churned account left at this renewal instead of renewing
            moves.append((renewed_at, Stage.ADOPTION, "Renewed for another year", "renewed"))
            anniversary = _add_years(anniversary, 1)

        escalate = account.status == AccountStatus.ACTIVE and rng.random() < (
            0.25 if traj.kind == "declining" else 0.04
        )
        if escalate:
            opened = end - timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 8))
            if opened > moves[-1][0]:
                severity = _weighted(
                    rng,
                    [
                        (Severity.LOW, 0.2),
                        (Severity.MEDIUM, 0.4),
                        (Severity.HIGH, 0.3),
                        (Severity.CRITICAL, 0.1),
                    ],
                )
                resolved = (
                    opened + timedelta(days=rng.randint(2, 20)) if rng.random() < 0.5 else None
                )
                if resolved and resolved >= end:
                    resolved = None
                escalation = Escalation(
                    account=account,
                    title=rng.choice(ESCALATION_TITLES),
                    description="Raised by the customer's champion.",
                    severity=severity,
                    opened_at=opened,
                    first_response_at=opened + timedelta(hours=rng.randint(1, 60)),
                    resolved_at=resolved,
                    owner=account.owner,
                )
                if escalation.first_response_at > end:
                    escalation.first_response_at = None
                hours = RESPONSE_HOURS[severity]
                escalation.response_due_at = opened + timedelta(hours=hours)
                late = escalation.first_response_at or end
                if late > escalation.response_due_at:
                    escalation.breached_at = escalation.response_due_at
                escalation.feedback_requested_at = resolved
                escalations.append(escalation)
                # As the default policies say: high and critical ones escalate the journey.
                if severity in {Severity.HIGH, Severity.CRITICAL}:
                    before = moves[-1][1]
                    reason = f"{severity.label} escalation: {escalation.title}"
                    moves.append((opened, Stage.ESCALATION, reason, "severe_escalation"))
                    if resolved:
                        moves.append(
                            (resolved, before, "Escalation resolved", "escalation_resolved")
                        )

        previous = ""
        for moved_at, stage, reason, rule in moves:
            transitions.append(
                StageTransition(
                    account=account,
                    from_stage=previous,
                    to_stage=stage,
                    moved_at=moved_at,
                    reason=reason,
                    rule=rule,
                    moved_by=account.owner if not rule else None,
                )
            )
            previous = stage
        last_at, last_stage = moves[-1][0], moves[-1][1]
        return_stage = moves[-2][1] if last_stage == Stage.ESCALATION else ""
        stages.append(
            AccountStage(
                account=account, stage=last_stage, entered_at=last_at, return_stage=return_stage
            )
        )
    StageTransition.objects.bulk_create(transitions, batch_size=BATCH)
    AccountStage.objects.bulk_create(stages, batch_size=BATCH)
    Escalation.objects.bulk_create(escalations, batch_size=BATCH)
    counts.transitions = len(transitions)
    counts.escalations = len(escalations)


def _day_while_customer(rng, account, start: date, now: datetime) -> date:
    """A day in the window on which the account was a customer (after start, before churn)."""
    first = max(start, account.contract_start)
    last = (account.churned_at or now).date()
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def _write_surveys_and_notes(rng, accounts, trajectories, start, now, counts):
    contacts_by_account: dict[int, list[Contact]] = {}
    for contact in Contact.objects.filter(account__in=accounts).only("id", "account_id", "persona"):
        contacts_by_account.setdefault(contact.account_id, []).append(contact)
    escalations = Escalation.objects.filter(
        account__in=accounts, resolved_at__isnull=False
    ).order_by("opened_at", "id")
    surveys, notes = [], []
    for account in accounts:
        traj = trajectories[account.external_id]
        people = [
            c for c in contacts_by_account.get(account.pk, []) if c.persona != Persona.BILLING
        ]
        if people and rng.random() < 0.65:
            score_range = {
                "healthy": (7, 10), "ramping": (6, 10), "low": (4, 9),
                "declining": (2, 8), "churned": (0, 6),
            }[traj.kind]  # fmt: skip
            for person in rng.sample(people, k=min(len(people), rng.randint(1, 3))):
                score = rng.randint(*score_range)
                category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
                responded = _day_while_customer(rng, account, start, now)
                surveys.append(
                    SurveyResponse(
                        account=account,
                        contact=person,
                        kind=SurveyKind.NPS,
                        score=score,
                        comment=rng.choice(NPS_COMMENTS[category]) if rng.random() < 0.5 else "",
                        responded_at=min(_at(responded, rng), now),
                    )
                )
        if account.touch_model != TouchModel.TECH:
            for _ in range(rng.randint(0, 4)):
                kind = _weighted(
                    rng,
                    [
                        (NoteKind.CALL, 0.4),
                        (NoteKind.MEETING, 0.3),
                        (NoteKind.EMAIL, 0.2),
                        (NoteKind.NOTE, 0.1),
                    ],
                )
                notes.append(
                    Note(
                        account=account,
                        author=account.owner,
                        kind=kind,
                        body=rng.choice(NOTE_TEXTS[kind]),
                        occurred_at=min(
                            _at(_day_while_customer(rng, account, start, now), rng), now
                        ),
                    )
                )
    for escalation in escalations:  # feedback after resolution
        people = contacts_by_account.get(escalation.account_id, [])
        answered = escalation.resolved_at + timedelta(hours=rng.randint(2, 72))
        if people and rng.random() < 0.7 and answered <= now:
            surveys.append(
                SurveyResponse(
                    account_id=escalation.account_id,
                    contact=rng.choice(people),
                    kind=SurveyKind.CSAT,
                    score=rng.randint(2, 5),
                    responded_at=answered,
                )
            )
    SurveyResponse.objects.bulk_create(surveys, batch_size=BATCH)
    Note.objects.bulk_create(notes, batch_size=BATCH)
    counts.surveys = len(surveys)
    counts.notes = len(notes)
    counts.by_kind.update(t.kind for t in trajectories.values())
