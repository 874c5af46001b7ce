"""Which events retained accounts give a larger share of their use to than churned accounts
did before churning: the catalogue's second test for suggesting key features.

The first test (accounts/catalogue.py) asks whether an account used a name at all in its last
28 days. A churner seldom stops using the product's valuable features outright; it uses them
less, while logins and routine pages go on. So here each account's events of the 28 days up
to its reference day (today, or the day it churned) are split by name, and for each name the
shares of retained accounts are ranked against those of churned accounts (a one-sided
Mann-Whitney test, scipy): ``mix_auc`` is the chance that a retained account's share is the
larger, ``mix_p`` how often chance alone gives one so large. A share, not a count, because a
season (a summer or December dip) or an account's size moves every name of it together and
leaves the shares where they were, while retained and churned accounts are counted over
different weeks of the year.

As in the first test, a churned account counts for a name only if it churned after the name
first appeared, and accounts without events in their window are left out (nothing to share).

Read from the daily per-name roll-ups, one aggregate: 0.06-0.17 s for 100 accounts and
550,000 events of 16 names over a year (about 1,600 account-name rows in the windows).
"""

import numpy as np
import pandas as pd
from django.db import connection
from scipy.stats import mannwhitneyu

from accounts.choices import AccountStatus
from accounts.models import Account, DailyFeatureUsage, EventDefinition

WINDOW_DAYS = EventDefinition.WINDOW_DAYS
# An account ``a``'s reference moment, shared with the catalogue's first test: whether it
# churned, when (else now, parameter ``now``) and that day in UTC.
REFERENCE = """a.id, a.status = %(churned)s AS churned, COALESCE(a.churned_at, %(now)s) AS at,
    (COALESCE(a.churned_at, %(now)s) AT TIME ZONE 'UTC')::date AS day"""


def quoted_table(model) -> str:
    """The model's table name quoted for raw SQL (this module's and the catalogue's)."""
    return connection.ops.quote_name(model._meta.db_table)


def window_counts(now) -> pd.DataFrame:
    """Events per account and name in each account's window: account_id, churned, at (the
    reference moment), name, n."""
    account, usage = quoted_table(Account), quoted_table(DailyFeatureUsage)
    sql = f"""
        WITH sender AS MATERIALIZED (
            SELECT {REFERENCE}
            FROM {account} a
            WHERE a.status IN (%(churned)s, %(active)s)
        )
        SELECT f.account_id, s.churned, s.at, f.name, sum(f.event_count)
        FROM {usage} f JOIN sender s ON s.id = f.account_id
        WHERE f.date > s.day - %(window)s AND f.date <= s.day
        GROUP BY f.account_id, s.churned, s.at, f.name
    """
    params = {
        "churned": AccountStatus.CHURNED,
        "active": AccountStatus.ACTIVE,
        "now": now,
        "window": WINDOW_DAYS,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame(rows, columns=["account_id", "churned", "at", "name", "n"])


def mix_comparison(counts: pd.DataFrame, first_seen: dict) -> dict:
    """{name: (mix_auc, mix_p)} from ``window_counts``; a name without both samples is
    missing. ``first_seen``: {name: when it first appeared}."""
    if counts.empty:
        return {}
    counts = counts.assign(n=counts["n"].astype(float))
    totals = counts.groupby("account_id")["n"].transform("sum")
    counts = counts.assign(share=counts["n"] / totals)
    accounts = counts.drop_duplicates("account_id").set_index("account_id")[["churned", "at"]]
    shares = counts.pivot_table(
        index="account_id", columns="name", values="share", aggfunc="sum", fill_value=0.0
    )
    churned = accounts["churned"].reindex(shares.index).to_numpy(dtype=bool)
    at = accounts["at"].reindex(shares.index)
    result = {}
    for name in shares.columns:
        since = first_seen.get(name)
        after = np.ones(len(at), dtype=bool) if since is None else (at > since).to_numpy()
        values = shares[name].to_numpy()
        retained, left = values[~churned], values[churned & after]
        if not len(retained) or not len(left):
            continue
        if np.ptp(np.concatenate([retained, left])) == 0:
            result[name] = (0.5, 1.0)  # every account alike: no difference to test
            continue
        u, p = mannwhitneyu(retained, left, alternative="greater")
        result[name] = (float(u / (len(retained) * len(left))), float(p))
    return result


def compare_event_mix(now) -> None:
    """Store ``mix_auc`` and ``mix_p`` of every name (empty where there is nothing to
    compare), in the caller's transaction."""
    definitions = list(EventDefinition.objects.only("name", "first_seen_at", "mix_auc", "mix_p"))
    first_seen = {d.name: d.first_seen_at for d in definitions}
    found = mix_comparison(window_counts(now), first_seen)
    for d in definitions:
        d.mix_auc, d.mix_p = found.get(d.name, (None, None))
    EventDefinition.objects.bulk_update(definitions, ["mix_auc", "mix_p"], batch_size=1000)
