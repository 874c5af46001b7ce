"""The registry of health measures: what each one reads, and how its raw value earns points.

Every measure computes its raw value for a whole chunk of accounts with one aggregate query
(never one per account) as of a given day, so history can be rebuilt for past dates. Points
map the raw value linearly from ``zero_at`` (0 points) to ``full_at`` (100 points); either may
be the larger, so "fewer is better" measures work the same way. A raw value of ``None`` means
"no data": the scorer leaves the measure out and shares its weight among the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models import (
    Count,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

import cs_platform.sql  # noqa: F401  (the __any lookup)
from accounts.catalogue import measured_feature_names
from accounts.choices import Persona
from accounts.models import (
    Account,
    Contact,
    ContractChange,
    DailyAccountUsage,
    DailyContactUsage,
    DailyFeatureUsage,
    EventDefinition,
)

PERSONA_LABELS = dict(Persona.choices)
PERSONA_PLURALS = {
    Persona.ADMIN: "admins",
    Persona.END_USER: "end users",
    Persona.CHAMPION: "champions",
    Persona.EXECUTIVE_SPONSOR: "executive sponsors",
    Persona.BILLING: "billing contacts",
}


@dataclass(frozen=True)
class Param:
    """One parameter of a measure, with its bounds: validated before anything is saved."""

    name: str
    default: object
    minimum: float | None = None
    maximum: float | None = None
    kind: str = "number"  # number, integer, per_persona, per_severity, names, choice
    help: str = ""
    choices: tuple[str, ...] = ()  # for kind "choice"


class Context:
    """What every measure of a chunk shares: the accounts, the day, lazily loaded contacts."""

    def __init__(self, account_ids: list[int], as_of: date):
        self.account_ids = list(account_ids)
        self._contact_days: dict[int, pd.DataFrame] = {}
        self._feature_counts: dict[tuple, pd.DataFrame] = {}
        self._seen: dict[tuple, bool] = {}
        self.as_of = as_of
        # Everything up to the end of the day counts for that day.
        self.day_end = datetime.combine(as_of, time.max, UTC)

    def window(self, days: int) -> tuple[date, date]:
        return self.as_of - timedelta(days=days - 1), self.as_of

    @cached_property
    def data_start(self) -> date | None:
        """The day of the first usage event the product received (the event catalogue's
        earliest first-seen), None before the catalogue has counted any."""
        first = EventDefinition.objects.aggregate(first=Min("first_seen_at"))["first"]
        return first.astimezone(UTC).date() if first else None

    def covers(self, days: int) -> bool:
        """Whether a look-back of ``days`` ending on the day lies within the usage data."""
        start = self.as_of - timedelta(days=days - 1)
        return self.data_start is None or start >= self.data_start

    def uncovered(self, days: int, result: pd.DataFrame) -> pd.DataFrame | None:
        """``result`` with the reason when a look-back of ``days`` starts before the first
        usage data: a window the product has no data for would read as no use at all (a
        false zero, or a false surge of a change against it); None when it is covered."""
        if self.covers(days):
            return None
        result["note"] = (
            f"its {days}-day look-back starts before the first usage data "
            f"({self.data_start:%Y-%m-%d})"
        )
        return result

    @cached_property
    def accounts(self) -> pd.DataFrame:
        columns = ["id", "renewal_date", "licenses_purchased", "contract_start"]
        rows = Account.objects.filter(id__any=self.account_ids).values_list(*columns)
        return pd.DataFrame(rows, columns=columns).set_index("id")

    @cached_property
    def contract(self) -> pd.DataFrame:
        """Each account's ARR and renewal date at the end of the day, from the contract
        history: its latest change by then (columns arr, renewal).

        An account created with a past contract start (imported, or sent through the API
        after the fact) has its first change dated the day it was created; from its contract
        start until then it has the contract it was given first (the first ARR above zero
        and the first renewal date: a Segment group call creates the account, a REST call a
        moment later sets its contract), its renewal date moved by whole years to the first
        one on or after the day (annual terms): the renewal a customer who stayed had ahead
        of it then. Forward too: a client that replays its history sends the renewal it had
        first, and an account still here after that date had renewed."""
        rows = (
            ContractChange.objects.filter(account_id__any=self.account_ids)
            .order_by("account_id", "changed_at", "id")
            .values_list("account_id", "changed_at", "arr_after", "renewal_date_after")
        )
        by_day, later = {}, {}
        for account_id, at, arr, renewal in rows:
            if at <= self.day_end:
                by_day[account_id] = (float(arr), renewal)  # the latest by the day wins
                continue
            first = later.setdefault(account_id, [0.0, None])
            first[0] = first[0] or float(arr)
            first[1] = first[1] or renewal
        starts = self.accounts["contract_start"]
        for account_id, (arr, renewal) in later.items():
            start = starts.get(account_id)
            if account_id in by_day or not (pd.notna(start) and start <= self.as_of):
                continue
            if renewal is not None:
                renewal = first_anniversary_on_or_after(renewal, self.as_of)
            by_day[account_id] = (arr, renewal)
        frame = pd.DataFrame.from_dict(by_day, orient="index", columns=["arr", "renewal"])
        return frame.astype({"arr": float}).reindex(self.account_ids)

    def known_contacts(self):
        """Active contacts known by the day (first seen then, or with no first-seen date)."""
        return Contact.objects.filter(account_id__any=self.account_ids, is_active=True).filter(
            Q(first_seen_at__isnull=True) | Q(first_seen_at__lte=self.day_end)
        )

    def contact_days(self, days: int) -> pd.DataFrame:
        """Every known contact with its active days in the window: one query per window
        (shared by usage frequency and license utilisation), the days counted by the
        database with a correlated count on the roll-up's index."""
        if days not in self._contact_days:
            start, end = self.window(days)
            active = (
                DailyContactUsage.objects.filter(
                    contact=OuterRef("pk"),
                    account=OuterRef("account_id"),
                    date__gte=start,
                    date__lte=end,
                )
                .order_by()
                .values("contact")
                .annotate(n=Count("*"))
                .values("n")
            )
            rows = (
                self.known_contacts()
                .annotate(days=Coalesce(Subquery(active), 0))
                .values_list("account_id", "persona", "days")
            )
            self._contact_days[days] = pd.DataFrame(rows, columns=["account_id", "persona", "days"])
        return self._contact_days[days]

    def active_users(self, days: int) -> pd.Series:
        """Known contacts active on at least one day of the window, per account: the "active
        users" of license utilisation and of rates per active user alike."""
        frame = self.contact_days(days)
        active = frame[frame["days"] > 0].groupby("account_id").size()
        return active.reindex(self.account_ids).fillna(0).astype(float)

    def any_seen(self, names: list[str]) -> bool:
        """Whether any of the event names occurs in the data by the day (cached per chunk)."""
        key = tuple(sorted(names))
        if key not in self._seen:
            self._seen[key] = (
                EventDefinition.objects.filter(
                    name__in=names, first_seen_at__lte=self.day_end
                ).exists()
                or DailyFeatureUsage.objects.filter(
                    account_id__any=self.account_ids, name__in=names, date__lte=self.as_of
                ).exists()
            )
        return self._seen[key]

    def feature_counts(self, names: list[str], days: int) -> pd.DataFrame:
        """Events per account and event name in the window, for the names given: one query
        shared by feature breadth and the event rate (columns account_id, name, n)."""
        key = (tuple(sorted(names)), days)
        if key not in self._feature_counts:
            start, end = self.window(days)
            rows = (
                DailyFeatureUsage.objects.filter(
                    account_id__any=self.account_ids, date__gte=start, date__lte=end, name__in=names
                )
                .order_by()
                .values("account_id", "name")
                .annotate(n=Sum("event_count"))
                .values_list("account_id", "name", "n")
            )
            frame = pd.DataFrame(rows, columns=["account_id", "name", "n"])
            self._feature_counts[key] = frame[frame["n"] > 0]
        return self._feature_counts[key]


