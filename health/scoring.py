"""Scoring accounts: measures in, score, colour, components and a plain explanation out.

``score_chunk`` is pure computation over one chunk of accounts as of a day (one aggregate
query per measure, pandas for the arithmetic); ``recompute`` writes its results in bulk:
the current score, the day's snapshot, and a ``HealthChange`` for every colour change.
Recomputing the same inputs again yields the same rows and no new change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.models import Account, DirtyAccount
from cs_platform.sql import JSONText, copy_upsert, take_queued
from health.choices import Color
from health.measures import REGISTRY, Context, linear_points
from health.models import AccountHealth, HealthChange, HealthSnapshot, ScorecardVersion
from health.peers import peer_values
from health.scorecards import active_versions, match
from health.signals import health_changed

COLOR_LABELS = dict(Color.choices)
MOVER_MIN_POINTS = 1.0  # a measure must move the score by at least this much to be a mover
WEAK_POINTS = 70  # a measure under this many points is worth mentioning


@dataclass
class AccountScore:
    account_id: int
    score: float
    color: str
    components: list[dict]
    movers: list[dict]
    explanation: str
    trend_7d: float | None
    trend_30d: float | None
    version: ScorecardVersion
    previous_color: str = ""
    previous_score: float | None = None
    previous_digest: str = ""  # of the stored current score, when it is of the same day
    digest: str = ""
    drivers: list[dict] = field(default_factory=list)

    @property
    def color_changed(self) -> bool:
        return self.color != self.previous_color


def band_color(score: float, bands: dict, previous: str = "") -> str:
    """The colour for a score; near a boundary the previous colour holds (hysteresis).

    A score must pass the boundary between the previous colour and the new one by more than
    ``hysteresis`` points before the colour changes, so a score wobbling around 70 does not
    flap between green and yellow (and spam playbooks).
    """
    green, yellow, margin = bands["green_min"], bands["yellow_min"], bands["hysteresis"]
    color = Color.GREEN if score >= green else Color.YELLOW if score >= yellow else Color.RED
    if previous and previous != color:
        pair = {previous, color}
        boundary = (
            green
            if pair == {Color.GREEN, Color.YELLOW}
            else yellow
            if pair == {Color.YELLOW, Color.RED}
            else None
        )
        if boundary is not None and abs(score - boundary) < margin:
            return previous
    return str(color)


def _accounts_frame(account_ids: list[int], as_of: date, live: bool) -> pd.DataFrame:
    day_end = datetime.combine(as_of, time.max, UTC)
    queryset = Account.objects.filter(id__any=account_ids)
    if live:
        queryset = queryset.filter(status=AccountStatus.ACTIVE)
    else:
        # As of a past day: the accounts that were customers then.
        queryset = queryset.filter(Q(churned_at__isnull=True) | Q(churned_at__gt=day_end)).filter(
            Q(contract_start__isnull=True) | Q(contract_start__lte=as_of)
        )
    columns = ["id", "plan", "touch_model", "industry", "arr", "employee_count", "journey__stage"]
    frame = pd.DataFrame(queryset.values_list(*columns), columns=columns)
    return frame.rename(columns={"journey__stage": "stage"}).set_index("id")


def _snapshots(account_ids, days: list[date], with_components: date) -> dict:
    """{(account, day): {"score", "color", "components"}} of the snapshots of ``days``; the
    components (JSON to decode, the bulk of a row) only of the day ``with_components``."""
    components = Case(
        When(date=with_components, then=F("components")),
        default=Value(None),
        output_field=HealthSnapshot._meta.get_field("components"),
    )
    rows = (
        HealthSnapshot.objects.filter(account_id__any=account_ids, date__in=days)
        .annotate(wanted=components)
        .values_list("account_id", "date", "score", "color", "wanted")
    )
    return {(a, d): {"score": s, "color": c, "components": comp or []} for a, d, s, c, comp in rows}


def score_chunk(
    account_ids: Iterable[int],
    as_of: date,
    *,
    versions: list[ScorecardVersion] | None = None,
    live: bool = True,
) -> list[AccountScore]:
    """Score accounts as of the end of ``as_of``: one query per distinct measure, plus a few."""
    ids = list(account_ids)
    versions = active_versions() if versions is None else versions
    accounts = _accounts_frame(ids, as_of, live)
    if accounts.empty or not versions:
        return []
    assigned = match(accounts, versions)
    assigned = assigned.dropna()
    ids = assigned.index.tolist()
    ctx = Context(ids, as_of)

    # The same measure with the same parameters is computed once for all scorecards.
    computed: dict[str, pd.DataFrame] = {}
    for version in {v.pk: v for v in assigned}.values():
        for item in version.definition["measures"]:
            key = json.dumps([item["kind"], item["params"]], sort_keys=True)
            if key not in computed:
                computed[key] = REGISTRY[item["kind"]].compute(ctx, item["params"])

    week_ago, month_ago, yesterday = (as_of - timedelta(days=n) for n in (7, 30, 1))
    # Movers compare with the components of a week ago; the other days give score and colour.
    history = _snapshots(ids, [week_ago, month_ago, yesterday], with_components=week_ago)
    digests = {}
    if live:
        previous = {}
        for a, c, s, day, digest in AccountHealth.objects.filter(account_id__any=ids).values_list(
            "account_id", "color", "score", "as_of", "digest"
        ):
            previous[a] = (c, s)
            if day == as_of:
                digests[a] = digest
    else:
        previous = {}
    for (account_id, day), snap in history.items():
        if day == yesterday:
            previous.setdefault(account_id, (snap["color"], snap["score"]))

    results = []
    for _, group in assigned.groupby(assigned.map(lambda v: v.pk)):
        version = group.iloc[0]
        results.extend(
            _score_group(
                version, group.index.tolist(), computed, history, previous, as_of, digests, live
            )
        )
    return results


def _score_group(
    version, ids, computed, history, previous, as_of, digests, live=True
) -> list[AccountScore]:
    definition = version.definition
    measures = definition["measures"]
    raw = pd.DataFrame(index=ids)
    points = pd.DataFrame(index=ids)
    frames = {}
    for item in measures:
        frame = computed[json.dumps([item["kind"], item["params"]], sort_keys=True)].reindex(ids)
        frames[item["kind"]] = frame
        raw[item["kind"]] = frame["raw"].astype(float)
        # A peer benchmark's zero_at and full_at are percentiles among the day's peers.
        scale = peer_values(item["kind"], item["params"], raw[item["kind"]], as_of, live)
        points[item["kind"]] = linear_points(
            scale, item["params"]["zero_at"], item["params"]["full_at"]
        )
    weights = pd.Series({m["kind"]: m["weight"] for m in measures}, dtype=float)
    present = raw.notna()
    # Missing data is left out and its weight shared among the measures that have data.
    weight_share = present.mul(weights, axis=1)
    total = weight_share.sum(axis=1)
    weight_share = weight_share.div(total.replace(0, np.nan), axis=0)
    contributions = points.fillna(0) * weight_share
    scores = contributions.sum(axis=1).round(1)

    # Plain dicts for the per-account loop: a pandas cell lookup costs microseconds each,
    # and 10,000 accounts x 11 measures x 6 lookups add up to seconds.
    raw_d, points_d = raw.round(2).to_dict("index"), points.round(1).to_dict("index")
    share_d = (weight_share * 100).round(1).to_dict("index")
    contrib_d = contributions.round(1).to_dict("index")
    notes = {kind: frame["note"].to_dict() for kind, frame in frames.items()}
    details = {kind: frame["detail"].to_dict() for kind, frame in frames.items()}
    totals, score_d = total.to_dict(), scores.to_dict()
    static = [
        (
            item["kind"],
            {
                "measure": item["kind"],
                "label": REGISTRY[item["kind"]].label,
                "unit": REGISTRY[item["kind"]].unit,
                "benchmark": REGISTRY[item["kind"]].benchmark(item["params"]),
                "configured_weight": item["weight"],
            },
        )
        for item in measures
    ]

    results = []
    week_ago, month_ago = as_of - timedelta(days=7), as_of - timedelta(days=30)
    for account_id in ids:
        if totals[account_id] == 0:
            continue  # nothing to score on: no colour rather than a made-up one
        score = float(score_d[account_id])
        raw_row, points_row = raw_d[account_id], points_d[account_id]
        share_row, contrib_row = share_d[account_id], contrib_d[account_id]
        components = []
        for kind, fixed in static:
            value = raw_row[kind]
            has = value == value  # not NaN
            note = notes[kind][account_id]
            detail = details[kind][account_id]
            component = {
                **fixed,
                "raw": float(value) if has else None,
                "points": float(points_row[kind]) if has else None,
                "weight": float(share_row[kind]) if has else 0.0,
                "contribution": float(contrib_row[kind]) if has else 0.0,
                "note": note if has else f"no data: {note} (weight shared by the others)",
                "missing": not has,
            }
            if isinstance(detail, list):
                component["detail"] = detail
            components.append(component)
        prev_color, prev_score = previous.get(account_id, ("", None))
        color = band_color(score, definition["bands"], prev_color)
        old = history.get((account_id, week_ago))
        movers = _movers(old["components"] if old else [], components)
        trend = {
            key: (round(score - snap["score"], 1) if snap else None)
            for key, snap in (("7d", old), ("30d", history.get((account_id, month_ago))))
        }
        explanation, drivers = _explain(color, score, components, movers, trend["7d"])
        results.append(
            AccountScore(
                account_id=account_id,
                score=score,
                color=color,
                components=components,
                movers=movers,
                explanation=explanation,
                trend_7d=trend["7d"],
                trend_30d=trend["30d"],
                version=version,
                previous_color=prev_color,
                previous_score=prev_score,
                previous_digest=digests.get(account_id, ""),
                drivers=drivers,
            )
        )
    return results


def _movers(old_components: list[dict], components: list[dict]) -> list[dict]:
    """Measures whose contribution to the score moved the most since the older snapshot."""
    before = {c["measure"]: c for c in old_components}
    movers = []
    for now in components:
        then = before.get(now["measure"])
        if not then or now["missing"] or then.get("raw") is None:
            continue
        delta = (now["contribution"] or 0) - (then.get("contribution") or 0)
        if abs(delta) < MOVER_MIN_POINTS:
            continue
        text = REGISTRY[now["measure"]].describe_change(then, now)
        movers.append(
            {
                "measure": now["measure"],
                "from_raw": then.get("raw"),
                "to_raw": now["raw"],
                "from_points": then.get("points"),
                "to_points": now["points"],
                "delta": round(delta, 1),
                "text": text,
            }
        )
    movers.sort(key=lambda m: -abs(m["delta"]))
    return movers[:3]


def _explain(color, score, components, movers, trend_7d) -> tuple[str, list[dict]]:
    """One plain sentence: the colour, what moved it, what is weak, and what had no data."""
    falling = trend_7d is None or trend_7d <= 0
    ordered = sorted(movers, key=lambda m: m["delta"] if falling else -m["delta"])
    drivers = [{"measure": m["measure"], "text": m["text"]} for m in ordered[:2]]
    mentioned = {d["measure"] for d in drivers}
    weak = sorted(
        (c for c in components if not c["missing"] and c["points"] < WEAK_POINTS),
        key=lambda c: -(c["weight"] * (100 - c["points"])),
    )
    for component in weak:
        if len(drivers) >= 3:
            break
        if component["measure"] not in mentioned:
            text = REGISTRY[component["measure"]].describe(component)
            drivers.append({"measure": component["measure"], "text": text})
    clauses = [d["text"] for d in drivers] or ["every measure is on target"]
    moved = ""
    if trend_7d is not None and abs(trend_7d) >= 1:
        moved = f", {'down' if trend_7d < 0 else 'up'} {abs(trend_7d):.0f} in 7 days"
    sentence = f"{COLOR_LABELS[color]} ({score:.0f}{moved}): {'; '.join(clauses)}."
    missing = [c["label"] for c in components if c["missing"]]
    if missing:
        sentence += f" No data for {', '.join(missing)}: their weight went to the other measures."
    return sentence, drivers


# --- Writing ---------------------------------------------------------------------------


def _chunks(ids: list[int], size: int):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _compact(components: list[dict]) -> list[dict]:
    """What a snapshot keeps of each component: enough for trends, movers and charts."""
    keep = ("measure", "raw", "points", "contribution", "detail")
    return [{k: c[k] for k in keep if k in c} for c in components if not c["missing"]]


def _points_array(components: list[dict], version: ScorecardVersion) -> str:
    """The snapshot's ``measure_points`` as a PostgreSQL array literal, for COPY."""
    kinds = [m["kind"] for m in version.definition["measures"]]
    points = HealthSnapshot.points_in_order(components, kinds)
    return "{" + ",".join("NULL" if p is None else repr(p) for p in points) + "}"


