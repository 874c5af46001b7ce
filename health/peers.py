"""Peer benchmarks: a measure that earns its points from the account's percentile among the
active accounts of its peer group (same plan, touch model or industry, or everyone) on the
day, instead of from fixed thresholds.

What counts as "low usage" differs between a 5-seat Starter account and a 500-seat Enterprise
one, and between products: a percentile travels where a fixed threshold saturates. With
``benchmark: peers`` a measure's ``zero_at`` and ``full_at`` are percentiles (by default 5 and
50: at or above the group's median earns full points).

The population is computed with the measure's own set-based query over every active account
of the day, once per measure, parameters and day in a process (kept ``TTL`` seconds, so the
drain of a few dirty accounts every few seconds does not recount the whole book each time).
"""

from __future__ import annotations

import threading
import time as clock
from datetime import UTC, date, datetime, time

import numpy as np
import pandas as pd
from django.db.models import Q

from accounts.choices import AccountStatus
from accounts.models import Account
from health.measures import REGISTRY, Context

TTL = 300
CHUNK = 5000

_cache: dict = {}
_lock = threading.Lock()


def _active_accounts(as_of: date, live: bool, group: str) -> pd.DataFrame:
    accounts = Account.objects.all()
    if live:
        accounts = accounts.filter(status=AccountStatus.ACTIVE)
    else:
        end = datetime.combine(as_of, time.max, UTC)
        accounts = accounts.filter(Q(churned_at__isnull=True) | Q(churned_at__gt=end)).filter(
            Q(contract_start__isnull=True) | Q(contract_start__lte=as_of)
        )
    field = "id" if group == "all" else group
    rows = accounts.order_by("id").values_list("id", field)
    frame = pd.DataFrame(list(rows), columns=["account_id", "group"]).set_index("account_id")
    if group == "all":
        frame["group"] = ""
    return frame


def population(
    kind: str, params: dict, as_of: date, live: bool, known: pd.Series | None = None
) -> pd.DataFrame:
    """Raw value and peer group of every active account of the day (cached). ``known`` holds
    raw values the caller already computed for the same measure, parameters and day: only
    the other accounts are computed (a full recompute of a small book computes none)."""
    key = (kind, repr(sorted(params.items())), as_of, live)
    with _lock:
        found = _cache.get(key)
        if found and found[0] > clock.monotonic():
            return found[1]
    frame = _active_accounts(as_of, live, params["peer_group"])
    known = pd.Series(dtype=float) if known is None else known
    ids = frame.index.difference(known.index).tolist()
    raw = [known[known.index.isin(frame.index)]] + [
        REGISTRY[kind].compute(Context(ids[i : i + CHUNK], as_of), params)["raw"]
        for i in range(0, len(ids), CHUNK)
    ]
    frame["raw"] = pd.concat(raw).astype(float).reindex(frame.index)
    with _lock:
        if len(_cache) > 32:  # a backfill walks through days: keep the recent ones only
            _cache.clear()
        _cache[key] = (clock.monotonic() + TTL, frame)
    return frame


def percentiles(values: pd.Series, peers: pd.DataFrame, groups: pd.Series | None = None):
    """Each account's mid-rank percentile (0-100) among the peers of its group with data:
    ties count half, so the median account of a group of identical values sits at 50.
    ``groups`` gives the group of accounts that are not among ``peers`` themselves."""
    result = pd.Series(np.nan, index=values.index, dtype=float)
    own = peers["group"] if groups is None else pd.concat([groups, peers["group"]])
    own = own[~own.index.duplicated()].reindex(values.index)
    known = peers.dropna(subset=["raw"])
    for group, members in values.groupby(own):
        pool = np.sort(known.loc[known["group"] == group, "raw"].to_numpy())
        x = members.to_numpy(dtype=float)
        if not len(pool):
            # No peer with data (a new plan): the account is its own median.
            result[members.index] = np.where(np.isnan(x), np.nan, 50.0)
            continue
        below = np.searchsorted(pool, x, side="left")
        upto = np.searchsorted(pool, x, side="right")
        pct = (below + upto) / 2 / len(pool) * 100
        result[members.index] = np.where(np.isnan(x), np.nan, pct)
    return result


def _groups_of(ids, group: str) -> pd.Series:
    """The peer group of accounts outside the day's population (a churned account's history,
    an account created since the population was counted)."""
    if group == "all":
        return pd.Series("", index=ids, dtype=object)
    rows = Account.objects.filter(id__in=list(ids)).values_list("id", group)
    return pd.Series(dict(rows), dtype=object)


def peer_values(kind: str, params: dict, raw: pd.Series, as_of: date, live: bool) -> pd.Series:
    """``raw`` as the scorer maps it to points: percentiles for a peer benchmark."""
    if params.get("benchmark", "fixed") != "peers":
        return raw
    peers = population(kind, params, as_of, live, known=raw)
    missing = raw.index.difference(peers.index)
    extra = _groups_of(missing, params["peer_group"]) if len(missing) else None
    return percentiles(raw, peers, extra)
