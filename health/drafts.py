"""Learned scorecards as drafts: fit as of a day, compare out of sample, publish on confirm.

``learn_scorecard`` fits (``health.learning``) and stores the result as a draft version of
the scorecard next to a report that compares it, out of sample, with the current version on
the same dates:

- on the training dates, the draft's cross-validated (out-of-fold) scores against the
  current version's stored history of the same accounts and dates;
- after ``as_of`` (when outcomes are known there), the draft scored as of each observation
  date with the data of that date against the current version's stored history.

Nothing is published by a fit: ``publish_learned`` makes the draft the scorecard's current
version only when an admin confirms.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.db import transaction
from django.utils import timezone

from accounts.catalogue import measured_feature_names
from health import learning, learning_data
from health.measures import REGISTRY
from health.models import LearnedScorecard, Scorecard, ScorecardMeasure, ScorecardVersion
from health.scorecards import build_definition, publish, validate_bands, validate_measures
from health.scoring import band_color
from health.validation import LEAD_DAYS, Minimums, validation_report
from health.validation_data import ValidationInputError, observation_frames

COMPARE_RESAMPLES = 200


def _colors(scores: pd.Series, bands: dict) -> pd.Series:
    return scores.map(lambda s: band_color(s, bands) if s == s else None)


def _history_report(version, dates, window, minimums) -> dict | None:
    """The version's validation on ``dates`` from its stored history, or None without it."""
    if version is None or not dates:
        return None
    observations, leads = observation_frames(version, dates, window)
    if observations.empty or not observations["churned"].any():
        return None
    return validation_report(
        observations, leads, measures={}, minimums=minimums, resamples=COMPARE_RESAMPLES
    )


def _summary(report: dict | None, label: str) -> dict:
    if report is None:
        return {"label": label, "available": False}
    recall = {r["days_before"]: r["recall"] for r in report["recall"]}
    return {
        "label": label,
        "available": True,
        "observations": report["observations"]["observations"],
        "churned": report["observations"]["churned"],
        "auc": report["auc"]["value"],
        "auc_low": report["auc"]["low"],
        "auc_high": report["auc"]["high"],
        "recall_30": recall.get(30),
        "false_alarms": report["false_alarms"]["rate"],
        "judged": report["judged"],
    }


def _training_comparison(fit: dict, current, minimums) -> dict:
    """Out-of-fold AUC of the draft next to the current version's history, same rows."""
    rows = fit["rows"].assign(risk=fit["cv"]["risk"]).dropna(subset=["risk"])
    tested = rows.assign(score=100 * (1 - rows["risk"]))
    # Colours by the same alert budget as the draft's bands: shares of the tested rows of
    # accounts that never churned (by the fit's date).
    red_share, yellow_share = fit["shares"]
    stayed = tested.loc[~tested["ever_churned"].astype(bool), "score"]
    red, yellow = (stayed.quantile(q) for q in (red_share, red_share + yellow_share))
    tested["color"] = np.where(
        tested["score"] < red, "red", np.where(tested["score"] < yellow, "yellow", "green")
    )
    draft = None
    if tested["churned"].any():
        leads = pd.DataFrame(columns=["account_id", "days_before", "color"])
        draft = validation_report(
            tested, leads, measures={}, minimums=minimums, resamples=COMPARE_RESAMPLES
        )
    dates = sorted(tested["date"].unique())
    history = _history_report(current, dates, fit["window"], minimums)
    return {
        "what": "Cross-validated: each account scored by a model fitted without it, on later "
        "dates than the model saw, against the current version's stored scores on the same "
        "dates.",
        "dates": [d.isoformat() for d in dates],
        "draft": _summary(draft, "learned (out of fold)"),
        "current": _summary(history, "current version"),
    }


def _forward_frames(fit, definition, dates, window, today):
    """The draft scored as of each date from ``as_of`` on (observations and churners' lead
    days, each lead day taken at the Monday on or before it), with outcomes up to today."""
    accounts = learning_data._accounts()
    features = fit["features"]
    keys = {f.kind: f.key for f in features}
    rows = learning_data.feature_rows(dates, features, accounts)
    rows["score"] = learning.score_rows(rows, definition["measures"], keys)
    # No data on any learned measure: the scorer gives no score, so the report counts none.
    rows = rows[rows["score"].notna()].copy()
    rows["color"] = _colors(rows["score"], definition["bands"])
    rows["churned"] = learning_data.label(rows, accounts, window, today - timedelta(days=1))
    rows["ever_churned"] = rows["account_id"].map(accounts["churn_day"]).notna().to_numpy()
    first, last = dates[0], dates[-1] + timedelta(days=window)
    churn = accounts["churn_day"].dropna()
    churn = churn[(churn > first) & (churn <= last)]
    lead_rows = [
        (a, days, c - timedelta(days=days)) for a, c in churn.items() for days in LEAD_DAYS
    ]
    leads = pd.DataFrame(lead_rows, columns=["account_id", "days_before", "day"])
    leads["monday"] = leads["day"].map(lambda d: d - timedelta(days=d.weekday()))
    mondays = sorted(leads["monday"].unique())
    scored = learning_data.feature_rows(mondays, features, accounts)
    scored["score"] = learning.score_rows(scored, definition["measures"], keys)
    scored["color"] = _colors(scored["score"], definition["bands"])
    leads = leads.merge(
        scored[["account_id", "date", "color"]],
        left_on=["account_id", "monday"],
        right_on=["account_id", "date"],
        how="left",
    )
    return rows, leads[["account_id", "days_before", "color"]]