def first_anniversary_on_or_after(day: date, floor: date) -> date:
    """The anniversary of ``day`` (whole years back or forward) that is the first on or
    after ``floor``; 29 February becomes the 28th in other years."""

    def moved(years: int) -> date:
        try:
            return day.replace(year=day.year + years)
        except ValueError:
            return day.replace(year=day.year + years, day=28)

    years = floor.year - day.year
    return moved(years) if moved(years) >= floor else moved(years + 1)


def empty_result(ids) -> pd.DataFrame:
    frame = pd.DataFrame(index=pd.Index(list(ids), name="account_id"))
    frame["raw"] = np.nan
    frame["note"] = ""
    frame["detail"] = None
    return frame


def fmt(value, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "no data"
    number = f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.1f}"
    return f"{number}{unit}"


@dataclass
class Measure(ABC):
    kind: str
    label: str
    description: str
    unit: str = ""
    params: tuple[Param, ...] = field(default_factory=tuple)
    # What a higher raw value means, for a learned scorecard's words ("more days since a key
    # contact was active raises risk"; None: the phrase) and the way it is expected to point
    # (None: either way can be healthy, e.g. tenure). See health.learning.
    quantity: ClassVar[str | None] = None
    higher_is_better: ClassVar[bool | None] = True

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def quantity_words(self, params: dict) -> str:
        """What a higher raw value is, with these params: 'more ___ lowers risk'."""
        return self.quantity or self.phrase

    @abstractmethod
    def compute(self, ctx: Context, params: dict) -> pd.DataFrame:
        """Raw value, note and detail per account of ``ctx``, indexed by account id."""

    def benchmark(self, params: dict):
        return params["full_at"]

    def describe(self, component: dict) -> str:
        """A short phrase for a weak component, e.g. 'NPS 5 from the champion'."""
        return component.get("note") or f"{self.label} {fmt(component['raw'], self.unit)}"

    @property
    def phrase(self) -> str:
        """The label inside a sentence: 'usage trend', but 'NPS' stays 'NPS'."""
        first = self.label.split()[0]
        return self.label if first.isupper() else self.label[0].lower() + self.label[1:]

    def describe_change(self, old: dict, new: dict) -> str:
        verb = "rose" if (new["raw"] or 0) > (old["raw"] or 0) else "fell"
        return (
            f"{self.phrase} {verb} from {fmt(old['raw'], self.unit)} "
            f"to {fmt(new['raw'], self.unit)}"
        )


