"""The event catalogue: every event name the product sends, how many accounts and users send
it, first and last seen, weekly volume, and which names an admin made key features (what
health measures of feature use count: ``key_feature_names``).

Where the numbers come from, and why not straight from the events. Measured on PostgreSQL 15
(2 cores, shared with other work) with 10 M events of 30 names from 10,000 accounts and
70,000 contacts over 120 days:

- one aggregate over ``Event`` (accounts, users, first/last seen per name) takes 16-20 s;
- the same from the daily roll-ups is no cheaper: ``DailyFeatureUsage`` held 8.1 M rows
  (an account-day-name row per few events), its accounts per name took 8-16 s and 12 weeks
  of volume 4-7 s; and no roll-up knows which contact sent which name, so users per event
  cannot come from one at all;
- even a table of who used which name (``EventUse``, 2.6 M rows) takes 2-15 s to count.

So nothing here counts on read. ``refresh_event_catalogue`` (a Celery task every few
minutes) reads only the events stored since it last ran (by id, through the primary key) and
folds them, in one statement per chunk, into ``EventUse`` (who sent each name, first and last
seen), ``EventWeek`` (events per name per ISO week) and the counters of ``EventDefinition``
(a first ``EventUse`` row of a name adds one account or user: ``cs_platform.sql.inserted``
in RETURNING, as in accounts/usage.py). Pages and the API read ``EventDefinition`` (one row
per name) and a few ``EventWeek`` rows: a few milliseconds whatever the volume of events.

Exactly once: an event is folded when its id is at most the highest id of an event received
``SETTLE`` ago or earlier. Ingestion stamps ``received_at`` before its transaction and commits
within seconds, so by then every lower id is committed (or rolled back) and visible; a write
that keeps a transaction open longer (a bulk backfill) is followed by
``rebuild_event_catalogue``, as the roll-ups are by their rebuild. The rebuild (nightly, and
after a backfill or deleting accounts) recounts everything from the events.

Measured at the size above: a refresh finding nothing new takes 0.9-2.5 s (the suggestions),
one finding 20,000 new events 5-12 s; the rebuild 3.8-4.7 min.

Suggestions: for each name, the share of retained (active) accounts that used it in the last
``WINDOW_DAYS`` days against the share of churned accounts that used it in the
``WINDOW_DAYS`` days before they churned (see ``EventDefinition.comparison``), computed by the
refresh from ``EventUse`` (0.9-1.4 s at the size above) and stored with the samples' sizes.
"""

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.choices import AccountStatus
from accounts.event_mix import REFERENCE, compare_event_mix, quoted_table
from accounts.models import (
    Account,
    Event,
    EventCatalogueState,
    EventDefinition,
    EventUse,
    EventWeek,
)
from cs_platform.sql import inserted, local_work_mem, truncate

SETTLE = timedelta(minutes=2)
CHUNK = 500_000  # event ids per fold statement: bounds the statement's memory and time
WINDOW_DAYS = EventDefinition.WINDOW_DAYS
WEEKS = 12
MAX_WEEKS = 104
DESCRIPTION_MAX = 2000


def key_feature_names() -> list[str]:
    """The event names an admin chose as key features, sorted (what health measures count)."""
    return list(
        EventDefinition.objects.filter(key_feature=True)
        .order_by("name")
        .values_list("name", flat=True)
    )


def suggested_feature_names() -> list[str]:
    """The names the retained-vs-churned comparison suggests (``EventDefinition.suggested``),
    sorted."""
    return _features(chosen=False)


def measured_feature_names() -> list[str]:
    """What health measures of key features count: the names an admin chose, else (until
    there is a choice) the suggested ones; sorted, in one query."""
    return _features(chosen=True)


def _features(chosen: bool) -> list[str]:
    wanted = Q(retained_accounts__gt=0, churned_accounts__gt=0)
    rows = EventDefinition.objects.filter(wanted | Q(key_feature=True) if chosen else wanted)
    fields = ("name", "key_feature", "retained_accounts", "retained_using", "churned_accounts")
    rows = list(rows.only(*fields, "churned_using", "mix_auc", "mix_p").order_by("name"))
    picked = [d.name for d in rows if d.key_feature] if chosen else []
    return picked or [d.name for d in rows if d.suggested]


def seen_event_names(names) -> set[str]:
    """Those of ``names`` the catalogue has counted events of (as of its last refresh): a
    measure of the others has no data to score, which is not a score of zero."""
    return set(
        EventDefinition.objects.filter(name__in=list(names), event_count__gt=0).values_list(
            "name", flat=True
        )
    )


