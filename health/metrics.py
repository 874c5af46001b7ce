"""Portfolio metrics a CS leader reports, for any period and segment, computed with pandas.

Each metric comes with its definition, shown next to the number. The data is read with one
query per source (accounts, surveys, escalations, feature usage, first-value milestones) and
everything else is pandas arithmetic, so 10,000 accounts cost the same few queries as 10.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pandas as pd
from django.conf import settings

from accounts.models import Account, DailyFeatureUsage, SurveyResponse
from journeys.models import AccountMilestone, Escalation

DEFINITIONS = {
    "churn_rate": "Accounts that churned in the period / accounts active at its start.",
    "revenue_churn_rate": "ARR of the accounts churned in the period / ARR active at its start.",
    "nps": "% promoters (9-10) - % detractors (0-6) among NPS answers in the period (-100 to 100).",
    "csat": "Share of CSAT answers in the period that are 4 or 5 (satisfied), in %.",
    "customer_lifetime_value": "Average revenue per account per month x expected lifetime in "
    "months, the lifetime being 1 / the monthly churn rate of the period.",
    "adoption_rate": "Accounts active in the period that used a core feature "
    "(CORE_FEATURES) / accounts active in the period, in %.",
    "time_to_value_median_days": "Median days from contract start to the first-value milestone, "
    "for accounts reaching it in the period.",
    "time_to_value_p75_days": "75th percentile of the same days.",
    "new_escalations": "Escalations opened in the period.",
    "escalation_response_attainment": "Escalations opened in the period whose first response came "
    "before their deadline / those with a deadline, in %.",
}


class MetricsError(ValueError):
    def __init__(self, field: str, reason: str):
        self.field = field
        super().__init__(reason)


@dataclass(frozen=True)
class Segment:
    """Which accounts a metric covers; empty fields match everything."""

    plan: str = ""
    touch_model: str = ""
    industry: str = ""
    owner: str = ""

    def accounts(self):
        queryset = Account.objects.all()
        for field, lookup in (
            ("plan", "plan__iexact"),
            ("touch_model", "touch_model"),
            ("industry", "industry__iexact"),
            ("owner", "owner__username"),
        ):
            if getattr(self, field):
                queryset = queryset.filter(**{lookup: getattr(self, field)})
        return queryset


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise MetricsError("end", f"The period ends ({end}) before it starts ({start}).")
    return datetime.combine(start, time.min, UTC), datetime.combine(end, time.max, UTC)


def _pct(numerator: float, denominator: float) -> float | None:
    return None if not denominator else round(float(100 * numerator / denominator), 2)


def portfolio_metrics(start: date, end: date, segment: Segment = Segment()) -> dict:
    """Every metric for the period start..end (inclusive) and the segment."""
    since, until = _bounds(start, end)
    accounts = pd.DataFrame(
        segment.accounts().values("id", "arr", "contract_start", "churned_at"),
        columns=["id", "arr", "contract_start", "churned_at"],
    )
    accounts["arr"] = accounts["arr"].astype(float)
    started = accounts["contract_start"].isna() | (accounts["contract_start"] <= start)
    churned_at = pd.to_datetime(accounts["churned_at"], utc=True)
    alive_at_start = started & (churned_at.isna() | (churned_at >= since))
    churned_in = alive_at_start & churned_at.between(since, until)
    alive_in_period = (accounts["contract_start"].isna() | (accounts["contract_start"] <= end)) & (
        churned_at.isna() | (churned_at >= since)
    )
    ids = accounts["id"].tolist()

    base, lost = int(alive_at_start.sum()), int(churned_in.sum())
    base_arr = accounts.loc[alive_at_start, "arr"].sum()
    lost_arr = accounts.loc[churned_in, "arr"].sum()
    months = max((end - start).days + 1, 1) / (365.25 / 12)
    monthly_churn = (lost / base) / months if base else 0.0
    arpa_month = (base_arr / base) / 12 if base else None
    lifetime = (1 / monthly_churn) if monthly_churn else None

    surveys = pd.DataFrame(
        SurveyResponse.objects.filter(
            account_id__in=ids, responded_at__gte=since, responded_at__lte=until
        ).values_list("kind", "score"),
        columns=["kind", "score"],
    )
    nps = surveys[surveys["kind"] == "nps"]["score"]
    csat = surveys[surveys["kind"] == "csat"]["score"]

    core = DailyFeatureUsage.objects.filter(
        account_id__in=accounts.loc[alive_in_period, "id"].tolist(),
        date__gte=start,
        date__lte=end,
        name__in=settings.CORE_FEATURES,
    )
    adopters = core.values("account_id").distinct().count()

    first_value = pd.DataFrame(
        AccountMilestone.objects.filter(
            account_id__in=ids,
            definition__marks_first_value=True,
            reached_at__gte=since,
            reached_at__lte=until,
            account__contract_start__isnull=False,
        ).values_list("reached_at", "account__contract_start"),
        columns=["reached_at", "contract_start"],
    )
    ttv = (
        pd.to_datetime(first_value["reached_at"], utc=True).dt.date - first_value["contract_start"]
    ).map(lambda delta: delta.days)

    escalations = pd.DataFrame(
        Escalation.objects.filter(
            account_id__in=ids, opened_at__gte=since, opened_at__lte=until
        ).values_list("response_due_at", "first_response_at"),
        columns=["due", "responded"],
    )
    # An escalation still within its deadline has neither met nor missed it yet.
    now = pd.Timestamp.now(tz="UTC")
    with_deadline = escalations.dropna(subset=["due"])
    with_deadline = with_deadline[
        with_deadline["responded"].notna() | (pd.to_datetime(with_deadline["due"], utc=True) < now)
    ]
    on_time = with_deadline["responded"].notna() & (
        pd.to_datetime(with_deadline["responded"], utc=True)
        <= pd.to_datetime(with_deadline["due"], utc=True)
    )

    values = {
        "churn_rate": _pct(lost, base),
        "revenue_churn_rate": _pct(lost_arr, base_arr),
        "nps": round(float(100 * ((nps >= 9).mean() - (nps <= 6).mean())), 1) if len(nps) else None,
        "csat": _pct((csat >= 4).sum(), len(csat)),
        "customer_lifetime_value": round(float(arpa_month * lifetime), 2)
        if arpa_month is not None and lifetime
        else None,
        "adoption_rate": _pct(adopters, int(alive_in_period.sum())),
        "time_to_value_median_days": float(ttv.median()) if len(ttv) else None,
        "time_to_value_p75_days": float(ttv.quantile(0.75)) if len(ttv) else None,
        "new_escalations": len(escalations),
        "escalation_response_attainment": _pct(int(on_time.sum()), len(with_deadline)),
    }
    counts = {
        "accounts_at_start": base,
        "churned": lost,
        "arr_at_start": round(float(base_arr), 2),
        "churned_arr": round(float(lost_arr), 2),
        "nps_answers": len(nps),
        "csat_answers": len(csat),
        "accounts_active_in_period": int(alive_in_period.sum()),
        "adopting_accounts": adopters,
        "first_value_reached": len(ttv),
        "escalations_with_deadline": len(with_deadline),
        "expected_lifetime_months": round(lifetime, 1) if lifetime else None,
    }
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "segment": {k: v for k, v in segment.__dict__.items() if v},
        "metrics": [
            {"name": name, "value": values[name], "definition": DEFINITIONS[name]}
            for name in DEFINITIONS
        ],
        "counts": counts,
    }