def linear_points(raw: pd.Series, zero_at: float, full_at: float) -> pd.Series:
    """0 points at ``zero_at``, 100 at ``full_at``, linear between, clipped; NaN stays NaN."""
    return ((raw - zero_at) / (full_at - zero_at)).clip(0, 1) * 100


def _band(zero: float, full: float, lo: float, hi: float, unit: str = "") -> tuple[Param, Param]:
    return (
        Param("zero_at", zero, lo, hi, help=f"Raw value{unit} worth 0 points."),
        Param("full_at", full, lo, hi, help=f"Raw value{unit} worth 100 points."),
    )


WINDOW = Param("window_days", 28, 1, 365, "integer", "Days of usage looked at, ending today.")
# A measure with these may earn its points from its percentile among peers (health/peers.py).
PEER_PARAMS = (
    Param(
        "benchmark",
        "fixed",
        kind="choice",
        choices=("fixed", "peers"),
        help="fixed: zero_at and full_at are raw values; peers: they are percentiles (0-100) "
        "among the active accounts of the peer group on the day.",
    ),
    Param(
        "peer_group",
        "plan",
        kind="choice",
        choices=("plan", "touch_model", "industry", "all"),
        help="Who counts as a peer.",
    ),
)


class UsageFrequency(Measure):
    """Active days per contact against what each persona is expected to do."""

    quantity = "active days against each persona's benchmark"

    def compute(self, ctx, params):
        benchmarks = {p: b for p, b in params["benchmarks"].items() if b > 0}
        result = empty_result(ctx.account_ids)
        if (empty := ctx.uncovered(params["window_days"], result)) is not None:
            return empty
        frame = ctx.contact_days(params["window_days"])
        frame = frame[frame["persona"].isin(list(benchmarks))].copy()
        if frame.empty:
            result["note"] = "no contacts of a persona expected to use the product"
            return result
        frame["days"] = frame["days"].astype(float)
        frame["benchmark"] = frame["persona"].map(benchmarks).astype(float)
        frame["credit"] = (frame["days"] / frame["benchmark"]).clip(upper=1)
        frame["meets"] = frame["days"] >= frame["benchmark"]
        per_persona = frame.groupby(["account_id", "persona"]).agg(
            credit=("credit", "mean"), meeting=("meets", "sum"), contacts=("meets", "size")
        )
        # Each persona weighs the same: fifty quiet end users cannot hide one silent admin.
        credit = per_persona.groupby(level=0)["credit"].mean() * 100
        result["raw"] = credit.reindex(result.index).astype(float)
        window = params["window_days"]
        details, notes = {}, {}
        rows = per_persona.reset_index()
        for account_id, persona, meeting, size in zip(
            rows["account_id"].tolist(),
            rows["persona"].tolist(),
            rows["meeting"].tolist(),
            rows["contacts"].tolist(),
            strict=True,
        ):
            details.setdefault(account_id, []).append(
                {
                    "persona": persona,
                    "meeting": int(meeting),
                    "contacts": int(size),
                    "benchmark": benchmarks[persona],
                }
            )
        for account_id, rows in details.items():
            notes[account_id] = "; ".join(
                f"{d['meeting']} of {d['contacts']} {_plural(d['persona'])}"
                f" active {fmt(d['benchmark'])}+ days in {window}"
                for d in rows
            )
        result["detail"] = pd.Series(details, dtype=object)
        result["note"] = (
            pd.Series(notes, dtype=object)
            .reindex(result.index)
            .fillna("no contacts of a persona expected to use the product")
        )
        return result

    def benchmark(self, params):
        return {p: b for p, b in params["benchmarks"].items() if b > 0}

    def describe(self, component):
        worst = _worst_persona(component.get("detail"))
        if worst is None:
            return super().describe(component)
        return (
            f"{worst['meeting']} of {worst['contacts']} "
            f"{_plural(worst['persona'])} meet their usage benchmark"
        )

    def describe_change(self, old, new):
        before = {d["persona"]: d for d in old.get("detail") or []}
        changes = []
        for now in new.get("detail") or []:
            then = before.get(now["persona"])
            if then and then["meeting"] != now["meeting"]:
                changes.append((now["meeting"] - then["meeting"], then, now))
        if not changes:
            return super().describe_change(old, new)
        delta, then, now = min(changes, key=lambda c: c[0])
        verb = "fell" if delta < 0 else "rose"
        who = _plural(now["persona"])
        return f"active {who} {verb} from {then['meeting']} to {now['meeting']}"