def describe_event(name: str, *, key_feature=None, description=None, by=None) -> EventDefinition:
    """Set whether ``name`` is a key feature and/or its description, as ``by`` (a user).

    Only names the catalogue has seen: EventDefinition.DoesNotExist for any other. Writes the
    admin's columns only, so a refresh running at the same time loses nothing.
    """
    with transaction.atomic():
        definition = EventDefinition.objects.select_for_update().get(name=name)
        changed = []
        if key_feature is not None and key_feature != definition.key_feature:
            definition.key_feature = bool(key_feature)
            changed.append("key_feature")
        if description is not None and description != definition.description:
            definition.description = description
            changed.append("description")
        if changed:
            definition.changed_by, definition.changed_at = by, timezone.now()
            definition.save(update_fields=[*changed, "changed_by", "changed_at"])
    return definition


# --- weekly volume ---------------------------------------------------------------------------


def week_start(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def weekly_volume(names, weeks: int = WEEKS, today: date | None = None) -> dict[str, list]:
    """{name: [(Monday, events), ...]} for the last ``weeks`` ISO weeks, oldest first, the
    current (unfinished) week last and weeks without events as 0. One query."""
    last = week_start(today or timezone.now().date())
    mondays = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    counts = dict.fromkeys(names, None)
    rows = EventWeek.objects.filter(name__in=list(counts), week__gte=mondays[0], week__lte=last)
    found = {(n, w): c for n, w, c in rows.values_list("name", "week", "event_count")}
    return {name: [(m, found.get((name, m), 0)) for m in mondays] for name in counts}


# --- refresh ---------------------------------------------------------------------------------


def refresh_event_catalogue(now=None) -> dict:
    """Fold the events stored since the last refresh into the catalogue, then recompute the
    suggestions. Returns {"events": folded, "through": last event id counted}. The first
    refresh of a database is a rebuild.

    Runs one at a time: while another refresh or rebuild holds the catalogue it returns at
    once with {"events": 0, "skipped": True}.
    """
    now = now or timezone.now()
    _ensure_state()
    folded = 0
    # Any bound will do (each chunk reads the cursor under the lock); found once, because
    # on a first run over millions of events each search reads what is left.
    horizon = _horizon(_cursor(), now - SETTLE)
    while True:
        with transaction.atomic():
            state = _lock_state()
            if state is None:
                return {"events": folded, "skipped": True}
            if state.rebuilt_at is None:
                return _rebuild(state, now)
            after = state.events_through
            if horizon is None or after >= horizon:
                break
            upto = min(horizon, after + CHUNK)
            folded += _fold(after, upto, now)
            state.events_through, state.refreshed_at = upto, now
            state.save(update_fields=["events_through", "refreshed_at"])
    with transaction.atomic():
        state = _lock_state()
        if state is None:
            return {"events": folded, "skipped": True}
        _compare_retained_and_churned(now)
        state.refreshed_at = now
        state.save(update_fields=["refreshed_at"])
        return {"events": folded, "through": state.events_through}


def rebuild_event_catalogue(now=None) -> dict:
    """Recount the whole catalogue from the events: nightly, after a backfill, after deleting
    accounts or contacts. One transaction, after any refresh or rebuild running now: readers
    see the old numbers until the new ones are complete. Key-feature choices and
    descriptions stay.
    """
    now = now or timezone.now()
    _ensure_state()
    with transaction.atomic():
        return _rebuild(_lock_state(wait=True), now)


def _rebuild(state: EventCatalogueState, now) -> dict:
    """The rebuild, in the caller's transaction that holds ``state`` locked.

    Not the fold over every chunk, which rewrites most rows of EventUse once per chunk
    (9.5 min for the 10 M events above), but two aggregates over the events in memory
    (3.8-4.7 min there, on a machine other work kept busy).
    """
    horizon = _horizon(0, now - SETTLE) or 0
    # Only the catalogue reads EventUse, and it waits for this lock anyway; a DELETE would
    # leave millions of dead rows behind every night.
    truncate(EventUse)
    EventWeek.objects.all().delete()
    EventDefinition.objects.update(
        event_count=0, account_count=0, user_count=0, first_seen_at=None, last_seen_at=None
    )
    events = _recount(horizon, now)
    _compare_retained_and_churned(now)
    state.events_through = horizon
    state.refreshed_at = state.rebuilt_at = now
    state.save()
    return {"events": events, "through": horizon}


def unsettled(now=None) -> tuple[int, datetime | None]:
    """Events stored after the catalogue's cursor but received within SETTLE of ``now``
    (the next refresh counts them): how many, and when the last of them settles."""
    now = now or timezone.now()
    _ensure_state()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), max(received_at) FROM {quoted_table(Event)}"
            " WHERE id > %s AND received_at > %s",
            [_cursor(), now - SETTLE],
        )
        count, last = cursor.fetchone()
    return count, (last + SETTLE if last else None)