def _digest(r: AccountScore, components: str) -> str:
    """What identifies a score: the same inputs give the same digest (``components``: the
    components as JSON, serialised once for this and for writing them)."""
    payload = [r.score, r.color, r.movers, r.explanation, r.trend_7d, r.trend_30d, r.version.pk]
    text = f"{components}\n{json.dumps(payload)}"
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def write_scores(results: list[AccountScore], as_of: date, *, live: bool) -> list[int]:
    """Bulk-write the scores; returns the ids of the HealthChange rows created."""
    if not results:
        return []
    now = timezone.now()
    written = results
    if live:
        # A score identical to the one already stored for the day is not written again (no
        # churn for an idempotent recompute); only its computed_at moves.
        components = {}
        for r in results:
            components[r.account_id] = JSONText(json.dumps(r.components))
            r.digest = _digest(r, components[r.account_id])
        written = [r for r in results if r.digest != r.previous_digest]
        same = [r.account_id for r in results if r.digest == r.previous_digest]
        if same:
            AccountHealth.objects.filter(account_id__any=same).update(computed_at=now)
    copy_upsert(
        HealthSnapshot,
        ["account_id", "date", "score", "color", "components", "measure_points", "explanation",
         "scorecard_version_id"],
        [
            (r.account_id, as_of, r.score, r.color, _compact(r.components),
             _points_array(r.components, r.version), r.explanation, r.version.pk)
            for r in written
        ],
        conflict=["account_id", "date"],
    )  # fmt: skip
    if live:
        copy_upsert(
            AccountHealth,
            ["account_id", "score", "color", "components", "movers", "explanation", "trend_7d",
             "trend_30d", "as_of", "computed_at", "scorecard_version_id", "digest"],
            [
                (r.account_id, r.score, r.color, components[r.account_id], r.movers, r.explanation,
                 r.trend_7d, r.trend_30d, as_of, now, r.version.pk, r.digest)
                for r in written
            ],
            conflict=["account_id"],
        )  # fmt: skip
    changed_at = now if live else datetime.combine(as_of, time.max, UTC)
    changes = HealthChange.objects.bulk_create(
        [
            HealthChange(
                account_id=r.account_id,
                changed_at=changed_at,
                from_color=r.previous_color,
                to_color=r.color,
                from_score=r.previous_score,
                to_score=r.score,
                drivers=r.drivers,
                explanation=r.explanation,
                scorecard_version=r.version,
                backfilled=not live,
            )
            for r in results
            if r.color_changed
        ],
        batch_size=1000,
    )
    ids = [c.pk for c in changes]  # bulk_create sets the new ids
    if live and ids:
        transaction.on_commit(lambda: health_changed.send(sender=HealthChange, change_ids=ids))
    return ids