def _plural(persona: str) -> str:
    return PERSONA_PLURALS.get(persona, persona)


def _worst_persona(detail):
    if not detail:
        return None
    return min(detail, key=lambda d: d["meeting"] / d["contacts"] if d["contacts"] else 1)


class LicenseUtilisation(Measure):
    quantity = "active users per seat"

    def compute(self, ctx, params):
        result = empty_result(ctx.account_ids)
        if (empty := ctx.uncovered(params["window_days"], result)) is not None:
            return empty
        licenses = ctx.accounts["licenses_purchased"].reindex(result.index)
        active = ctx.active_users(params["window_days"]).reindex(result.index)
        has_licenses = licenses > 0
        result.loc[has_licenses, "raw"] = active[has_licenses] / licenses[has_licenses] * 100
        result["note"] = [
            f"{int(a)} active user{'s' if a != 1 else ''} of {int(lic)} licenses"
            if lic
            else "no licenses recorded"
            for a, lic in zip(active, licenses.fillna(0), strict=True)
        ]
        return result

    def describe(self, component):
        return f"license utilisation {fmt(component['raw'], '%')} ({component['note']})"


class FeatureBreadth(Measure):
    quantity = "of the key features in use"

    def compute(self, ctx, params):
        features = key_features(params["features"])
        result = empty_result(ctx.account_ids)
        if (empty := unseen_events(ctx, features, result)) is not None:
            return empty
        if (empty := ctx.uncovered(params["window_days"], result)) is not None:
            return empty
        used = ctx.feature_counts(features, params["window_days"]).groupby("account_id").size()
        counts = used.reindex(result.index).fillna(0).astype(float)
        result["raw"] = counts / len(features) * 100
        result["note"] = [f"{int(n)} of {len(features)} key features used" for n in counts]
        return result

    def describe(self, component):
        return component["note"]


def key_features(chosen: list[str]) -> list[str]:
    """The measure's own event names, else the key features an admin chose in the event
    catalogue, else the ones it suggests, else CORE_FEATURES."""
    return list(chosen) or measured_feature_names() or list(settings.CORE_FEATURES)


def unseen_events(ctx, names: list[str], result: pd.DataFrame) -> pd.DataFrame | None:
    """``result`` with the reason when none of ``names`` occurs in the data by the day, so the
    measure says "no data" instead of a false zero; None when some do.

    The event catalogue knows every name it has folded (one indexed lookup); a name it does not
    know yet (sent in the last minutes, or never) is looked for in this chunk's roll-ups."""
    if not names:
        result["note"] = "no key features chosen in the event catalogue"
        return result
    if ctx.any_seen(names):
        return None
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    result["note"] = f"{shown} never occur{'s' if len(names) == 1 else ''} in the product's data"
    return result


