"""A scorecard learned from churn outcomes, using only what was known on a day.

The method is the churn-analysis baseline: observation dates (the first of each month) on
which every active account's behavioural measures are computed as of that date, each labelled
with whether the account churned within the window after it; a regularised logistic
regression (scikit-learn) on those measures; cross-validation whose folds keep each account
on one side and test on later dates than they train on.

Only observations whose window had ended by ``as_of`` enter the fit, labelled with churn up to
then, and every measure is computed as of its own date: an outcome after ``as_of`` cannot
change the fit.

The model becomes an ordinary scorecard: each measure's raw value is mapped to 0-1 between its
5th and 95th percentile on the training rows (the same clipped line the scorer's points draw
between ``zero_at`` and ``full_at``), the regression is fitted on those, and each coefficient
becomes the measure's weight (its size) and direction (which end earns the points). The
scorecard's score is then a decreasing linear function of the model's log-odds, so it ranks
accounts exactly as the model does, and components, contributions and explanations work as
for any scorecard. Colour bands are set by alert budget: red for the riskiest ``red_share``
of the training observations, yellow for the next ``yellow_share``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db.models import Min
from sklearn.linear_model import LogisticRegression

from accounts.models import DailyAccountUsage
from health.learning_data import (
    Candidate,
    _accounts,
    bounded,
    candidates,
    feature_rows,
    label,
    observation_dates,
)
from health.measures import REGISTRY
from health.validation import auc as auc_of

MIN_CHURNED = 20  # churned observations a fit needs
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
FOLDS = 4
LOW_Q, HIGH_Q = 0.05, 0.95
# A feature must differ between accounts more than it moves with the date: tenure when every
# account started together is the calendar in disguise (all of them older every month).
MIN_WITHIN_DAY = 0.5
# Nor may its typical value move with the calendar by more than half its spread between
# accounts over the training dates: tenure of a portfolio that started within a year or two
# (every account older each month) would score every account riskier as the months pass.
MAX_DRIFT = 0.5
EARN_AUC = 0.02  # what a measure with no expected direction must add to be fitted
# The default alert budget: shares of the accounts that stay flagged red and yellow, i.e. the
# false alarms accepted (17%) for the churners caught.
RED_SHARE, YELLOW_SHARE = 0.05, 0.12


class LearningError(ValueError):
    """A fit that cannot be made; ``field`` names the input to change."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class Scaling:
    """Each kept feature's clip range on the training rows, and its mean after scaling."""

    low: dict
    high: dict
    mean: dict
    dropped: dict  # feature -> why it was left out

    def transform(self, rows: pd.DataFrame) -> np.ndarray:
        cols = []
        for key in self.low:
            scaled = ((rows[key] - self.low[key]) / (self.high[key] - self.low[key])).clip(0, 1)
            cols.append(scaled.fillna(self.mean[key]).to_numpy())
        return np.column_stack(cols) if cols else np.empty((len(rows), 0))


def _within_day_share(values: pd.Series, dates: pd.Series) -> float:
    """The share of the variance of ``values`` between accounts on the same date."""
    total = values.var()
    if not total or total != total:
        return 0.0
    return float((values - values.groupby(dates).transform("mean")).var() / total)


def _drift(values: pd.Series, dates: pd.Series) -> tuple[float, tuple]:
    """How far the median moved from the first training date to the last, in standard
    deviations between accounts on the same day; and (first date, median, last date, median)."""
    medians = values.groupby(dates).median().sort_index()
    if len(medians) < 2:
        return 0.0, (None, None, None, None)
    spread = (values - values.groupby(dates).transform("mean")).std()
    moved = abs(medians.iloc[-1] - medians.iloc[0])
    drift = float(moved / spread) if spread and spread == spread else 0.0
    return drift, (medians.index[0], medians.iloc[0], medians.index[-1], medians.iloc[-1])


def _calendar_reason(values: pd.Series, dates: pd.Series) -> str | None:
    """Why a feature reads the calendar rather than the account, or None."""
    within = _within_day_share(values, dates)
    if within < MIN_WITHIN_DAY:
        return (
            f"it moves with the calendar more than it differs between accounts ({within:.0%} "
            "of its variation is between accounts on the same day): a score on it would read "
            "the date, and drift after it"
        )
    drift, (first, before, last, after) = _drift(values, dates)
    if drift > MAX_DRIFT:
        return (
            f"it moves with the calendar: its median went from {before:g} on {first:%Y-%m-%d} "
            f"to {after:g} on {last:%Y-%m-%d}, {drift:.1f} times its spread between accounts, "
            "so a score on it would drift after the fit"
        )
    return None


