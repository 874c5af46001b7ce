"""Health scoring: the math on hand-computed examples, personas, missing data, hysteresis,
as-of-date scoring, idempotent recompute, query bounds, and the dirty-account drain."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.choices import Persona
from accounts.dirty import mark_dirty
from accounts.models import DirtyAccount
from accounts.usage import rebuild_daily_usage
from health import peers
from health.models import AccountHealth, HealthChange, HealthSnapshot, Scorecard, ScorecardMeasure
from health.scorecards import publish
from health.scoring import band_color, drain_dirty, recompute, score_chunk
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EscalationFactory,
    EventFactory,
    SurveyResponseFactory,
)

AS_OF = date(2026, 11, 20)
BANDS = {"green_min": 70, "yellow_min": 40, "hysteresis": 3}


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def active_on(contact, days: list[date], name: str = "login"):
    for day in days:
        EventFactory(account=contact.account, contact=contact, name=name, occurred_at=at(day))


def rollup():
    rebuild_daily_usage(AS_OF - timedelta(days=200), AS_OF + timedelta(days=30))


def only_scorecard(measures: list[tuple[str, float, dict]], **fields) -> Scorecard:
    """Replace the default scorecard by one with just these measures."""
    Scorecard.objects.update(enabled=False)
    card = Scorecard.objects.create(
        name=fields.pop("name", "Test"), is_default=False, priority=1, **fields
    )
    for position, (kind, weight, params) in enumerate(measures):
        ScorecardMeasure.objects.create(
            scorecard=card, kind=kind, weight=weight, params=params, position=position
        )
    publish(card)
    return card


def weeks_before(as_of: date, count: int) -> list[date]:
    return [as_of - timedelta(days=7 * i + 1) for i in range(count)]


@pytest.fixture
def handmade(db):
    """usage (weight 2), NPS (1), open escalations (1) on two accounts."""
    only_scorecard(
        [
            (
                "usage_frequency",
                2,
                {
                    "benchmarks": {"admin": 4, "champion": 0, "end_user": 0},
                    "zero_at": 0,
                    "full_at": 100,
                },
            ),
            ("nps", 1, {"zero_at": 0, "full_at": 10}),
            ("open_escalations", 1, {}),
        ]
    )
    accounts = []
    for with_nps in (True, False):
        account = AccountFactory()
        admin1 = ContactFactory(account=account, persona=Persona.ADMIN)
        admin2 = ContactFactory(account=account, persona=Persona.ADMIN)
        ContactFactory(account=account, persona=Persona.END_USER)  # quiet, not expected
        active_on(admin1, weeks_before(AS_OF, 4))  # 4 active days: meets the benchmark
        active_on(admin2, weeks_before(AS_OF, 1))  # 1 of 4: a quarter of the credit
        champion = ContactFactory(account=account, persona=Persona.CHAMPION)
        if with_nps:
            SurveyResponseFactory(
                account=account, contact=champion, score=8, responded_at=at(AS_OF, 8)
            )
        EscalationFactory(account=account, severity="high", opened_at=at(AS_OF - timedelta(3)))
        accounts.append(account)
    rollup()
    return accounts


def test_score_matches_the_hand_computed_example(handmade):
    full, _ = handmade
    (result,) = score_chunk([full.pk], AS_OF)
    # usage: admins' credit (4/4 + 1/4) / 2 = 62.5% -> 62.5 points (0..100 maps 1:1)
    # NPS 8 on 0..10 -> 80 points; one open high escalation = weight 4 on 8..0 -> 50 points
    # score = (62.5 x 2 + 80 x 1 + 50 x 1) / 4 = 63.75 -> 63.8, yellow (40 <= 63.8 < 70)
    assert result.score == 63.8
    assert result.color == "yellow"
    components = {c["measure"]: c for c in result.components}
    assert components["usage_frequency"]["raw"] == 62.5
    assert components["usage_frequency"]["weight"] == 50.0
    assert components["usage_frequency"]["contribution"] == 31.2  # 62.5 x 0.5, rounded
    assert components["nps"]["points"] == 80.0
    assert components["open_escalations"]["raw"] == 4.0
    assert components["open_escalations"]["points"] == 50.0
    assert components["usage_frequency"]["detail"] == [
        {"persona": "admin", "meeting": 1, "contacts": 2, "benchmark": 4}
    ]
    assert sum(c["weight"] for c in result.components) == 100.0
    assert result.explanation.startswith("Yellow (64): ")
    assert "1 of 2 admins meet their usage benchmark" in result.explanation
    assert "1 high escalation open" in result.explanation
    assert "NPS" not in result.explanation  # 80 points: not weak enough to mention
    assert components["nps"]["note"] == "NPS 8 from the champion"


def test_missing_data_is_left_out_and_its_weight_shared(handmade):
    _, no_nps = handmade
    (result,) = score_chunk([no_nps.pk], AS_OF)
    # no NPS: (62.5 x 2 + 50 x 1) / 3 = 58.33 -> 58.3
    assert result.score == 58.3
    nps = next(c for c in result.components if c["measure"] == "nps")
    assert nps["missing"] and nps["points"] is None and nps["contribution"] == 0.0
    assert "no NPS answer in 365 days" in nps["note"]
    weights = {c["measure"]: c["weight"] for c in result.components}
    assert weights == {"usage_frequency": 66.7, "nps": 0.0, "open_escalations": 33.3}
    assert "No data for NPS: their weight went to the other measures." in result.explanation


def test_quiet_end_users_stay_green_a_silent_admin_turns_yellow(db, settings):
    """With the default scorecard: end users who only show up for incidents are no risk."""
    settings.CORE_FEATURES = ["report_created"]
    twelve_weeks = [AS_OF - timedelta(days=i) for i in range(84)]  # every day, AS_OF first
    quiet_users = AccountFactory(licenses_purchased=0, renewal_date=None)
    admin = ContactFactory(account=quiet_users, persona=Persona.ADMIN)
    for _ in range(10):
        ContactFactory(account=quiet_users, persona=Persona.END_USER)
    active_on(admin, twelve_weeks, name="report_created")
    silent_admin = AccountFactory(licenses_purchased=0, renewal_date=None)
    ContactFactory(account=silent_admin, persona=Persona.ADMIN)
    busy_users = [ContactFactory(account=silent_admin, persona=Persona.END_USER) for _ in range(10)]
    for user in busy_users:
        active_on(user, twelve_weeks)
    active_on(busy_users[0], twelve_weeks[1:2], name="report_created")
    rollup()

    scores = {r.account_id: r for r in score_chunk([quiet_users.pk, silent_admin.pk], AS_OF)}
    # The admin on all 28 days (benchmark 12), one key feature used, 28 times by the one
    # active user, the same pace as the 8 weeks before: usage, key-feature rate, feature
    # breadth and activity change all at 100; nothing else has data.
    assert scores[quiet_users.pk].color == "green"
    assert scores[quiet_users.pk].score == 100.0
    silent = scores[silent_admin.pk]
    # usage: the admin 0 of 12 days -> 0 points (weight 15). Key-feature rate: 1 event / 10
    # active users = 0.1, against the other Growth account's 28: mid-rank percentile 25,
    # points from the 5th (0) to the 50th (100) percentile: (25 - 5) / 45 = 44.4 (15).
    # Activity 281 events in 28 days vs 560 in the 56 before, +0.4% -> 100 points (15);
    # breadth 1 of 1 -> 100 points (10):
    # (0 x 15 + 44.44 x 15 + 100 x 15 + 100 x 10) / 55 = 57.6
    assert silent.color == "yellow"
    assert silent.score == 57.6
    assert "0 of 1 admins meet their usage benchmark" in silent.explanation


@pytest.mark.parametrize(
    ("score", "previous", "expected"),
    [
        (71, "", "green"),
        (69, "", "yellow"),
        (68, "green", "green"),  # within 3 points under the boundary: holds
        (67, "green", "yellow"),  # 3 points under: changes
        (72, "yellow", "yellow"),  # within 3 points over: holds
        (73, "yellow", "green"),
        (41, "red", "red"),
        (43, "red", "yellow"),
        (38, "yellow", "yellow"),
        (37, "yellow", "red"),
        (10, "green", "red"),  # far past both boundaries
        (95, "red", "green"),
    ],
)
def test_hysteresis(score, previous, expected):
    assert band_color(score, BANDS, previous) == expected


def test_hysteresis_through_recompute(handmade):
    full, _ = handmade
    AccountHealth.objects.create(
        account=full,
        score=66.0,
        color="red",  # a red score of yesterday: 63.8 is far enough above 40 to turn yellow
        explanation="",
        as_of=AS_OF,
        computed_at=at(AS_OF),
    )
    recompute([full.pk], AS_OF)
    assert AccountHealth.objects.get(account=full).color == "yellow"
    change = HealthChange.objects.get(account=full)
    assert (change.from_color, change.to_color, change.from_score) == ("red", "yellow", 66.0)
    assert change.drivers and change.explanation.startswith("Yellow (64)")
    assert not change.backfilled


def test_recomputing_the_same_inputs_changes_nothing(handmade):
    ids = [a.pk for a in handmade]
    first = recompute(ids, AS_OF)
    assert first == {"scored": 2, "changes": 2}  # first scores are announced as changes
    before = list(
        AccountHealth.objects.order_by("pk").values("score", "color", "components", "explanation")
    )
    snapshots = list(HealthSnapshot.objects.values_list("account", "date", "score", "color"))
    assert recompute(ids, AS_OF) == {"scored": 2, "changes": 0}
    after = list(
        AccountHealth.objects.order_by("pk").values("score", "color", "components", "explanation")
    )
    assert after == before
    assert list(HealthSnapshot.objects.values_list("account", "date", "score", "color")) == (
        snapshots
    )
    assert HealthChange.objects.count() == 2


def test_scores_as_of_a_past_date(handmade):
    full, _ = handmade
    # Two weeks earlier the NPS answer and the escalation did not exist yet, and the admins'
    # activity of the last week was still ahead: usage alone scores the account.
    (earlier,) = score_chunk([full.pk], AS_OF - timedelta(days=14), live=False)
    components = {c["measure"]: c for c in earlier.components}
    assert components["nps"]["missing"]
    assert components["open_escalations"]["missing"]  # none open: left out, not a floor
    # admin1 has 2 of the 4 weekly days in the window (credit 0.5), admin2 none: 25%
    assert components["usage_frequency"]["raw"] == 25.0
    # usage alone: 25 x 2 / 2 = 25, red (under 40)
    assert earlier.score == 25.0
    assert earlier.color == "red"


def test_movers_and_trend_against_the_snapshot_a_week_before(handmade):
    full, _ = handmade
    week_ago = AS_OF - timedelta(days=7)
    HealthSnapshot.objects.create(
        account=full,
        date=week_ago,
        score=90.0,
        color="green",
        components=[
            {
                "measure": "usage_frequency",
                "raw": 100.0,
                "points": 100.0,
                "contribution": 50.0,
                "detail": [{"persona": "admin", "meeting": 2, "contacts": 2, "benchmark": 4}],
            },
            {"measure": "open_escalations", "raw": 0.0, "points": 100.0, "contribution": 25.0},
        ],
    )
    (result,) = score_chunk([full.pk], AS_OF)
    assert result.trend_7d == round(63.8 - 90.0, 1)
    assert result.trend_30d is None
    movers = {m["measure"]: m for m in result.movers}
    assert movers["usage_frequency"]["delta"] == round(31.2 - 50.0, 1)
    assert movers["usage_frequency"]["text"] == "active admins fell from 2 to 1"
    assert result.explanation == (
        "Yellow (64, down 26 in 7 days): active admins fell from 2 to 1; "
        "1 high escalation open (none 7 days ago)."
    )


def test_recompute_issues_the_same_queries_for_5_and_50_accounts(db):
    def build(count):
        accounts = AccountFactory.create_batch(count)
        for account in accounts:
            admin = ContactFactory(account=account, persona=Persona.ADMIN, is_key_contact=True)
            active_on(admin, weeks_before(AS_OF, 2))
            SurveyResponseFactory(account=account, contact=admin, responded_at=at(AS_OF, 8))
        rollup()
        return [a.pk for a in accounts]

    small, large = build(5), build(50)
    counts = []
    for ids in (small, large):
        peers._cache.clear()  # each call counts the day's peer population itself
        with CaptureQueriesContext(connection) as queries:
            recompute(ids, AS_OF)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    # One aggregate per measure, a few reads, and the writes (on PostgreSQL each upsert is a
    # savepoint, a temporary table, a COPY and one INSERT ... SELECT); the key-feature rate's
    # peer population (the day's active accounts and their rates) adds four.
    assert counts[1] <= 39


def test_drain_takes_the_marks_and_rescores_only_those(handmade):
    full, no_nps = handmade
    DirtyAccount.objects.all().delete()
    mark_dirty([full.pk])
    result = drain_dirty()
    assert result == {"drained": 1, "scored": 1, "changes": 1}
    assert not DirtyAccount.objects.exists()
    assert AccountHealth.objects.filter(account=full).exists()
    assert not AccountHealth.objects.filter(account=no_nps).exists()
    assert drain_dirty() == {"drained": 0, "scored": 0, "changes": 0}


def test_a_failed_drain_keeps_the_marks(handmade, monkeypatch):
    full, _ = handmade
    DirtyAccount.objects.all().delete()
    mark_dirty([full.pk])

    def boom(*args, **kwargs):
        raise RuntimeError("scoring failed")

    monkeypatch.setattr("health.scoring.score_chunk", boom)
    with pytest.raises(RuntimeError):
        drain_dirty()
    assert DirtyAccount.objects.filter(account=full).exists()


def test_the_colour_change_is_announced_after_commit(handmade, django_capture_on_commit_callbacks):
    from health.signals import health_changed

    received = []

    def listener(sender, change_ids, **kwargs):
        received.extend(change_ids)

    health_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            recompute([handmade[0].pk], AS_OF)
    finally:
        health_changed.disconnect(listener)
    assert received == list(HealthChange.objects.values_list("id", flat=True))


def test_scorecards_match_by_segment_and_priority(handmade, settings):
    full, no_nps = handmade
    no_nps.plan = "Enterprise"
    no_nps.save()
    enterprise = only_scorecard(
        [("open_escalations", 1, {})], name="Enterprise", plans=["enterprise"]
    )
    Scorecard.objects.filter(is_default=True).update(enabled=True)
    results = {r.account_id: r for r in score_chunk([full.pk, no_nps.pk], AS_OF)}
    assert results[no_nps.pk].version.scorecard == enterprise
    assert results[full.pk].version.scorecard.is_default


def test_an_unchanged_score_is_not_rewritten_but_its_computed_at_moves(handmade):
    ids = [a.pk for a in handmade]
    recompute(ids, AS_OF)
    before = dict(AccountHealth.objects.values_list("account_id", "computed_at"))
    with CaptureQueriesContext(connection) as queries:
        recompute(ids, AS_OF)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "INSERT" not in sql.upper()
    after = dict(AccountHealth.objects.values_list("account_id", "computed_at"))
    assert all(after[a] > before[a] for a in ids)
    # New data: that account alone is written again.
    EscalationFactory(account=handmade[0], severity="critical", opened_at=at(AS_OF, 9))
    with CaptureQueriesContext(connection) as queries:
        recompute(ids, AS_OF)
    assert AccountHealth.objects.get(account=handmade[0]).score < 63.8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_full_recompute_on_postgresql_scores_chunks_side_by_side(settings):
    """Outside a transaction, chunks run two at a time on their own connections; every
    account is scored exactly as the sequential path scores it."""
    settings.HEALTH_CHUNK_SIZE = 10
    settings.HEALTH_RECOMPUTE_THREADS = 2
    # Its own scorecard: a transactional test may run after another one emptied the tables.
    only_scorecard([("usage_frequency", 1, {"benchmarks": {"admin": 4, "champion": 0}})])
    accounts = AccountFactory.create_batch(35)
    for i, account in enumerate(accounts):
        admin = ContactFactory(account=account, persona=Persona.ADMIN)
        active_on(admin, weeks_before(AS_OF, i % 5))
    rollup()
    ids = [a.pk for a in accounts]
    assert recompute(ids, AS_OF)["scored"] == 35
    threaded = dict(AccountHealth.objects.values_list("account_id", "score"))
    AccountHealth.objects.all().delete()
    settings.HEALTH_RECOMPUTE_THREADS = 1
    recompute(ids, AS_OF)
    assert dict(AccountHealth.objects.values_list("account_id", "score")) == threaded
    assert HealthSnapshot.objects.filter(date=AS_OF).count() == 35
