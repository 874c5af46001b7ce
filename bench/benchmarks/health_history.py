"""Issue 13's performance: the validation report and the learned fit, on a year of history.

Both run on the year dataset (``bench.year``: a database of its own at the run's size, a
year of roll-ups and the health history scoring writes), switched to for the benchmark.

- ``health_validation``: ``health.validation_data.scorecard_validation`` of the default
  scorecard over the year's monthly observation dates. Floor: one bare SQL statement reading
  the snapshot rows the report needs (account, date, score, colour and the measures' points,
  ``measure_points`` as text, of the observation dates; account, date and colour of each
  churner 14, 30 and 60 days before it churned), every row fetched.
- ``health_learn``: the whole learn command (``health.drafts.learn_scorecard``, what
  ``manage.py learn_scorecard --as-of`` runs) as of ``LEARN_DAYS_BACK`` days before the data's
  last day, its draft deleted after each run. Floor: the same fits with scikit-learn alone on
  the feature matrix already in memory and scaled (each C of the grid on each fold, then the
  final fit). It times itself (``Case.custom``): ``min(repeat, 3)`` runs of each, alternating,
  and the peak RSS of one whole command in a fresh process (``bench.rss``).
"""

import contextlib
import statistics
import time
from datetime import UTC, date, timedelta

import numpy as np
from django.db import connection
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from accounts.catalogue import key_feature_names
from accounts.models import Account, DailyAccountUsage
from bench.data import log
from bench.registry import Case, Context, benchmark, group
from bench.services import rss_probe
from bench.year import year_data
from health import learning, learning_data
from health.drafts import learn_scorecard
from health.models import HealthSnapshot, LearnedScorecard, Scorecard
from health.validation import LEAD_DAYS
from health.validation_data import Period, check_period, scorecard_validation

LEARN_DAYS_BACK = 120  # learn as of this many days before the data's end: 6 training dates
LEARN_RUNS = 3  # at most: a run is a minute at 10,000 accounts

group("health_history", ["health_validation", "health_learn"])


def _default_scorecard() -> Scorecard:
    return Scorecard.objects.select_related("current_version").get(is_default=True)


def _lead_pairs(dates: list[date], window: int) -> tuple[list[int], list[date]]:
    """(accounts, days): each account that churned after the first observation date and
    within a window of the last, 14, 30 and 60 days before it churned."""
    first, last = dates[0], dates[-1] + timedelta(days=window)
    ids, days = [], []
    for pk, at in Account.objects.filter(churned_at__isnull=False).values_list("id", "churned_at"):
        churned = at.astimezone(UTC).date()
        if first < churned <= last:
            for lead in LEAD_DAYS:
                ids.append(pk)
                days.append(churned - timedelta(days=lead))
    return ids, days


def validation_floor_sql() -> str:
    table = connection.ops.quote_name(HealthSnapshot._meta.db_table)
    return (
        f"SELECT account_id, date, score, color, measure_points::text FROM {table}"
        " WHERE scorecard_version_id = %s AND date = ANY(%s::date[])"
        " UNION ALL"
        f" SELECT s.account_id, s.date, s.score, s.color, NULL FROM {table} s"
        " JOIN UNNEST(%s::bigint[], %s::date[]) AS lead(account_id, date)"
        " ON s.account_id = lead.account_id AND s.date = lead.date"
        " WHERE s.scorecard_version_id = %s"
    )


@benchmark("health_validation", own_data=True)
def health_validation(ctx: Context) -> Case:
    stack = contextlib.ExitStack()
    data = stack.enter_context(year_data(ctx))
    try:
        scorecard = _default_scorecard()
        today = data.as_of  # the data's last day: outcomes known up to the day before
        period = Period.of(end=today, today=today)
        dates, _ = check_period(period, today)
        version = scorecard.current_version.pk
        lead_ids, lead_days = _lead_pairs(dates, period.window)
    except BaseException:
        stack.close()
        raise
    sql = validation_floor_sql()
    params = [version, dates, lead_ids, lead_days, version]

    def floor():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return len(cursor.fetchall())

    def subject():
        return scorecard_validation(scorecard, period, today=today)

    def extra(result: dict) -> dict:
        report = subject()
        return {
            "observation_dates": len(dates),
            "observations": report["observations"]["observations"],
            "churned_observations": report["observations"]["churned"],
            "snapshot_rows": floor(),
            "auc": report["auc"]["value"],
        }

    return Case(subject=subject, floor=floor, extra=extra, teardown=stack.close, data=data)