class UsageTrend(Measure):
    def compute(self, ctx, params):
        window = params["window_days"]
        start, end = ctx.window(window)
        previous_start = start - timedelta(days=window)
        result = empty_result(ctx.account_ids)
        if (empty := ctx.uncovered(2 * window, result)) is not None:
            return empty
        rows = (
            DailyAccountUsage.objects.filter(
                account_id__any=ctx.account_ids, date__gte=previous_start, date__lte=end
            )
            .values("account_id")
            .annotate(
                current=Sum("event_count", filter=Q(date__gte=start)),
                previous=Sum("event_count", filter=Q(date__lt=start)),
            )
            .values_list("account_id", "current", "previous")
        )
        frame = (
            pd.DataFrame(rows, columns=["account_id", "current", "previous"])
            .set_index("account_id")
            .reindex(ctx.account_ids)
            .fillna(0)
        )
        result = empty_result(ctx.account_ids)
        change = (frame["current"] - frame["previous"]) / frame["previous"].replace(0, np.nan) * 100
        # New usage after a silent period is growth; silence in both periods is no data.
        change[(frame["previous"] == 0) & (frame["current"] > 0)] = 100.0
        result["raw"] = change.clip(upper=1000)
        result["note"] = [
            f"{int(c):,} events in the last {window} days vs {int(p):,} before"
            if c or p
            else f"no usage in the last {2 * window} days"
            for c, p in zip(frame["current"], frame["previous"], strict=True)
        ]
        return result

    def describe(self, component):
        raw = component["raw"]
        direction = "down" if raw < 0 else "up"
        return f"usage {direction} {fmt(abs(raw), '%')} ({component['note']})"

    def describe_change(self, old, new):
        return f"usage trend went from {fmt(old['raw'], '%')} to {fmt(new['raw'], '%')}"


DEFAULT_PERSONA_BENCHMARKS = {
    # Active days in 28: admins and champions live in the product most working days; at 4
    # days (weekly) nearly every account earned full points and the measure never moved.
    Persona.ADMIN: 12,
    Persona.CHAMPION: 12,
    Persona.EXECUTIVE_SPONSOR: 0,
    Persona.END_USER: 0,  # end users may only appear during incidents
    Persona.BILLING: 0,
}

REGISTRY: dict[str, Measure] = {
    m.kind: m
    for m in (
        UsageFrequency(
            "usage_frequency",
            "Usage frequency",
            "Active days per contact in the window against the benchmark of their persona "
            "(0 = not expected to use the product). Raw: % of the benchmark met, each persona "
            "weighing the same.",
            "%",
            (
                WINDOW,
                Param(
                    "benchmarks",
                    dict(DEFAULT_PERSONA_BENCHMARKS),
                    0,
                    365,
                    "per_persona",
                    "Active days expected per persona in the window.",
                ),
                *_band(10, 90, 0, 100, " (%)"),
                *PEER_PARAMS,
            ),
        ),
        LicenseUtilisation(
            "license_utilisation",
            "License utilisation",
            "Distinct active users in the window / licenses purchased.",
            "%",
            (WINDOW, *_band(10, 80, 0, 1000, " (%)"), *PEER_PARAMS),
        ),
        FeatureBreadth(
            "feature_breadth",
            "Feature breadth",
            "Key features used in the window / key features (default: the event catalogue's "
            "key features, else its suggestions, else CORE_FEATURES); no data when none of "
            "them ever occurs.",
            "%",
            (
                WINDOW,
                Param(
                    "features",
                    [],
                    kind="names",
                    help="Event names; empty: the catalogue's key features.",
                ),
                *_band(0, 80, 0, 100, " (%)"),
                *PEER_PARAMS,
            ),
        ),
        UsageTrend(
            "usage_trend",
            "Usage trend",
            "Events in the window vs the window before, in % change.",
            "%",
            (WINDOW, *_band(-50, 0, -100, 1000, " (% change)")),
        ),
    )
}

# Relationship and behavioural measures (health/relationship.py, health/behaviour.py) read
# this module's building blocks.
from health.behaviour import BEHAVIOURAL_MEASURES  # noqa: E402
from health.relationship import RELATIONSHIP_MEASURES  # noqa: E402

REGISTRY.update({m.kind: m for m in (*RELATIONSHIP_MEASURES, *BEHAVIOURAL_MEASURES)})
