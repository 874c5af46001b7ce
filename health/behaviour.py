"""Behavioural measures, as churn analysis builds them ("Fighting Churn With Data").

Counts per account per behaviour, divided by who could have done it: an event's rate per
active user (or per seat) over 28 days, the change of activity over time (the last 4 weeks
against the 8 before), tenure, and price per seat. Like every measure each is computed for a
whole chunk of accounts with one aggregate query, as of any past day, from the daily
roll-ups. An event that never occurs in the product's data up to the day gives "no data" with
the reason, never a false zero.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from django.db.models import Q, Sum

from accounts.models import DailyAccountUsage, DailyFeatureUsage
from health.measures import (
    PEER_PARAMS,
    WINDOW,
    Measure,
    Param,
    _band,
    empty_result,
    fmt,
    key_features,
    unseen_events,
)

PER = ("active_user", "seat")


class EventRate(Measure):
    """Events of the chosen names in the window per active user (or per seat)."""

    def quantity_words(self, params):
        names = list(params.get("events") or [])
        what = f"{names[0]} events" if len(names) == 1 else "key-feature events"
        who = "seat" if params.get("per") == "seat" else "active user"
        return f"{what} per {who}"

    def compute(self, ctx, params):
        names = key_features(params["events"])
        result = empty_result(ctx.account_ids)
        if (empty := unseen_events(ctx, names, result)) is not None:
            return empty
        days = params["window_days"]
        if (empty := ctx.uncovered(days, result)) is not None:
            return empty
        per_name = ctx.feature_counts(names, days)
        counts = per_name.groupby("account_id")["n"].sum().reindex(result.index).fillna(0)
        counts = counts.astype(float)
        if params["per"] == "seat":
            divisor = ctx.accounts["licenses_purchased"].reindex(result.index).astype(float)
            who = "seat"
        else:
            divisor = ctx.active_users(days)
            who = "active user"
        has = divisor > 0
        result.loc[has, "raw"] = counts[has] / divisor[has]
        # No active user (or no seat) and no event: nothing was done, a true zero.
        result.loc[~has & (counts == 0), "raw"] = 0.0
        label = names[0] if len(names) == 1 else f"events of {len(names)} key features"
        result["note"] = [
            f"{fmt(c)} {label} in {days} days, {fmt(r)} per {who}"
            if r == r
            else f"no {who}s recorded"
            for c, r in zip(counts, result["raw"], strict=True)
        ]
        return result

    def describe(self, component):
        return component["note"]

    def benchmark(self, params):
        return params["full_at"]


class ActivityChange(Measure):
    """Events per day in the last window against the baseline window before it, in %."""

    def quantity_words(self, params):
        keyed = params.get("events") or params.get("of") == "key_features"
        what = "key-feature activity" if keyed else "activity"
        return (
            f"growth of {what} (the last {params['window_days']} days against the "
            f"{params['baseline_days']} before)"
        )

    def compute(self, ctx, params):
        recent, baseline = params["window_days"], params["baseline_days"]
        # The value events fall before a churn while logins go on: key features (from the
        # catalogue, as the other usage measures read them) say more than every event.
        names = list(params["events"])
        if not names and params.get("of") == "key_features":  # versions from before "of"
            names = key_features([])
        result = empty_result(ctx.account_ids)
        if names and (empty := unseen_events(ctx, names, result)) is not None:
            return empty
        if (empty := ctx.uncovered(recent + baseline, result)) is not None:
            return empty
        start, end = ctx.window(recent)
        base_start = start - timedelta(days=baseline)
        # Every event: the account roll-up, a tenth of the rows of the per-name one.
        day = DailyAccountUsage.objects if not names else DailyFeatureUsage.objects
        day = day.filter(account_id__any=ctx.account_ids, date__gte=base_start, date__lte=end)
        if names:
            day = day.filter(name__in=names)
        rows = (
            day.order_by()
            .values("account_id")
            .annotate(
                recent=Sum("event_count", filter=Q(date__gte=start)),
                before=Sum("event_count", filter=Q(date__lt=start)),
            )
            .values_list("account_id", "recent", "before")
        )
        frame = pd.DataFrame(rows, columns=["account_id", "recent", "before"]).set_index(
            "account_id"
        )
        frame = frame.reindex(result.index).fillna(0).astype(float)
        rate_now, rate_before = frame["recent"] / recent, frame["before"] / baseline
        has = rate_before > 0
        result.loc[has, "raw"] = (rate_now[has] / rate_before[has] - 1) * 100
        result["note"] = [
            f"{fmt(n)} events a day in the last {recent} days vs {fmt(b)} in the {baseline} before"
            if b > 0
            else f"no activity in the {baseline} days before the last {recent}"
            for n, b in zip(rate_now, rate_before, strict=True)
        ]
        return result

    def describe(self, component):
        return f"activity change {fmt(component['raw'], '%')} ({component['note']})"


class Tenure(Measure):
    """Days since the contract started."""

    quantity = "days as a customer"

    higher_is_better = None

    def compute(self, ctx, params):
        result = empty_result(ctx.account_ids)
        starts = ctx.accounts["contract_start"].reindex(result.index)
        days = [(ctx.as_of - s).days if s is not None and s == s else np.nan for s in starts]
        result["raw"] = pd.Series(days, index=result.index, dtype=float)
        result["note"] = [
            f"customer for {fmt(d)} days" if d == d else "no contract start recorded"
            for d in result["raw"]
        ]
        return result


class PricePerSeat(Measure):
    """ARR on the day (from the contract history) per purchased license."""

    higher_is_better = None  # a dearer seat can mean more value or a harder renewal

    def compute(self, ctx, params):
        result = empty_result(ctx.account_ids)
        arr = ctx.contract["arr"]
        seats = ctx.accounts["licenses_purchased"].reindex(result.index).astype(float)
        has = (seats > 0) & arr.notna()
        result.loc[has, "raw"] = arr[has] / seats[has]
        result["note"] = [
            f"{fmt(a)} ARR over {int(s)} seats" if ok else "no ARR or licenses recorded"
            for a, s, ok in zip(arr.fillna(0), seats.fillna(0), has, strict=True)
        ]
        return result


EVENTS = Param(
    "events", [], kind="names", help="Event names from the catalogue; empty: its key features."
)

BEHAVIOURAL_MEASURES = (
    EventRate(
        "event_rate",
        "Event rate",
        "Events of the chosen names in the window per active user (or per seat).",
        "",
        (
            WINDOW,
            EVENTS,
            Param("per", "active_user", kind="choice", help="active_user or seat.", choices=PER),
            *_band(0, 10, 0, 100000, " (events per user)"),
            *PEER_PARAMS,
        ),
    ),
    ActivityChange(
        "activity_change",
        "Activity change",
        "Events per day in the last window vs the baseline window before it, in % change "
        "(every event, the catalogue's key features, or the chosen events).",
        "%",
        (
            WINDOW,
            Param("baseline_days", 56, 7, 365, "integer", "Days before the window compared."),
            Param(
                "events",
                [],
                kind="names",
                help="Event names from the catalogue; empty: as 'of' says.",
            ),
            Param(
                "of",
                "all_events",
                kind="choice",
                choices=("all_events", "key_features"),
                help="With no event names: every event, or the catalogue's key features.",
            ),
            *_band(-60, 0, -100, 1000, " (% change)"),
            *PEER_PARAMS,
        ),
    ),
    Tenure(
        "tenure",
        "Tenure",
        "Days since the contract started.",
        " days",
        _band(0, 365, 0, 36500, " (days)"),
    ),
    PricePerSeat(
        "price_per_seat",
        "Price per seat",
        "ARR on the day (from the contract history) divided by licenses purchased.",
        "",
        (*_band(2000, 200, 0, 10_000_000, " (ARR per seat)"), *PEER_PARAMS),
    ),
)