def _recompute_chunk(chunk: list[int], as_of: date, versions) -> tuple[int, int]:
    with transaction.atomic():
        results = score_chunk(chunk, as_of, versions=versions, live=True)
        changes = write_scores(results, as_of, live=True)
    return len(results), len(changes)


def _in_thread(chunk, as_of, versions) -> tuple[int, int]:
    try:
        return _recompute_chunk(chunk, as_of, versions)
    finally:
        connections.close_all()  # the thread's own connection


def recompute(account_ids: Iterable[int], as_of: date | None = None) -> dict:
    """Score the accounts now and write the results; one transaction per chunk.

    Outside any transaction, chunks run HEALTH_RECOMPUTE_THREADS at a time,
    each on its own connection: one chunk's queries run in the database while another chunk
    is scored in Python. Chunks are independent, so their order does not matter.
    """
    as_of = as_of or timezone.now().date()
    ids = sorted(set(account_ids))
    versions = active_versions()
    chunks = list(_chunks(ids, settings.HEALTH_CHUNK_SIZE))
    threads = settings.HEALTH_RECOMPUTE_THREADS
    if len(chunks) > 1 and threads > 1 and _may_use_threads():
        with ThreadPoolExecutor(max_workers=threads) as pool:
            counts = list(pool.map(lambda c: _in_thread(c, as_of, versions), chunks))
    else:
        counts = [_recompute_chunk(chunk, as_of, versions) for chunk in chunks]
    return {"scored": sum(n for n, _ in counts), "changes": sum(c for _, c in counts)}