def catalogue_state() -> EventCatalogueState | None:
    return EventCatalogueState.objects.filter(pk=1).first()


def _ensure_state() -> None:
    EventCatalogueState.objects.bulk_create([EventCatalogueState(pk=1)], ignore_conflicts=True)


def _cursor() -> int:
    return EventCatalogueState.objects.filter(pk=1).values_list("events_through", flat=True)[0]


def _lock_state(wait: bool = False) -> EventCatalogueState | None:
    rows = EventCatalogueState.objects.filter(pk=1).select_for_update(skip_locked=not wait)
    return rows.first()


def _horizon(after: int, settled_before) -> int | None:
    """The highest event id above ``after`` received at or before ``settled_before``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max(id) FROM {quoted_table(Event)} WHERE id > %s AND received_at <= %s",
            [after, settled_before],
        )
        return cursor.fetchone()[0]


def _fold(after: int, upto: int, now) -> int:
    """Add the events with ``after < id <= upto`` to EventUse, EventWeek and the counters of
    EventDefinition (creating definitions for new names), in one statement. Returns how
    many events it read."""
    event, use, week, definition = map(quoted_table, (Event, EventUse, EventWeek, EventDefinition))
    day_lo, day_hi = (f"{f}(occurred_at AT TIME ZONE 'UTC')::date" for f in ("min", "max"))
    sql = f"""
        WITH batch AS MATERIALIZED (
            SELECT name, account_id, contact_id, occurred_at FROM {event}
            WHERE id > %(after)s AND id <= %(upto)s
        ), uses AS (
            SELECT name, account_id, contact_id, {day_lo}, {day_hi}
            FROM batch WHERE contact_id IS NOT NULL GROUP BY 1, 2, 3
            UNION ALL
            SELECT name, account_id, NULL, {day_lo}, {day_hi} FROM batch GROUP BY 1, 2
        ), u AS (
            INSERT INTO {use} AS t (name, account_id, contact_id, first_seen, last_seen)
            SELECT * FROM uses ORDER BY 1, 2, 3
            ON CONFLICT (name, account_id, contact_id) DO UPDATE SET
                first_seen = LEAST(t.first_seen, EXCLUDED.first_seen),
                last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)
            WHERE EXCLUDED.first_seen < t.first_seen OR EXCLUDED.last_seen > t.last_seen
            RETURNING t.name, t.contact_id, {inserted("t")} AS new
        ), w AS (
            INSERT INTO {week} AS t (name, week, event_count)
            SELECT name, date_trunc('week', occurred_at AT TIME ZONE 'UTC')::date, count(*)
            FROM batch GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (name, week) DO UPDATE
                SET event_count = t.event_count + EXCLUDED.event_count
        ), added AS (
            SELECT name, count(*) FILTER (WHERE new AND contact_id IS NULL) AS accounts,
                count(*) FILTER (WHERE new AND contact_id IS NOT NULL) AS users
            FROM u GROUP BY 1
        ), per_name AS (
            SELECT name, count(*) AS n, min(occurred_at) AS lo, max(occurred_at) AS hi
            FROM batch GROUP BY 1
        ), d AS (
            INSERT INTO {definition} AS t (name, event_count, account_count, user_count,
                first_seen_at, last_seen_at, created_at)
            SELECT p.name, p.n, COALESCE(a.accounts, 0), COALESCE(a.users, 0), p.lo, p.hi,
                %(now)s
            FROM per_name p LEFT JOIN added a USING (name) ORDER BY p.name
            ON CONFLICT (name) DO UPDATE SET
                event_count = t.event_count + EXCLUDED.event_count,
                account_count = t.account_count + EXCLUDED.account_count,
                user_count = t.user_count + EXCLUDED.user_count,
                first_seen_at = LEAST(t.first_seen_at, EXCLUDED.first_seen_at),
                last_seen_at = GREATEST(t.last_seen_at, EXCLUDED.last_seen_at)
        )
        SELECT count(*) FROM batch
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"after": after, "upto": upto, "now": now})
        return cursor.fetchone()[0]


