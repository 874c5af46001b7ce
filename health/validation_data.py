"""The validation report of a scorecard version over a period, from its stored history.

Loading is set-based: one query for the accounts (start and churn dates) and one statement
for the snapshots (those of the observation dates, and those of each churner 14, 30 and 60
days before it churned), whatever the number of accounts. Scores and colours are read as
they were stored on each day, never recomputed, so nothing learned later leaks in. The
metrics themselves are ``health.validation.validation_report``, which a draft scorecard
can feed with scores of its own.

An account is observed on a date when it has a stored score of the version that day, its
contract started on or before it (an account without a start date counts from its first
score, as scoring does) and it had not churned on or before it. It is labelled churned when
it churned (``Account.churned_at``, a UTC day) within ``(date, date + window]``. Outcomes are
known up to yesterday: an observation date whose window is not over yet is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db.models import Case, F, Func, Max, Min, Q, TextField, Value, When
from django.utils import timezone

from accounts.models import Account, EventDefinition
from health.measures import REGISTRY
from health.models import HealthSnapshot, Scorecard, ScorecardVersion
from health.validation import LEAD_DAYS, Minimums, validation_report

EVERY = {"month": "the first of each month", "week": "each Monday"}
MAX_WINDOW = 730
MAX_PERIOD_DAYS = 3660
EARLIEST = date(1970, 1, 1)


class ValidationInputError(ValueError):
    """A request the report cannot answer; ``field`` names the parameter to change."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    window: int = 60
    every: str = "month"

    @classmethod
    def of(cls, start=None, end=None, window=None, every=None, today=None) -> Period:
        """The period asked for, with defaults: the year up to today (from the first event
        received, if later: before it every account scores without usage), a 60-day window."""
        end = end or (today or timezone.now().date())
        if start is None:
            first = EventDefinition.objects.aggregate(first=Min("first_seen_at"))["first"]
            start = end - timedelta(days=365)
            if first is not None and start < first.date() <= end:
                start = first.date()
        return cls(start, end, 60 if window is None else window, every or "month")

    def dates(self) -> list[date]:
        """The observation dates within [start, end]: first of each month or each Monday."""
        if self.every == "week":
            first = self.start + timedelta(days=(7 - self.start.weekday()) % 7)
            return [first + timedelta(weeks=n) for n in range((self.end - first).days // 7 + 1)]
        month = self.start.year * 12 + self.start.month - 1 + (self.start.day > 1)
        days = []
        while (day := date(month // 12, month % 12 + 1, 1)) <= self.end:
            days.append(day)
            month += 1
        return days


def check_period(period: Period, today: date) -> tuple[list[date], list[date]]:
    """(usable observation dates, dates whose window is not over yet), or the reason none."""
    for field, day in (("start", period.start), ("end", period.end)):
        if not EARLIEST <= day <= today:
            raise ValidationInputError(
                field, f"{day} is not from {EARLIEST} to today: outcomes are known up to yesterday."
            )
    if period.start > period.end:
        raise ValidationInputError("start", f"{period.start} is after end ({period.end}).")
    if (period.end - period.start).days > MAX_PERIOD_DAYS:
        raise ValidationInputError(
            "start", f"The period may span {MAX_PERIOD_DAYS} days at most; shorten it."
        )
    if not 1 <= period.window <= MAX_WINDOW:
        raise ValidationInputError("window", f"Must be from 1 to {MAX_WINDOW} days.")
    if period.every not in EVERY:
        raise ValidationInputError("every", f"Must be one of {', '.join(EVERY)}.")
    dates = period.dates()
    if not dates:
        raise ValidationInputError(
            "start",
            f"No observation date from {period.start} to {period.end}: they fall on "
            f"{EVERY[period.every]}; widen the period.",
        )
    latest = today - timedelta(days=period.window + 1)  # its window ends yesterday
    usable = [d for d in dates if d <= latest]
    if not usable:
        raise ValidationInputError(
            "window",
            f"A {period.window}-day window after {dates[0]} ends after yesterday: no observation "
            f"date from {period.start} to {period.end} has its outcomes yet; the latest that "
            f"would is {latest}.",
        )
    return usable, [d for d in dates if d > latest]


def resolve_version(scorecard: Scorecard, number: int | None) -> ScorecardVersion:
    """The scorecard's version ``number`` (default: the current one)."""
    if number is None:
        if scorecard.current_version is None:
            raise ValidationInputError("version", f"{scorecard.name} has no published version.")
        return scorecard.current_version
    version = ScorecardVersion.objects.filter(scorecard=scorecard, number=number).first()
    if version is None:
        raise ValidationInputError("version", f"{scorecard.name} has no version {number}.")
    return version


def _accounts() -> pd.DataFrame:
    rows = Account.objects.order_by().values_list("id", "contract_start", "churned_at")
    frame = pd.DataFrame(list(rows), columns=["account_id", "contract_start", "churned_at"])
    frame["contract_start"] = pd.to_datetime(frame["contract_start"])
    churned_at = pd.to_datetime(frame["churned_at"], utc=True)
    frame["churn_day"] = churned_at.dt.tz_localize(None).dt.normalize()
    return frame.drop(columns="churned_at")


def _points_text(width: int):
    """``measure_points`` as ``nan,100,94``: numbers separated by commas, NaN where a measure
    had no data; NULL for an array of another length than the version's ``width`` measures
    (a snapshot of a version without measures). The database prints and checks the arrays,
    so Python only joins the texts for numpy: checking lengths and replacing braces and
    NULLs in Python cost 0.15 s of the report's 1.2 at 10,000 accounts."""
    text = Func(
        F("measure_points"), Value(","), Value("nan"), function="array_to_string",
        output_field=TextField(),
    )  # fmt: skip
    return Case(When(measure_points__len=width, then=text), default=None)


def _snapshots(version: ScorecardVersion, dates: list[date], leads: pd.DataFrame) -> list:
    """(account, date, score, colour, measure points as text or None, observed) of the
    observation dates and of the churners' lead days (no points), in one statement.

    The lead days are asked for by day, ``date = d AND account_id IN (...)``, each an index
    scan of (account, date). The points are ``_points_text``, parsed by ``_measure_points``."""
    columns = ("account_id", "date", "score", "color", "points", "observed")
    width = len(version.definition.get("measures", []))
    observed = (
        HealthSnapshot.objects.filter(scorecard_version=version, date__in=dates)
        .order_by()
        .annotate(points=_points_text(width), observed=Value(True))
        .values_list(*columns)
    )
    by_day = leads.groupby("date")["account_id"].unique()
    wanted = Q()
    for day, ids in by_day.items():
        wanted |= Q(date=day.date(), account_id__in=ids.tolist())
    if not wanted:
        return list(observed)
    days = (
        HealthSnapshot.objects.filter(wanted, scorecard_version=version)
        .order_by()
        .annotate(points=Value(None, TextField()), observed=Value(False))
        .values_list(*columns)
    )
    return list(observed.union(days, all=True))


def _measure_points(texts: pd.Series, kinds: list[str]) -> pd.DataFrame:
    """One column of points per measure (NaN where the snapshot had no data for it, and
    for a snapshot without points), from ``_points_text``: parsed by numpy all at once.

    Bench ``health_validation`` at 10,000 accounts (86,000 snapshots of 11 measures), runs
    back to back: decoding each snapshot's components JSON here, as before the points were
    kept apart, the report took 3.51 s, 9.1 times its floor (0.38 s); reading the points as
    text and parsing them here (with the batched bootstrap), 1.14 s, 2.4 times its floor
    (0.48 s). Read as numbers (``float8[]``), the driver builds a Python list of floats per
    row: 0.75-0.99 s for the read alone, twice the text."""
    values = np.full((len(texts), len(kinds)), np.nan)
    arrays = texts.tolist()  # a list: iterating a Series costs more than the parse
    present = np.fromiter((isinstance(t, str) for t in arrays), bool, len(arrays))  # not NULL
    if kinds and present.any():
        joined = ",".join(arrays if present.all() else [t for t in arrays if isinstance(t, str)])
        values[present] = np.fromstring(joined, sep=",").reshape(-1, len(kinds))
    return pd.DataFrame(values, index=texts.index, columns=kinds)


def observation_frames(
    version: ScorecardVersion, dates: list[date], window: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(observations, leads) as ``health.validation`` reads them."""
    span = pd.Timedelta(days=window)
    accounts = _accounts()
    first, last = pd.Timestamp(dates[0]), pd.Timestamp(dates[-1]) + span
    churners = accounts[(accounts["churn_day"] > first) & (accounts["churn_day"] <= last)]
    leads = pd.concat(
        [
            churners.assign(days_before=days, date=churners["churn_day"] - pd.Timedelta(days=days))
            for days in LEAD_DAYS
        ]
    )
    columns = ["account_id", "date", "score", "color", "points", "observed"]
    rows = pd.DataFrame(_snapshots(version, dates, leads), columns=columns)
    rows["date"] = pd.to_datetime(rows["date"])

    snaps = rows[rows["observed"].astype(bool)].merge(accounts, on="account_id")
    started = snaps["contract_start"].isna() | (snaps["contract_start"] <= snaps["date"])
    active = snaps["churn_day"].isna() | (snaps["churn_day"] > snaps["date"])
    snaps = snaps[started & active].reset_index(drop=True)
    snaps["churned"] = snaps["churn_day"].notna() & (snaps["churn_day"] <= snaps["date"] + span)
    snaps["ever_churned"] = snaps["churn_day"].notna()
    kinds = [m["kind"] for m in version.definition.get("measures", [])]
    points = _measure_points(snaps["points"], kinds)
    keep = ["account_id", "date", "score", "color", "churned", "ever_churned"]
    observations = pd.concat([snaps[keep], points], axis=1)

    lead_rows = rows[~rows["observed"].astype(bool)][["account_id", "date", "color"]]
    leads = leads.merge(lead_rows, on=["account_id", "date"], how="left")
    return observations, leads[["account_id", "days_before", "color"]]


def _no_history(version: ScorecardVersion, period: Period, dates: list[date], today: date):
    """The reason there is no observation: no history at all, too short, or elsewhere."""
    name = f"{version.definition.get('name', version.scorecard_id)} v{version.number}"
    span = HealthSnapshot.objects.filter(scorecard_version=version).aggregate(
        first=Min("date"), last=Max("date")
    )
    # A day keeps one snapshot per account: a backfill after publishing a new version
    # replaces the older version's history on the days it rebuilt.
    replaced = (
        " (a day keeps one score per account: backfill_health after a newer version was "
        "published replaced this one's)"
        if version != version.scorecard.current_version
        else ""
    )
    if span["first"] is None:
        return ValidationInputError(
            "version",
            f"{name} has no stored history{replaced}: run manage.py backfill_health to build "
            "the current version's.",
        )
    if replaced and span["first"] + timedelta(days=period.window) >= today:
        return ValidationInputError(
            "version",
            f"{name} has scores from {span['first']} only{replaced}; validate the current version.",
        )
    if span["first"] + timedelta(days=period.window) >= today:
        return ValidationInputError(
            "window",
            f"The {period.window}-day window is longer than the stored history: {name} has "
            f"scores from {span['first']} only, so no observation date has its outcomes yet.",
        )
    return ValidationInputError(
        "start",
        f"No stored score of {name} on the {len(dates)} observation dates from {dates[0]} to "
        f"{dates[-1]}: its history runs from {span['first']} to {span['last']}.",
    )


def scorecard_validation(
    scorecard: Scorecard,
    period: Period,
    *,
    version: int | None = None,
    today: date | None = None,
    minimums: Minimums = Minimums(),  # noqa: B008 - frozen
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """The validation report; a ``ValidationInputError`` names the parameter it cannot use."""
    today = today or timezone.now().date()
    dates, pending = check_period(period, today)
    chosen = resolve_version(scorecard, version)
    observations, leads = observation_frames(chosen, dates, period.window)
    if observations.empty:
        raise _no_history(chosen, period, dates, today)
    if not observations["churned"].any():
        raise ValidationInputError(
            "start",
            f"No account churned within {period.window} days after any observation date from "
            f"{dates[0]} to {dates[-1]} ({len(observations)} observations): a period without "
            "outcomes cannot judge the score; widen the period or the window.",
        )
    measures = {
        m["kind"]: REGISTRY[m["kind"]].label if m["kind"] in REGISTRY else m["kind"]
        for m in chosen.definition.get("measures", [])
    }
    report = validation_report(
        observations, leads, measures=measures, minimums=minimums, resamples=resamples, seed=seed
    )
    return {
        "scorecard": {"id": scorecard.pk, "name": scorecard.name, "version": chosen.number},
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "window_days": period.window,
            "every": period.every,
            "observation_dates": [d.isoformat() for d in dates],
            "dates_left_out": [d.isoformat() for d in pending],
            "outcomes_known_until": (today - timedelta(days=1)).isoformat(),
        },
        **report,
    }