def without_calendar(rows: pd.DataFrame, features: list[Candidate]) -> tuple[list[str], dict]:
    """The features' keys without those that read the calendar (``_calendar_reason``), and
    why each of those is left out. Percentiles of the day cannot drift and are not tested."""
    keys, dropped = [], {}
    for item in features:
        values = rows[item.key].dropna()
        reason = None if item.ranked or values.empty else _calendar_reason(values, rows["date"])
        if reason:
            dropped[item.key] = reason
        else:
            keys.append(item.key)
    return keys, dropped


def fit_scaling(rows: pd.DataFrame, keys: list[str]) -> Scaling:
    low, high, mean, dropped = {}, {}, {}, {}
    for key in keys:
        values = rows[key].dropna()
        if values.empty:
            dropped[key] = "no data on any training observation"
            continue
        lo, hi = values.quantile(LOW_Q), values.quantile(HIGH_Q)
        if hi <= lo:
            lo, hi = values.min(), values.max()
        if hi <= lo:
            dropped[key] = f"the same value ({lo:g}) on every training observation"
            continue
        low[key], high[key] = float(lo), float(hi)
        mean[key] = float(((values - lo) / (hi - lo)).clip(0, 1).mean())
    return Scaling(low, high, mean, dropped)


def _model(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000)