def _recount(upto: int, now) -> int:
    """EventUse, EventWeek and the counters of EventDefinition from the events with
    ``id <= upto``, into emptied tables. Returns how many events it read."""
    event, use, week, definition = map(quoted_table, (Event, EventUse, EventWeek, EventDefinition))

    def day(column: str) -> str:
        return f"({column} AT TIME ZONE 'UTC')::date"

    # Hash aggregates in memory instead of sorts spilled to disk (2.3 M groups for 10 M
    # events: 16 s instead of 70 s); for these statements only.
    with local_work_mem(256), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH per_contact AS MATERIALIZED (
                SELECT name, account_id, contact_id, min(occurred_at) AS lo,
                    max(occurred_at) AS hi, count(*) AS n
                FROM {event} WHERE id <= %(upto)s GROUP BY 1, 2, 3
            ), per_account AS MATERIALIZED (
                SELECT name, account_id, min(lo) AS lo, max(hi) AS hi FROM per_contact
                GROUP BY 1, 2
            ), u AS (
                INSERT INTO {use} (name, account_id, contact_id, first_seen, last_seen)
                SELECT name, account_id, contact_id, {day("lo")}, {day("hi")}
                FROM per_contact WHERE contact_id IS NOT NULL
                UNION ALL
                SELECT name, account_id, NULL, {day("lo")}, {day("hi")} FROM per_account
                ORDER BY 1, 2, 3
            ), per_name AS (
                SELECT name, sum(n) AS n, count(contact_id) AS users, min(lo) AS lo,
                    max(hi) AS hi
                FROM per_contact GROUP BY 1
            ), d AS (
                INSERT INTO {definition} AS t (name, event_count, account_count, user_count,
                    first_seen_at, last_seen_at, created_at)
                SELECT p.name, p.n, a.accounts, p.users, p.lo, p.hi, %(now)s
                FROM per_name p
                JOIN (SELECT name, count(*) AS accounts FROM per_account GROUP BY 1) a
                    USING (name)
                ORDER BY p.name
                ON CONFLICT (name) DO UPDATE SET
                    event_count = EXCLUDED.event_count,
                    account_count = EXCLUDED.account_count,
                    user_count = EXCLUDED.user_count,
                    first_seen_at = EXCLUDED.first_seen_at,
                    last_seen_at = EXCLUDED.last_seen_at
            )
            SELECT COALESCE(sum(n), 0) FROM per_name
            """,
            {"upto": upto, "now": now},
        )
        events = cursor.fetchone()[0]
        cursor.execute(
            f"""
            INSERT INTO {week} (name, week, event_count)
            SELECT name, date_trunc('week', occurred_at AT TIME ZONE 'UTC')::date, count(*)
            FROM {event} WHERE id <= %(upto)s GROUP BY 1, 2
            """,
            {"upto": upto},
        )
        return int(events)


def _compare_retained_and_churned(now) -> None:
    """Store, for every name, how many retained and churned accounts there are to compare
    and how many of each used it in their last WINDOW_DAYS days (see the module docstring).

    Both samples are accounts that send events. A churned account counts for a name only if
    it churned after the name first appeared: an event added to the product last month says
    nothing about an account that left a year ago. The window is the WINDOW_DAYS UTC days up
    to and including the reference day (the day of churning, or today); an account used a
    name in it when it first used it by then and last used it on one of those days (use
    after churning is rare and not told apart).
    """
    use, definition, account = map(quoted_table, (EventUse, EventDefinition, Account))
    sql = f"""
        WITH sender AS MATERIALIZED (
            SELECT {REFERENCE}
            FROM {account} a
            WHERE EXISTS (
                SELECT 1 FROM {use} u WHERE u.account_id = a.id AND u.contact_id IS NULL
            )
        ), churned_sender AS MATERIALIZED (
            SELECT at FROM sender WHERE churned
        ), used AS (
            SELECT u.name, count(*) FILTER (WHERE NOT s.churned) AS retained,
                count(*) FILTER (WHERE s.churned) AS churned
            FROM {use} u JOIN sender s ON s.id = u.account_id
            WHERE u.contact_id IS NULL AND u.first_seen <= s.day
                AND u.last_seen > s.day - %(window)s
            GROUP BY u.name
        ), sample AS (
            SELECT d.name,
                (SELECT count(*) FROM sender WHERE NOT churned) AS retained,
                (SELECT count(*) FROM churned_sender s WHERE s.at > d.first_seen_at) AS churned
            FROM {definition} d
        )
        UPDATE {definition} AS t SET
            retained_accounts = s.retained,
            retained_using = COALESCE(used.retained, 0),
            churned_accounts = s.churned,
            churned_using = COALESCE(used.churned, 0),
            usage_difference = CASE WHEN s.retained > 0 AND s.churned > 0 THEN
                COALESCE(used.retained, 0)::float / s.retained
                - COALESCE(used.churned, 0)::float / s.churned END
        FROM sample s LEFT JOIN used ON used.name = s.name
        WHERE t.name = s.name
    """
    params = {
        "churned": AccountStatus.CHURNED,
        "now": now,
        "window": WINDOW_DAYS,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    compare_event_mix(now)
