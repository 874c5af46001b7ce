"""The rows a learned scorecard is fitted on: every account active on each observation date
with its candidate measures as of that date, and whether it churned within the window.

Usage measures come as percentiles among the date's accounts (the scorer's peer benchmark),
so what a fit learns on past dates is what the scorer computes on later ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

import pandas as pd
from django.db.models import Max

from accounts.models import Account, EventDefinition
from health.measures import REGISTRY, Context

# Usage is fitted as its percentile among the day's active accounts (the scorer's peer
# benchmark): a season's dip or a product change moves every account at once, and a score
# on raw values would flag them all (the false alarms the budget was to bound).
RANKED = {"benchmark": "peers", "peer_group": "all"}
GROWTH_CAP = 100.0  # % change: doubling and more all count as growth
CHUNK = 5000


@dataclass
class Candidate:
    kind: str
    params: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.kind

    @property
    def label(self) -> str:
        return REGISTRY[self.kind].label

    @property
    def ranked(self) -> bool:
        """Fitted (and scored) as its percentile among the day's active accounts."""
        return self.params.get("benchmark") == "peers"


def candidates(key_features: list[str]) -> list[Candidate]:
    """The behavioural measures a fit may use; the key-feature rate when any is chosen."""
    # The change over time of the key behaviour says more than that of every event (a
    # login that goes on while the real work stops hides a decline).
    change = {"events": list(key_features)} if key_features else {}
    found = [
        Candidate("license_utilisation", dict(RANKED)),
        Candidate("activity_change", change | RANKED),
        Candidate("usage_frequency", dict(RANKED)),
        Candidate("key_contact_engagement"),
        Candidate("tenure"),
        Candidate("price_per_seat"),
        Candidate("days_to_renewal"),
    ]
    if key_features:
        found[:0] = [
            Candidate("event_rate", {"events": list(key_features)} | RANKED),
            Candidate("feature_breadth", {"features": list(key_features)} | RANKED),
        ]
    return found


def data_end() -> date | None:
    """The day of the last usage event the event catalogue has counted."""
    last = EventDefinition.objects.aggregate(last=Max("last_seen_at"))["last"]
    return last.astimezone(UTC).date() if last else None


def observation_dates(start: date, last: date) -> list[date]:
    """The first of each month from ``start``'s month to ``last``."""
    day, dates = date(start.year, start.month, 1), []
    while day <= last:
        if day >= start:
            dates.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return dates


def _accounts() -> pd.DataFrame:
    rows = Account.objects.order_by().values_list("id", "contract_start", "churned_at")
    frame = pd.DataFrame(list(rows), columns=["account_id", "start", "churned_at"])
    frame["churn_day"] = [c.date() if c is not None else None for c in frame["churned_at"]]
    return frame.drop(columns="churned_at").set_index("account_id")


def active_on(accounts: pd.DataFrame, day: date) -> list[int]:
    started = accounts["start"].isna() | (accounts["start"] <= day)
    active = accounts["churn_day"].isna() | (accounts["churn_day"] > day)
    return accounts.index[started & active].tolist()


def feature_rows(dates: list[date], features: list[Candidate], accounts) -> pd.DataFrame:
    """Raw value of every feature for every account active on each date, as of that date:
    one aggregate query per feature, date and chunk of accounts."""
    frames = []
    for day in dates:
        ids = active_on(accounts, day)
        for start in range(0, len(ids), CHUNK):
            ctx = Context(ids[start : start + CHUNK], day)
            part = pd.DataFrame(index=pd.Index(ctx.account_ids, name="account_id"))
            for item in features:
                params = REGISTRY[item.kind].defaults() | item.params
                part[item.key] = REGISTRY[item.kind].compute(ctx, params)["raw"].astype(float)
            frames.append(part.reset_index().assign(date=day))
    if not frames:
        return pd.DataFrame(columns=["account_id", "date", *[f.key for f in features]])
    rows = pd.concat(frames, ignore_index=True)
    for item in features:
        if item.ranked:
            rows[item.key] = ranked_on_each_date(rows, item.key)
    return rows


def ranked_on_each_date(rows: pd.DataFrame, key: str) -> pd.Series:
    """Each value's mid-rank percentile (0-100) among the accounts of its date with data, as
    the scorer's peer benchmark ranks it (health.peers.percentiles, peer group "all")."""
    by_date = rows.groupby("date")[key]
    return (by_date.rank(method="average") - 0.5) / by_date.transform("count") * 100


def bounded(rows: pd.DataFrame, window: int) -> pd.DataFrame:
    """Features held to the range where they tell risk apart, so the learned points run over
    it: days to renewal up to the churn window (a renewal inside it is the risk, most
    customers leave at one; one a year away is no safer than one three months away), and
    activity change up to doubling (a new account's tenfold ramp-up would otherwise stretch
    the scale until every decline looks alike)."""
    if "days_to_renewal" in rows:
        rows = rows.assign(days_to_renewal=rows["days_to_renewal"].clip(0, window))
    if "activity_change" in rows:
        rows = rows.assign(activity_change=rows["activity_change"].clip(upper=GROWTH_CAP))
    return rows


def label(rows: pd.DataFrame, accounts: pd.DataFrame, window: int, known_until: date):
    """``churned``: churned within (date, date + window], counting only churn known by
    ``known_until``."""
    churn = rows["account_id"].map(accounts["churn_day"])
    ends = rows["date"].map(lambda d: d + timedelta(days=window))
    within = [
        c is not None and c == c and d < c <= e and c <= known_until
        for c, d, e in zip(churn, rows["date"], ends, strict=True)
    ]
    return pd.Series(within, index=rows.index, dtype=bool)