def time_folds(rows: pd.DataFrame, window: int):
    """(train, test) index pairs: each fold tests a quarter of the accounts on the later
    dates (the last third, at least one), and trains on the other accounts' observations of
    earlier dates. No account is on both sides, and no fold trains on a date it tests."""
    dates = sorted(rows["date"].unique())
    test_dates = set(dates[len(dates) - max(1, len(dates) // 3) :])
    first_test = min(test_dates)
    group = rows["account_id"] % FOLDS
    earlier = rows["date"] < first_test
    for k in range(FOLDS):
        test = rows.index[(group == k) & rows["date"].isin(test_dates)]
        train = rows.index[(group != k) & earlier]
        yield train, test


def cross_validate(
    rows: pd.DataFrame, y: pd.Series, keys: list[str], window: int, grid=C_GRID
) -> dict:
    """Out-of-fold AUC per regularisation strength, and the out-of-fold risks of the best."""
    results = {}
    for c in grid:
        risk = pd.Series(np.nan, index=rows.index)
        for train, test in time_folds(rows, window):
            if len(test) == 0 or y[train].nunique() < 2:
                continue
            scaling = fit_scaling(rows.loc[train], keys)
            model = _model(c).fit(scaling.transform(rows.loc[train]), y[train])
            risk[test] = model.predict_proba(scaling.transform(rows.loc[test]))[:, 1]
        tested = risk.notna()
        results[c] = (auc_of(-risk[tested], y[tested]) if tested.any() else None, risk)
    scored = {c: r for c, r in results.items() if r[0] is not None}
    if not scored:
        raise LearningError(
            "as_of",
            "Too few churned observations on the earlier dates to cross-validate in time: "
            "choose a later --as-of or a longer history.",
        )
    best = max(scored, key=lambda c: scored[c][0])
    return {
        "auc_by_c": {str(c): (None if a is None else round(a, 4)) for c, (a, _) in results.items()},
        "c": best,
        "auc": scored[best][0],
        "risk": scored[best][1],
    }


def _earned(rows: pd.DataFrame, y: pd.Series, keys: list[str], window: int):
    """The keys without the measures that may point either way (tenure, price per seat, days
    to renewal) and do not earn their place: with no expected direction to hold them, a fit
    on a few dozen churns finds a slope in noise. Each joins only if it raises the
    cross-validated AUC of the measures kept so far by EARN_AUC; returns (keys, left out,
    kept), the last two {key: why}."""
    # Those the scaling leaves out anyway (no data, constant, the calendar) say so there.
    either = [k for k in fit_scaling(rows, keys).low if REGISTRY[k].higher_is_better is None]
    kept = [k for k in keys if k not in either]
    if not either or not kept:
        return keys, {}, {}
    try:
        base = cross_validate(rows, y, kept, window)
    except LearningError:
        return keys, {}, {}
    grid, before, left_out, earned = (base["c"],), base["auc"], {}, {}
    for key in either:
        after = cross_validate(rows, y, [*kept, key], window, grid)["auc"]
        if after >= before + EARN_AUC:
            kept.append(key)
            earned[key] = (
                f"it may point either way and raised the cross-validated AUC by at least "
                f"{EARN_AUC} ({before:.3f} without it, {after:.3f} with it)"
            )
            before = after
        else:
            left_out[key] = (
                f"it may point either way and did not raise the cross-validated AUC by "
                f"{EARN_AUC} ({before:.3f} without it, {after:.3f} with it): left out as noise"
            )
    return [k for k in keys if k in kept], left_out, earned


def _direction_words(kind: str, lowers_risk: bool, params: dict | None = None) -> str:
    measure = REGISTRY[kind]
    params = measure.defaults() | (params or {})
    words = measure.quantity_words(params)
    than = " than the day's other accounts" if params.get("benchmark") == "peers" else ""
    return f"more {words}{than} {'lowers' if lowers_risk else 'raises'} risk"


def against_expectation(kind: str, beta: float) -> bool:
    """A coefficient pointing against what the measure means (more use raising risk): with
    correlated measures a regression gives one of them the sign that corrects the others,
    which reads as nonsense on a scorecard. Measures that may point either way never are."""
    expected = REGISTRY[kind].higher_is_better
    return expected is not None and beta != 0 and (beta < 0) != expected


def _within_bounds(kind: str, lo: float, hi: float) -> tuple[float, float]:
    """The learned range inside what the measure's zero_at/full_at may be set to."""
    spec = next(p for p in REGISTRY[kind].params if p.name == "zero_at")
    low = -np.inf if spec.minimum is None else spec.minimum
    high = np.inf if spec.maximum is None else spec.maximum
    return round(float(np.clip(lo, low, high)), 4), round(float(np.clip(hi, low, high)), 4)


def to_measures(model, scaling: Scaling, features: list[Candidate]) -> list[dict]:
    """The fitted coefficients as scorecard measures: weight = the coefficient's size, and
    the points run towards the end of the range that lowers risk."""
    by_key = {f.key: f for f in features}
    coefs = dict(zip(scaling.low, model.coef_[0], strict=True))
    total = sum(abs(b) for b in coefs.values())
    measures = []
    for key, beta in sorted(coefs.items(), key=lambda kv: -abs(kv[1])):
        if total == 0 or abs(beta) / total < 0.01:
            continue  # under 1% of the score: left out rather than shown as noise
        item = by_key[key]
        lo, hi = _within_bounds(item.kind, scaling.low[key], scaling.high[key])
        if lo >= hi:
            continue  # the whole learned range lies beyond what the measure can express
        lowers = beta < 0  # more of it, less churn
        params = REGISTRY[item.kind].defaults() | item.params
        params.update(zero_at=lo if lowers else hi, full_at=hi if lowers else lo)
        measures.append(
            {
                "kind": item.kind,
                "weight": round(abs(beta) / total * 100, 2),
                "params": params,
                "coefficient": round(float(beta), 4),
                "says": _direction_words(item.kind, lowers, item.params),
            }
        )
    return measures


def score_rows(rows: pd.DataFrame, measures: list[dict], keys: dict) -> pd.Series:
    """The learned scorecard's 0-100 score of feature rows, as the scorer computes it:
    linear points, missing measures left out and their weight shared."""
    points, weights = [], []
    for item in measures:
        raw = rows[keys[item["kind"]]]
        lo, hi = item["params"]["zero_at"], item["params"]["full_at"]
        points.append(((raw - lo) / (hi - lo)).clip(0, 1) * 100)
        weights.append(raw.notna() * item["weight"])
    points, weights = pd.concat(points, axis=1), pd.concat(weights, axis=1)
    total = weights.sum(axis=1).replace(0, np.nan)
    return (points.fillna(0) * weights.to_numpy()).sum(axis=1) / total


def bands_by_budget(
    scores: pd.Series, red_share: float, yellow_share: float, churned: pd.Series | None = None
) -> dict:
    """Green/yellow/red cut-offs that flag the riskiest shares of the training scores, of
    the accounts that never churned when ``churned`` (ever, by the fit's date) is given: the
    budget is then the false alarms a team accepts (whatever the churn rate), and every
    churner scored below the cut-offs is flagged on top of it."""
    if churned is not None:
        scores = scores[~churned.reindex(scores.index, fill_value=False)]
    yellow_min = int(np.clip(np.floor(scores.quantile(red_share)) + 1, 1, 98))
    green_min = int(np.clip(np.floor(scores.quantile(red_share + yellow_share)) + 1, 2, 100))
    green_min = max(green_min, yellow_min + 2)
    width = green_min - yellow_min
    hysteresis = min(2.0, max(0.0, (width - 1) / 2 - 0.5))
    return {"green_min": green_min, "yellow_min": yellow_min, "hysteresis": round(hysteresis, 1)}


def check_inputs(as_of: date, today: date, window: int, red_share: float, yellow_share: float):
    if as_of > today:
        raise LearningError("as_of", f"{as_of} is in the future (today is {today}).")
    if not 1 <= window <= 365:
        raise LearningError("window", "Must be from 1 to 365 days.")
    if not (0 < red_share < 1 and 0 < yellow_share < 1 and red_share + yellow_share < 1):
        raise LearningError(
            "red_share", "red_share and yellow_share must be between 0 and 1, together under 1."
        )


def _fit_expected_directions(
    rows: pd.DataFrame, y: pd.Series, keys: list[str], c: float, params: dict | None = None
):
    """The model on ``keys``, refitted without the measure most against its expected
    direction (``against_expectation``) until none is; the ones left out say why."""
    # A candidate's key is its measure's kind (one measure of a kind per scorecard).
    keys, against = list(keys), {}
    while keys:
        scaling = fit_scaling(rows, keys)
        model = _model(c).fit(scaling.transform(rows), y)
        betas = dict(zip(scaling.low, model.coef_[0], strict=True))
        wrong = {k: b for k, b in betas.items() if against_expectation(k, b)}
        if not wrong:
            scaling.dropped.update(against)
            return model, scaling
        worst = max(wrong, key=lambda k: abs(wrong[k]))
        words = _direction_words(worst, wrong[worst] < 0, (params or {}).get(worst))
        against[worst] = (
            f"on the training data {words} once the other measures are counted, against "
            "what it measures: it stood in for them, so it is left out"
        )
        keys.remove(worst)
    raise LearningError("as_of", "No measure carried any signal on the training data.")


def _without_key_features(key_features) -> dict:
    """Why the key-feature measures are not candidates when there are no key features."""
    if key_features:
        return {}
    why = (
        "no key features: none is chosen in the event catalogue and it suggests none, so "
        "there is nothing to count (activity change counts every event instead)"
    )
    return {"event_rate": why, "feature_breadth": why}


def fit(
    as_of: date,
    *,
    window: int = 60,
    key_features: list[str] | None = None,
    red_share: float = RED_SHARE,
    yellow_share: float = YELLOW_SHARE,
    history_days: int = 730,
    today: date | None = None,
) -> dict:
    """Fit on observation dates up to ``as_of - window``; the learned measures and bands,
    the cross-validation and the training frame (for the report)."""
    today = today or date.today()
    check_inputs(as_of, today, window, red_share, yellow_share)
    accounts = _accounts()
    # Observation dates start where usage data does: before it every behaviour reads zero.
    first = DailyAccountUsage.objects.aggregate(first=Min("date"))["first"]
    start = max(as_of - timedelta(days=history_days), first or as_of)
    dates = observation_dates(start, as_of - timedelta(days=window))
    if len(dates) < 3:
        raise LearningError(
            "as_of",
            f"Needs at least three observation dates whose {window}-day window ended by "
            f"{as_of}; the data starts {start}.",
        )
    features = candidates(key_features or [])
    rows = bounded(feature_rows(dates, features, accounts), window)
    y = label(rows, accounts, window, as_of)
    churned = int(y.sum())
    if churned < MIN_CHURNED:
        raise LearningError(
            "as_of",
            f"Too few churned accounts to learn from: {churned} churned observations before "
            f"{as_of}; a fit needs at least {MIN_CHURNED}.",
        )
    keys, calendar = without_calendar(rows, features)
    keys, unearned, earned = _earned(rows, y, keys, window)
    cv = cross_validate(rows, y, keys, window)
    params = {f.key: f.params for f in features}
    model, scaling = _fit_expected_directions(rows, y, keys, cv["c"], params)
    scaling.dropped.update(calendar | unearned | _without_key_features(key_features))
    measures = [
        m | ({"kept_because": earned[m["kind"]]} if m["kind"] in earned else {})
        for m in to_measures(model, scaling, features)
    ]
    if not measures:
        raise LearningError("as_of", "No measure carried any signal on the training data.")
    scores = score_rows(rows, measures, {f.kind: f.key for f in features})
    # The alert budget counts false alarms as the validation report does: among accounts
    # that never churned (by as_of). Rows of later churners, months before they left, are
    # not the stayers a team wants left alone.
    churn_day = rows["account_id"].map(accounts["churn_day"])
    ever = pd.Series(
        [c is not None and c == c and c <= as_of for c in churn_day], index=rows.index, dtype=bool
    )
    return {
        "as_of": as_of,
        "window": window,
        "dates": dates,
        "rows": rows.assign(churned=y, ever_churned=ever, score=scores),
        "measures": measures,
        "bands": bands_by_budget(scores.dropna(), red_share, yellow_share, churned=ever),
        "dropped": scaling.dropped,
        "cv": cv,
        "churned": churned,
        "features": features,
        "shares": (red_share, yellow_share),
    }