# --- health_learn ----------------------------------------------------------------------------


def learn_once(as_of: str, today: str) -> int:
    """The learn command as of a day, its draft deleted after: also bench.rss's entry point."""
    draft = learn_scorecard(
        _default_scorecard(), date.fromisoformat(as_of), today=date.fromisoformat(today)
    )
    draft.version.delete()  # the LearnedScorecard goes with it
    return draft.pk


def fit_matrix(as_of: date, today: date, window: int = 60) -> dict:
    """The fit's inputs as ``health.learning.fit`` builds them: per fold the scaled training
    and test matrices, and the whole scaled matrix (for the final fit)."""
    accounts = learning_data._accounts()
    first = DailyAccountUsage.objects.order_by("date").values_list("date", flat=True).first()
    dates = learning_data.observation_dates(first, as_of - timedelta(days=window))
    features = learning_data.candidates(key_feature_names())
    keys = [f.key for f in features]
    rows = learning_data.feature_rows(dates, features, accounts)
    y = learning_data.label(rows, accounts, window, as_of)
    folds = []
    for train, test in learning.time_folds(rows, window):
        scaling = learning.fit_scaling(rows.loc[train], keys)
        folds.append(
            (
                scaling.transform(rows.loc[train]),
                y[train].to_numpy(),
                scaling.transform(rows.loc[test]),
                y[test].to_numpy(),
            )
        )
    whole = learning.fit_scaling(rows, keys).transform(rows)
    return {"folds": folds, "x": whole, "y": y.to_numpy(), "rows": len(rows), "dates": len(dates)}


def sklearn_fits(matrix: dict) -> float:
    """Cross-validated C grid, then the final fit: scikit-learn alone on the matrices."""
    scores = {}
    for c in learning.C_GRID:
        risk, truth = [], []
        for x_train, y_train, x_test, y_test in matrix["folds"]:
            model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
            risk.append(model.predict_proba(x_test)[:, 1])
            truth.append(y_test)
        scores[c] = roc_auc_score(np.concatenate(truth), np.concatenate(risk))
    best = max(scores, key=scores.get)
    LogisticRegression(C=best, max_iter=2000).fit(matrix["x"], matrix["y"])
    return scores[best]


@benchmark("health_learn", own_data=True)
def health_learn(ctx: Context) -> Case:
    stack = contextlib.ExitStack()
    data = stack.enter_context(year_data(ctx))
    as_of, today = data.as_of - timedelta(days=LEARN_DAYS_BACK), data.as_of
    try:
        log("health_learn: building the feature matrix for the floor")
        matrix = fit_matrix(as_of, today)
    except BaseException:
        stack.close()
        raise

    def custom(repeat: int) -> dict:
        runs = min(repeat, LEARN_RUNS)
        subject_times, floor_times = [], []
        for n in range(runs):
            for fn, times in (
                (lambda: sklearn_fits(matrix), floor_times),
                (lambda: learn_once(as_of.isoformat(), today.isoformat()), subject_times),
            ):
                started = time.perf_counter()
                fn()
                times.append(time.perf_counter() - started)
            took, floor_took = subject_times[-1], floor_times[-1]
            log(f"health_learn: run {n + 1}: {took:.1f}s (floor {floor_took:.1f}s)")
        log("health_learn: peak RSS of the whole command in a fresh process")
        probe = rss_probe(
            "bench.benchmarks.health_history:learn_once", as_of.isoformat(), today.isoformat()
        )
        return {
            "seconds": statistics.median(subject_times),
            "floor_seconds": statistics.median(floor_times),
            "repeat": runs,
            "runs": [round(t, 3) for t in subject_times],
            "floor_runs": [round(t, 3) for t in floor_times],
            "max_rss_mib": probe["max_rss_mib"],
            "baseline_rss_mib": probe["baseline_rss_mib"],
            "probe_seconds": probe["seconds"],
            "as_of": as_of.isoformat(),
            "observation_dates": matrix["dates"],
            "observations": matrix["rows"],
            "features": matrix["x"].shape[1],
        }

    def teardown():
        LearnedScorecard.objects.filter(as_of=as_of).delete()  # of an interrupted run
        stack.close()

    return Case(custom=custom, teardown=teardown, data=data)