def _forward_comparison(fit, definition, current, window, today, minimums) -> dict:
    # From as_of itself, as validate_health --start as_of counts: its outcomes lie after the
    # fit's date, which saw none of them.
    # Dates whose window ends by the last usage data: after it every account looks silent.
    last = min(today, learning_data.data_end() or today)
    dates = learning_data.observation_dates(fit["as_of"], last - timedelta(days=window + 1))
    base = {
        "what": f"Out of sample in time: observation dates from {fit['as_of']} on (outcomes "
        "after it, which the fit never saw), the draft scored with the data of each date, "
        "the current version from its stored history.",
        "dates": [d.isoformat() for d in dates],
    }
    if not dates:
        return {**base, "note": f"No observation date after {fit['as_of']} has its outcomes yet."}
    rows, leads = _forward_frames(fit, definition, dates, window, today)
    draft = None
    if rows["churned"].any():
        measures = {m["kind"]: m["kind"] for m in definition["measures"]}
        draft = validation_report(
            rows, leads, measures=measures, minimums=minimums, resamples=COMPARE_RESAMPLES
        )
    history = _history_report(current, dates, window, minimums)
    return {
        **base,
        "draft": _summary(draft, "learned"),
        "current": _summary(history, "current version"),
    }


def draft_definition(scorecard: Scorecard, fit: dict) -> dict:
    """The scorecard's definition with the learned measures and bands, validated."""
    measures = validate_measures(
        [{"kind": m["kind"], "weight": m["weight"], "params": m["params"]} for m in fit["measures"]]
    )
    bands = fit["bands"]
    validate_bands(bands["green_min"], bands["yellow_min"], bands["hysteresis"])
    return {**build_definition(scorecard), "bands": bands, "measures": measures}


def learn_scorecard(
    scorecard: Scorecard,
    as_of: date,
    *,
    window: int = 60,
    red_share: float = learning.RED_SHARE,
    yellow_share: float = learning.YELLOW_SHARE,
    by=None,
    today: date | None = None,
    minimums: Minimums = Minimums(),  # noqa: B008 - frozen
) -> LearnedScorecard:
    """Fit as of ``as_of`` and store a draft; ``learning.LearningError`` names what is wrong."""
    today = today or timezone.now().date()
    fit = learning.fit(
        as_of,
        window=window,
        key_features=measured_feature_names(),
        red_share=red_share,
        yellow_share=yellow_share,
        today=today,
    )
    definition = draft_definition(scorecard, fit)
    current = scorecard.current_version
    report = {
        "as_of": as_of.isoformat(),
        "window_days": window,
        "alert_budget": {"red": red_share, "yellow": yellow_share},
        "observation_dates": [d.isoformat() for d in fit["dates"]],
        "observations": len(fit["rows"]),
        "churned_observations": fit["churned"],
        "cross_validation": {"auc_by_c": fit["cv"]["auc_by_c"], "c": fit["cv"]["c"]},
        "measures": [
            {k: m[k] for k in ("kind", "weight", "coefficient", "says")}
            | {"label": REGISTRY[m["kind"]].label}
            | {"zero_at": m["params"]["zero_at"], "full_at": m["params"]["full_at"]}
            | {"kept_because": m.get("kept_because")}
            for m in fit["measures"]
        ],
        "left_out": fit["dropped"],
        "bands": definition["bands"],
        "compare_training": _training_comparison(fit, current, minimums),
        "compare_after": _forward_comparison(fit, definition, current, window, today, minimums),
    }
    with transaction.atomic():
        number = (
            ScorecardVersion.objects.filter(scorecard=scorecard)
            .order_by("-number")
            .values_list("number", flat=True)
            .first()
        ) or 0
        version = ScorecardVersion.objects.create(
            scorecard=scorecard, number=number + 1, definition=definition, created_by=by
        )
        return LearnedScorecard.objects.create(
            scorecard=scorecard,
            version=version,
            as_of=as_of,
            window_days=window,
            report=report,
            created_by=by,
        )


@transaction.atomic
def publish_learned(draft: LearnedScorecard, by=None) -> ScorecardVersion:
    """Make the draft the scorecard's current version: its measures and bands become the
    scorecard's own, so the next edit starts from them."""
    draft = LearnedScorecard.objects.select_for_update().get(pk=draft.pk)
    if draft.status != LearnedScorecard.Status.DRAFT:
        raise ValidationInputError("status", f"This learned scorecard is {draft.status}.")
    card, definition = draft.scorecard, draft.version.definition
    bands = definition["bands"]
    card.green_min, card.yellow_min = bands["green_min"], bands["yellow_min"]
    card.hysteresis = bands["hysteresis"]
    card.save(update_fields=["green_min", "yellow_min", "hysteresis", "updated_at"])
    ScorecardMeasure.objects.filter(scorecard=card).delete()
    ScorecardMeasure.objects.bulk_create(
        ScorecardMeasure(
            scorecard=card, kind=m["kind"], weight=m["weight"], params=m["params"], position=i
        )
        for i, m in enumerate(definition["measures"])
    )
    Scorecard.objects.filter(pk=card.pk).update(current_version=draft.version)
    card.current_version = draft.version
    version = publish(card, by=by)  # the same definition: no new version
    draft.status, draft.published_at, draft.published_by = "published", timezone.now(), by
    draft.save(update_fields=["status", "published_at", "published_by"])
    return version
