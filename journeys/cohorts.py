"""Cohort funnel: accounts by contract start month, and how many reach each milestone in time.

For every start month and milestone: the share of the cohort that reached it within 30, 60
and 90 days of their contract start. One query, pandas for the rest.
"""

import pandas as pd

from journeys.models import AccountMilestone

WINDOWS = (30, 60, 90)


def cohort_funnel(accounts) -> pd.DataFrame:
    """One row per (cohort month, milestone): cohort size and % reached within each window."""
    rows = pd.DataFrame(
        AccountMilestone.objects.filter(
            account__in=accounts, account__contract_start__isnull=False
        ).values_list("account_id", "account__contract_start", "definition__name", "reached_at"),
        columns=["account", "start", "milestone", "reached_at"],
    )
    columns = ["cohort", "milestone", "accounts"] + [f"within_{d}_days" for d in WINDOWS]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    rows["cohort"] = pd.to_datetime(rows["start"]).dt.strftime("%Y-%m")
    reached = pd.to_datetime(rows["reached_at"], utc=True).dt.tz_localize(None).dt.normalize()
    rows["days"] = (reached - pd.to_datetime(rows["start"])).dt.days
    grouped = rows.groupby(["cohort", "milestone"])
    table = grouped["account"].nunique().rename("accounts").to_frame()
    for window in WINDOWS:
        within = rows[rows["days"].notna() & (rows["days"] <= window)]
        hits = within.groupby(["cohort", "milestone"])["account"].nunique()
        table[f"within_{window}_days"] = (100 * hits / table["accounts"]).fillna(0).round(1)
    return table.reset_index()[columns].sort_values(["cohort", "milestone"], ignore_index=True)
