"""Portfolio metrics a CS leader reports, for any period and segment, computed with pandas.

Each metric comes with its definition, shown next to the number. The data is read with one
query per source (accounts with their ARR at the period's start and end from the contract
history, renewal-date changes, surveys, escalations, feature usage, first-value milestones)
and everything else is pandas arithmetic, so 10,000 accounts cost the same few queries as 10.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from django.db.models import DecimalField, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Account, ContractChange, DailyFeatureUsage, SurveyResponse
from health.choices import Color
from health.measures import key_features
from health.models import HealthSnapshot
from journeys.models import AccountMilestone, Escalation

DEFINITIONS = {
    "churn_rate": "Accounts that churned in the period / accounts active at its start.",
    "revenue_churn_rate": "ARR of the accounts churned in the period / ARR active at its start "
    "(ARR at the start, from the contract history).",
    "gross_revenue_retention": "ARR at the start from the accounts active at the start, minus "
    "their contraction and churned ARR by the end, expansion not counted / that ARR at the "
    "start, in %. ARR at a date comes from the contract history.",
    "net_revenue_retention": "ARR at the end from the accounts active at the start (0 for those "
    "that churned in the period), expansion included / their ARR at the start, in %.",
    "renewal_rate": "Renewal dates in the period that have passed whose account renewed (moved "
    "its renewal date forward while active, early or late) / renewal dates in the period that "
    "have passed, in %. An account that churned with a renewal due has not renewed.",
    "on_time_renewal_rate": "The same renewal dates renewed on or before the date / all of them, "
    "in %.",
    "at_risk_renewals": "Active accounts renewing within 90 days of the period's end (or of "
    "today, for a period not over yet) whose health colour on that day is not green.",
    "nps": "% promoters (9-10) - % detractors (0-6) among NPS answers in the period (-100 to 100).",
    "csat": "Share of CSAT answers in the period that are 4 or 5 (satisfied), in %.",
    "customer_lifetime_value": "Average revenue per account per month x expected lifetime in "
    "months, the lifetime being 1 / the monthly churn rate of the period.",
    "adoption_rate": "Accounts active in the period that used a key feature (the event "
    "catalogue's, else its suggestions, else CORE_FEATURES) / accounts active in the period, "
    "in %.",
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


def _arr_subquery(filter_q: Q, *, last: bool, value):
    """Per account, ``value`` of its first (or ``last``) contract change matching filter_q."""
    order = ["-changed_at", "-id"] if last else ["changed_at", "id"]
    changes = (
        ContractChange.objects.filter(filter_q, account=OuterRef("pk"))
        .order_by(*order)
        .annotate(value=value)
        .values("value")[:1]
    )
    return Subquery(changes, output_field=DecimalField(max_digits=14, decimal_places=2))


def _accounts_with_history(segment: Segment, since: datetime, until: datetime) -> pd.DataFrame:
    """The segment's accounts with their ARR at ``since`` and at ``until``: one query.

    ARR at a moment is the ``arr_after`` of the last change before it; with none, the
    ``arr_before`` of the first change after it (for a creation, which has no before, the ARR
    it was created with); with no change at all, the current ARR.
    """
    columns = [
        "id", "arr", "contract_start", "churned_at", "renewal_date",
        "arr_before_start", "arr_after_start", "arr_by_end",
    ]  # fmt: skip
    rows = segment.accounts().annotate(
        arr_before_start=_arr_subquery(Q(changed_at__lt=since), last=True, value=F("arr_after")),
        arr_after_start=_arr_subquery(
            Q(changed_at__gte=since), last=False, value=Coalesce("arr_before", "arr_after")
        ),
        arr_by_end=_arr_subquery(Q(changed_at__lte=until), last=True, value=F("arr_after")),
    )
    accounts = pd.DataFrame(rows.values(*columns), columns=columns)
    for column in ("arr", "arr_before_start", "arr_after_start", "arr_by_end"):
        accounts[column] = pd.to_numeric(accounts[column], errors="coerce").astype(float)
    accounts["arr_start"] = (
        accounts["arr_before_start"].fillna(accounts["arr_after_start"]).fillna(accounts["arr"])
    )
    # No change up to the end means none before the start either: the ARR is unchanged.
    accounts["arr_end"] = accounts["arr_by_end"].fillna(accounts["arr_start"])
    return accounts


def _renewals(segment, accounts, start, end, since, today) -> pd.DataFrame:
    """One row per renewal date in the period that has passed: (account, due, renewed, on_time).

    The renewal dates an account had are its current one and the ``renewal_date_before`` of
    every change that moved it. A move forward while active renews that date (on time when made
    on or before it). A move back or a clearing before the date, while active, corrects a
    mistake: that date was never due. Accounts churned before the period are left out.
    """
    columns = ["account_id", "changed_at", "renewal_date_before", "renewal_date_after"]
    exits = pd.DataFrame(
        ContractChange.objects.filter(
            account__in=segment.accounts().values("id"),
            renewal_date_before__gte=start,
            renewal_date_before__lte=end,
        ).values_list(*columns),
        columns=columns,
    )
    exits = exits[exits["renewal_date_after"] != exits["renewal_date_before"]]
    churned_at = pd.to_datetime(accounts.set_index("id")["churned_at"], utc=True)
    frames = [_renewal_exits(exits, churned_at)] if len(exits) else []
    current = accounts[accounts["renewal_date"].between(start, end)]
    pending = pd.DataFrame(
        {
            "account_id": current["id"],
            "due": current["renewal_date"],
            "counts": True,
            "renewed": False,
            "on_time": False,
        }
    )
    if len(pending):
        frames.append(pending)
    if not frames:
        return pd.DataFrame(columns=["account_id", "due", "renewed", "on_time"])
    dates = (
        pd.concat(frames)
        .groupby(["account_id", "due"], as_index=False)[["counts", "renewed", "on_time"]]
        .any()
    )
    account_churned_at = dates["account_id"].map(churned_at)
    keep = (
        dates["counts"]
        & (dates["due"] < today)
        & (account_churned_at.isna() | (account_churned_at >= since))
    )
    return dates.loc[keep, ["account_id", "due", "renewed", "on_time"]]


def _renewal_exits(exits: pd.DataFrame, churned_at: pd.Series) -> pd.DataFrame:
    """What each move of a renewal date says about the date it moved away from."""
    changed_at = pd.to_datetime(exits["changed_at"], utc=True)
    exit_churned_at = pd.to_datetime(exits["account_id"].map(churned_at), utc=True)
    active_then = exit_churned_at.isna() | (changed_at < exit_churned_at)
    due_date, moved_to = exits["renewal_date_before"], exits["renewal_date_after"]
    forward = moved_to.notna() & (moved_to.where(moved_to.notna(), due_date) > due_date)
    changed_day = changed_at.dt.date
    renewed = forward & active_then
    return pd.DataFrame(
        {
            "account_id": exits["account_id"],
            "due": due_date,
            # A move back or a clearing before the date while active corrects a mistake.
            "counts": forward | ~active_then | (changed_day >= due_date),
            "renewed": renewed,
            "on_time": renewed & (changed_day <= due_date),
        }
    )


AT_RISK_WINDOW_DAYS = 90


def _at_risk_renewals(segment: Segment, day: date, today: date) -> dict:
    """Accounts active on ``day`` renewing within 90 days of it, by their colour that day.

    Today's colour is the current score; a past day's is that day's snapshot. One query.
    """
    day_end = datetime.combine(day, time.max, UTC)
    renewing = (
        segment.accounts()
        .filter(Q(churned_at__isnull=True) | Q(churned_at__gt=day_end))
        .filter(renewal_date__gte=day, renewal_date__lte=day + timedelta(AT_RISK_WINDOW_DAYS))
    )
    if day >= today:
        rows = renewing.values_list("arr", "health__color")
    else:
        color = HealthSnapshot.objects.filter(account=OuterRef("pk"), date=day).values("color")
        rows = renewing.annotate(color_then=Subquery(color[:1])).values_list("arr", "color_then")
    frame = pd.DataFrame(rows, columns=["arr", "color"])
    risky = frame["color"].notna() & (frame["color"] != Color.GREEN)
    return {
        "at_risk": int(risky.sum()),
        "at_risk_arr": round(float(frame.loc[risky, "arr"].astype(float).sum()), 2),
        "renewing": len(frame),
        "not_scored": int(frame["color"].isna().sum()),
    }


def portfolio_metrics(
    start: date, end: date, segment: Segment = Segment(), *, today: date | None = None
) -> dict:
    """Every metric for the period start..end (inclusive) and the segment.

    ``today`` (default: the UTC date now) decides which renewal dates have passed.
    """
    since, until = _bounds(start, end)
    today = today or datetime.now(UTC).date()
    accounts = _accounts_with_history(segment, since, until)
    started = accounts["contract_start"].isna() | (accounts["contract_start"] <= start)
    churned_at = pd.to_datetime(accounts["churned_at"], utc=True)
    alive_at_start = started & (churned_at.isna() | (churned_at >= since))
    churned_in = alive_at_start & churned_at.between(since, until)
    alive_in_period = (accounts["contract_start"].isna() | (accounts["contract_start"] <= end)) & (
        churned_at.isna() | (churned_at >= since)
    )
    ids = accounts["id"].tolist()

    base, lost = int(alive_at_start.sum()), int(churned_in.sum())
    base_arr = accounts.loc[alive_at_start, "arr_start"].sum()
    lost_arr = accounts.loc[churned_in, "arr_start"].sum()
    # Revenue retention: how the start ARR of the accounts active at the start moved.
    kept = alive_at_start & ~churned_in
    delta = accounts.loc[kept, "arr_end"] - accounts.loc[kept, "arr_start"]
    expansion, contraction = delta.clip(lower=0).sum(), -delta.clip(upper=0).sum()
    renewals = _renewals(segment, accounts, start, end, since, today)
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

    # The key features of the event catalogue, as the health measures read them (a product
    # whose events have other names than CORE_FEATURES would otherwise adopt nothing). One
    # EXISTS per account on the roll-up's (account, date, name) index: 9 ms for the bench's
    # 300 accounts against 35 ms for a DISTINCT over the period's rows (psql, same run).
    used = DailyFeatureUsage.objects.filter(
        account=OuterRef("pk"), date__gte=start, date__lte=end, name__in=key_features([])
    )
    alive_ids = accounts.loc[alive_in_period, "id"].tolist()
    adopters = Account.objects.filter(id__any=alive_ids).filter(Exists(used)).count()

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

    at_risk = _at_risk_renewals(segment, min(end, today), today)

    values = {
        "churn_rate": _pct(lost, base),
        "revenue_churn_rate": _pct(lost_arr, base_arr),
        "gross_revenue_retention": _pct(base_arr - contraction - lost_arr, base_arr),
        "net_revenue_retention": _pct(base_arr + expansion - contraction - lost_arr, base_arr),
        "renewal_rate": _pct(int(renewals["renewed"].sum()), len(renewals)),
        "on_time_renewal_rate": _pct(int(renewals["on_time"].sum()), len(renewals)),
        "at_risk_renewals": at_risk["at_risk"],
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
        "arr_expansion": round(float(expansion), 2),
        "arr_contraction": round(float(contraction), 2),
        "renewals_due": len(renewals),
        "renewed": int(renewals["renewed"].sum()),
        "renewed_on_time": int(renewals["on_time"].sum()),
        "renewing_within_90_days": at_risk["renewing"],
        "at_risk_renewal_arr": at_risk["at_risk_arr"],
        "renewing_not_scored": at_risk["not_scored"],
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