def _may_use_threads() -> bool:
    # Other connections cannot see the caller's uncommitted rows.
    return not connection.in_atomic_block


def recompute_all(as_of: date | None = None) -> dict:
    ids = list(
        Account.objects.filter(status=AccountStatus.ACTIVE)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return recompute(ids, as_of)


def drain_dirty(limit: int | None = None) -> dict:
    """Take up to ``limit`` accounts off the dirty list and rescore them, in one transaction.

    The marks are deleted and the scores written in the same transaction: if scoring fails
    the marks come back with the rollback, and a mark made meanwhile (new data) survives for
    the next round. Concurrent workers skip each other's rows.
    """
    limit = limit or settings.HEALTH_CHUNK_SIZE
    with transaction.atomic():
        ids = take_queued(DirtyAccount, "account_id", "marked_at", limit)
        if not ids:
            return {"drained": 0, "scored": 0, "changes": 0}
        as_of = timezone.now().date()
        results = score_chunk(ids, as_of, live=True)
        changes = write_scores(results, as_of, live=True)
    return {"drained": len(ids), "scored": len(results), "changes": len(changes)}


def backfill(days: int, *, end: date | None = None, progress=None) -> dict:
    """Rebuild snapshots and colour changes for the ``days`` days before ``end`` (today).

    Each day is scored as of its end, oldest first, so hysteresis, trends and movers see the
    days before it. Rebuilt changes are marked backfilled and never reach playbooks; the
    changes previously stored for those days are replaced. Today is then scored live.
    """
    end = end or timezone.now().date()
    start = end - timedelta(days=days)
    versions = active_versions()
    ids = list(Account.objects.order_by("id").values_list("id", flat=True))
    HealthChange.objects.filter(
        changed_at__gte=datetime.combine(start, time.min, UTC),
        changed_at__lt=datetime.combine(end, time.min, UTC),
    ).delete()
    snapshots = changes = 0
    for offset in range(days):
        day = start + timedelta(days=offset)
        for chunk in _chunks(ids, settings.HEALTH_CHUNK_SIZE):
            with transaction.atomic():
                results = score_chunk(chunk, day, versions=versions, live=False)
                changes += len(write_scores(results, day, live=False))
            snapshots += len(results)
        if progress:
            progress(day, offset + 1, days)
    today = recompute(ids, end)
    return {"days": days, "snapshots": snapshots, "changes": changes, "today": today}
