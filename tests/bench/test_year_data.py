"""The year dataset's roll-ups, counted from simulated events without storing them: worked
out by hand on a few events, and the same rows as the app's rebuild from stored events."""

import io
import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from accounts.models import DailyAccountUsage, DailyContactUsage, DailyFeatureUsage
from accounts.usage import rebuild_daily_usage
from bench.database import bench_database
from bench.registry import Case, Context
from bench.year import SUFFIX, Catalogue, rollups
from demo import behaviour, writer
from demo.events import NAMES, Events, draw_events
from demo.simulation import Grid, draw_customers, generators
from demo.users import demo_users, ensure_demo_users
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


def _at(day: date, hour: int) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp())


def _tables() -> dict:
    return {
        "accounts": set(
            DailyAccountUsage.objects.values_list(
                "account_id", "date", "event_count", "active_contacts", "distinct_events"
            )
        ),
        "contacts": set(
            DailyContactUsage.objects.values_list("contact_id", "account_id", "date", "event_count")
        ),
        "features": set(
            DailyFeatureUsage.objects.values_list("account_id", "date", "name", "event_count")
        ),
    }


def test_it_counts_account_contact_and_feature_days_from_events():
    first, second = AccountFactory(), AccountFactory()
    ann, bob, cy = (ContactFactory(account=a) for a in (first, first, second))
    d1, d2 = date(2026, 3, 1), date(2026, 3, 2)
    a, b = NAMES.index(NAMES[0]), NAMES.index(NAMES[1])
    # Ann: two a and one b on d1 (one at 23:00, still d1 in UTC); Bob: one a on d1;
    # Cy (the second account): one b on d2.
    events = Events(
        person=np.array([0, 0, 0, 1, 2]),
        name=np.array([a, a, b, a, b]),
        at=np.array([_at(d1, 9), _at(d1, 10), _at(d1, 23), _at(d1, 12), _at(d2, 8)]),
    )
    written = rollups(
        events, np.array([ann.pk, bob.pk, cy.pk]), np.array([0, 0, 1]), [first.pk, second.pk]
    )
    assert written == {"account_days": 2, "contact_days": 3, "feature_days": 3}
    assert _tables() == {
        # 4 events by 2 contacts of 2 names on d1; 1 event of 1 name by 1 contact on d2.
        "accounts": {(first.pk, d1, 4, 2, 2), (second.pk, d2, 1, 1, 1)},
        "contacts": {
            (ann.pk, first.pk, d1, 3),
            (bob.pk, first.pk, d1, 1),
            (cy.pk, second.pk, d2, 1),
        },
        "features": {
            (first.pk, d1, NAMES[0], 3),
            (first.pk, d1, NAMES[1], 1),
            (second.pk, d2, NAMES[1], 1),
        },
    }


def test_the_catalogue_counts_events_accounts_users_and_first_and_last_seen():
    d1 = date(2026, 3, 1)
    events = Events(
        person=np.array([0, 0, 1, 2]),
        name=np.array([0, 0, 0, 1]),
        at=np.array([_at(d1, 9), _at(d1, 11), _at(d1, 10), _at(d1, 12)]),
    )
    catalogue = Catalogue()
    catalogue.add(events, np.array([0, 0, 1]))  # people 0 and 1 in account 0, 2 in account 1
    assert (catalogue.events[0], catalogue.accounts[0], catalogue.users[0]) == (3, 1, 2)
    assert (catalogue.events[1], catalogue.accounts[1], catalogue.users[1]) == (1, 1, 1)
    assert (catalogue.first[0], catalogue.last[0]) == (_at(d1, 9), _at(d1, 11))


def test_it_writes_the_rows_the_apps_rebuild_writes_from_the_same_events_stored():
    as_of = date(2026, 3, 31)
    grid = Grid(as_of, 40)
    now = datetime(2026, 3, 31, 20, tzinfo=UTC)
    rngs = generators(5, "engagement", "renewals", "events")
    ensure_demo_users(lambda _: "bench-password-123")
    customers = draw_customers(6, grid, 5)
    walk = behaviour.engagement(customers, grid, rngs["engagement"])
    use = behaviour.usage(customers, walk, grid)
    events = draw_events(use, [p.persona for c in customers for p in c.people], grid, now,
                         rngs["events"])  # fmt: skip
    accounts = writer.write_accounts(customers, 5, demo_users(), now)
    contact_ids = writer.write_contacts(accounts, customers, events, 5, 0)
    ids = [a.pk for a in accounts]
    assert len(events) > 100

    rollups(events, contact_ids, use.owner, ids)
    direct = _tables()
    for model in (DailyAccountUsage, DailyContactUsage, DailyFeatureUsage):
        model.objects.all().delete()
    writer.write_events(events, contact_ids, np.array(ids)[use.owner], 5, 0)
    rebuild_daily_usage(grid.first, as_of + timedelta(days=1))
    assert direct == _tables()


def test_the_year_database_sits_beside_the_bench_database():
    bench = bench_database("postgres://u@db:5432/app")
    assert bench_database(bench.url, suffix=SUFFIX).name == "app_bench_year"


def test_a_case_on_data_of_its_own_reports_that_datas_size_and_days():
    from bench.cli import run

    year = Context(size=10_000, days=365, as_of=date(2026, 12, 1), start=date(2025, 12, 2))
    run_ctx = Context(size=10_000, days=0, as_of=date(2026, 12, 1), start=date(2026, 12, 1))

    def own(ctx):
        return Case(custom=lambda repeat: {"seconds": 3.0, "floor_seconds": 1.0}, data=year)

    out = io.StringIO()
    run({"own": own}, ["own"], run_ctx, 1, out)
    line = json.loads(out.getvalue())
    assert (line["size"], line["days"], line["ratio"]) == (10_000, 365, 3.0)


def test_benchmarks_with_data_of_their_own_are_known_to_the_registry(monkeypatch):
    from bench import registry

    monkeypatch.setattr(registry, "BENCHMARKS", {})
    own = set()
    monkeypatch.setattr(registry, "OWN_DATA", own)
    registry.benchmark("mine", own_data=True)(lambda ctx: None)
    registry.benchmark("shared")(lambda ctx: None)
    assert own == {"mine"}


def test_the_history_benchmarks_bring_their_own_data():
    from bench.registry import GROUPS, OWN_DATA, discover

    discover()
    assert GROUPS["health_history"] == ("health_validation", "health_learn")
    assert {"health_validation", "health_learn"} <= OWN_DATA
