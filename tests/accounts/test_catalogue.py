"""The event catalogue: stats counted from ingested events, the retained-against-churned
suggestion, the API and the page, with hand-worked expected values."""

from datetime import UTC, date, datetime, timedelta
from itertools import count
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.catalogue import (
    SETTLE,
    key_feature_names,
    rebuild_event_catalogue,
    refresh_event_catalogue,
    suggested_feature_names,
    weekly_volume,
)
from accounts.choices import AccountStatus
from accounts.ingest import ACCEPTED, ingest_messages
from accounts.models import EventCatalogueState, EventDefinition
from accounts.tasks import rebuild_event_catalogue_task, refresh_event_catalogue_task
from cs_platform import roles
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

_message_ids = count()


def track(account, name, at, contact=None):
    message = {
        "type": "track",
        "event": name,
        "context": {"groupId": account.external_id},
        "timestamp": at.isoformat(),
        "messageId": f"cat-{next(_message_ids)}",
    }
    if contact is not None:
        message["userId"] = contact.external_id
    return message


def ingest(*messages, received_at):
    """Through the normal ingest path (events, roll-ups), received at ``received_at``."""
    results = ingest_messages(list(messages), received_at=received_at)
    assert [r.status for r in results] == [ACCEPTED] * len(messages), results


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=UTC)


def stats(name):
    d = EventDefinition.objects.get(name=name)
    return d.event_count, d.account_count, d.user_count, d.first_seen_at, d.last_seen_at


# --- the counts -------------------------------------------------------------------------


@pytest.fixture
def march():
    """acme: ann and bob; globex: cat; one acme event without a user. Received 1 April."""
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    ann, bob = ContactFactory(account=acme), ContactFactory(account=acme)
    cat = ContactFactory(account=globex)
    ingest(
        track(acme, "login", at(3, 2, 9), ann),  # Monday of week 10
        track(acme, "login", at(3, 3), ann),
        track(acme, "export_run", at(3, 4)),  # no user: counts for the account only
        track(acme, "login", at(3, 9), bob),  # week 11
        track(acme, "report_created", at(3, 10), ann),
        track(globex, "login", at(3, 16), cat),  # week 12
        track(globex, "report_created", at(3, 16), cat),
        track(globex, "report_created", at(3, 17, 8), cat),
        received_at=at(4, 1),
    )
    return acme, globex, ann, bob, cat


def test_it_counts_events_accounts_users_and_first_and_last_seen_per_name(march):
    assert refresh_event_catalogue(now=at(4, 2))["events"] == 8
    assert stats("login") == (4, 2, 3, at(3, 2, 9), at(3, 16))
    assert stats("report_created") == (3, 2, 2, at(3, 10), at(3, 17, 8))
    assert stats("export_run") == (1, 1, 0, at(3, 4), at(3, 4))


def test_it_counts_events_per_iso_week_with_empty_weeks_as_zero(march):
    refresh_event_catalogue(now=at(4, 2))
    weeks = weekly_volume(["login", "report_created", "export_run", "never"], 4, date(2026, 3, 18))
    mondays = [date(2026, 2, 23), date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert weeks == {
        "login": list(zip(mondays, [0, 2, 1, 1], strict=True)),
        "report_created": list(zip(mondays, [0, 0, 1, 2], strict=True)),
        "export_run": list(zip(mondays, [0, 1, 0, 0], strict=True)),
        "never": list(zip(mondays, [0, 0, 0, 0], strict=True)),
    }


def test_a_refresh_adds_only_new_events_and_agrees_with_a_rebuild(march):
    acme, globex, ann, bob, cat = march
    refresh_event_catalogue(now=at(4, 2))
    dave = ContactFactory(account=globex)
    ingest(
        track(globex, "login", at(3, 1), dave),  # earlier than anything: first seen moves back
        track(acme, "report_created", at(3, 20), bob),  # a new user of a known name
        track(acme, "report_created", at(3, 21), bob),
        received_at=at(4, 3),
    )
    assert refresh_event_catalogue(now=at(4, 4))["events"] == 3
    assert refresh_event_catalogue(now=at(4, 4))["events"] == 0  # nothing counted twice
    incremental = {n: stats(n) for n in ("login", "report_created", "export_run")}
    assert incremental["login"] == (5, 2, 4, at(3, 1), at(3, 16))
    assert incremental["report_created"] == (5, 2, 3, at(3, 10), at(3, 21))

    assert rebuild_event_catalogue(now=at(4, 4))["events"] == 11
    assert {n: stats(n) for n in incremental} == incremental
    assert weekly_volume(["report_created"], 2, date(2026, 3, 18))["report_created"] == [
        (date(2026, 3, 9), 1),
        (date(2026, 3, 16), 4),
    ]


def test_events_received_moments_ago_wait_until_they_settle(march):
    acme, *_ = march
    refresh_event_catalogue(now=at(4, 2))
    ingest(track(acme, "login", at(4, 2)), received_at=at(4, 2, 13))
    # Another batch may still be committing lower ids: wait SETTLE after receipt.
    assert refresh_event_catalogue(now=at(4, 2, 13) + SETTLE / 2)["events"] == 0
    assert refresh_event_catalogue(now=at(4, 2, 13) + SETTLE)["events"] == 1
    assert stats("login")[0] == 5


def test_the_first_refresh_is_a_rebuild_and_deleted_accounts_leave_with_the_next_one(march):
    acme, *_ = march
    refresh_event_catalogue(now=at(4, 2))
    acme.delete()
    rebuild_event_catalogue(now=at(4, 2))
    assert stats("login") == (1, 1, 1, at(3, 16), at(3, 16))
    # The name is kept, with nothing counted, so an admin's choice about it is not lost.
    assert stats("export_run") == (0, 0, 0, None, None)


def test_a_refresh_or_rebuild_keeps_the_admins_choices(march, cs_admin):
    from accounts.catalogue import describe_event

    refresh_event_catalogue(now=at(4, 2))
    describe_event("report_created", key_feature=True, description="A report saved", by=cs_admin)
    refresh_event_catalogue(now=at(4, 3))
    rebuild_event_catalogue(now=at(4, 3))
    definition = EventDefinition.objects.get(name="report_created")
    assert (definition.key_feature, definition.description) == (True, "A report saved")
    assert definition.changed_by == cs_admin
    assert key_feature_names() == ["report_created"]


@pytest.mark.django_db(transaction=True)
def test_a_refresh_finding_another_at_work_returns_at_once(march):
    import threading

    from django.db import connection, transaction

    refresh_event_catalogue(now=at(4, 2))
    locked, release = threading.Event(), threading.Event()

    def hold_the_catalogue():
        with transaction.atomic():
            EventCatalogueState.objects.select_for_update().get(pk=1)
            locked.set()
            release.wait(10)
        connection.close()

    other = threading.Thread(target=hold_the_catalogue)
    other.start()
    try:
        assert locked.wait(10)
        assert refresh_event_catalogue(now=at(4, 3)) == {"events": 0, "skipped": True}
    finally:
        release.set()
        other.join()
    assert refresh_event_catalogue(now=at(4, 3))["events"] == 0


def test_it_says_which_names_have_events_for_measures_to_score(march):
    from accounts.catalogue import seen_event_names

    refresh_event_catalogue(now=at(4, 2))
    assert seen_event_names(["login", "report_created", "report_shared"]) == {
        "login",
        "report_created",
    }


def test_the_tasks_run_the_refresh_and_the_rebuild(march):
    assert rebuild_event_catalogue_task()["events"] == 8
    assert refresh_event_catalogue_task()["events"] == 0


# --- the suggestion ---------------------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
CHURNED_AT = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def outcomes():
    """Four retained accounts (window: 5 May to 1 June) and four churned on 1 May (window:
    4 April to 1 May), plus one of each that never sent an event (left out of both samples).

    report_shared: R1-R4 in their window, C1 in its window         -> 4/4 vs 1/4 = +0.75
    login: everyone in their window                                -> 4/4 vs 4/4 =  0
    onboarding_done: everyone, but in February (outside)           -> 0/4 vs 0/4 =  0
    settings_viewed: R1 in its window, C1 and C2 in theirs          -> 1/4 vs 2/4 = -0.25
    new_dashboard: first seen 10 May, after every churn: nothing to compare
    """
    retained = [AccountFactory(name=f"R{i}") for i in range(1, 6)]
    churned = [
        AccountFactory(name=f"C{i}", status=AccountStatus.CHURNED, churned_at=CHURNED_AT)
        for i in range(1, 6)
    ]
    messages = []
    for r in retained[:4]:
        messages += [
            track(r, "login", at(5, 25)),
            track(r, "report_shared", at(5, 20)),
            track(r, "onboarding_done", at(2, 1)),
        ]
    for c in churned[:4]:
        messages += [track(c, "login", at(4, 25)), track(c, "onboarding_done", at(2, 1))]
    messages += [
        track(churned[0], "report_shared", at(4, 20)),
        track(retained[0], "settings_viewed", at(5, 30)),
        track(churned[0], "settings_viewed", at(4, 4)),  # the first day of its window
        track(churned[1], "settings_viewed", at(5, 1, 8)),  # its last day
        track(retained[0], "new_dashboard", at(5, 10)),
        track(retained[1], "new_dashboard", at(5, 12)),
    ]
    ingest(*messages, received_at=NOW - timedelta(hours=1))
    refresh_event_catalogue(now=NOW)


def comparison(name):
    d = EventDefinition.objects.get(name=name)
    return (
        d.retained_accounts,
        d.retained_using,
        d.churned_accounts,
        d.churned_using,
        None if d.usage_difference is None else round(d.usage_difference, 4),
    )


def test_it_compares_use_by_retained_and_churned_accounts_in_their_last_28_days(outcomes):
    assert comparison("report_shared") == (4, 4, 4, 1, 0.75)
    assert comparison("login") == (4, 4, 4, 4, 0)
    assert comparison("onboarding_done") == (4, 0, 4, 0, 0)
    assert comparison("settings_viewed") == (4, 1, 4, 2, -0.25)
    # No account churned after the event appeared: no churned sample, nothing to compare.
    assert comparison("new_dashboard") == (4, 2, 0, 0, None)


def test_it_suggests_what_retained_accounts_use_more_than_chance_explains(outcomes):
    shared = EventDefinition.objects.get(name="report_shared")
    # Pooled share 5/8; standard error sqrt(5/8 * 3/8 * (1/4 + 1/4)) = 0.3423; 0.75 / it.
    assert shared.difference_z == pytest.approx(2.1909, abs=1e-4)
    assert shared.suggested
    assert shared.comparison == (
        "Used by 100% of 4 retained accounts (last 28 days) and 25% of 4 churned accounts "
        "(28 days before churning): +75 points, more than chance explains. Retained "
        "accounts gave it a larger share of their events than churned ones in 91% of pairs, "
        "within what chance explains. A candidate key feature."
    )
    login = EventDefinition.objects.get(name="login")
    assert login.difference_z is None and not login.suggested  # all alike: no spread
    assert not EventDefinition.objects.get(name="settings_viewed").suggested
    new = EventDefinition.objects.get(name="new_dashboard")
    assert not new.suggested
    assert new.comparison.startswith("Nothing to compare: no account that sends events churned")


def mix(name):
    d = EventDefinition.objects.get(name=name)
    return None if d.mix_auc is None else (round(d.mix_auc, 5), round(d.mix_p, 4))


def test_it_ranks_the_share_of_each_accounts_events_retained_against_churned(outcomes):
    # Shares in the windows. Retained: R1 login, report_shared, settings_viewed, new_dashboard
    # (1/4 each); R2 login, report_shared, new_dashboard (1/3 each); R3, R4 login and
    # report_shared (1/2 each). Churned: C1 login, report_shared, settings_viewed (1/3 each);
    # C2 login, settings_viewed (1/2 each); C3, C4 login only.
    # report_shared: retained 1/4, 1/3, 1/2, 1/2 against churned 1/3, 0, 0, 0: of the 16
    # pairs the retained share is larger in 3 + 3 + 4 + 4 and tied in 1, U = 14.5, 0.90625.
    # Normal approximation with ties (0 x3, 1/3 x2, 1/2 x2) and continuity: variance
    # 16/12 * (9 - 36/56) = 11.1429, z = (14.5 - 8 - 0.5) / 3.3381 = 1.797, p = 0.0361.
    assert mix("report_shared") == (0.90625, 0.0361)
    # login: 1/4, 1/3, 1/2, 1/2 against 1/3, 1/2, 1, 1: U = 0 + 0.5 + 1.5 + 1.5 = 3.5.
    assert mix("login")[0] == 0.21875
    # settings_viewed: 1/4, 0, 0, 0 against 1/3, 1/2, 0, 0: U = 2 + 1 + 1 + 1 = 5.
    assert mix("settings_viewed")[0] == 0.3125
    # In nobody's window, or first seen after every churn: nothing to compare.
    assert mix("onboarding_done") is None and mix("new_dashboard") is None
    assert not EventDefinition.objects.get(name="report_shared").mix_suggests


def test_a_feature_churners_still_used_but_less_is_suggested():
    # Every account used work_done and login in its window, so the share of accounts using
    # each is 100% on both sides; but retained accounts did work_done 3 times to 1 login,
    # churned ones once to 3 logins: shares 3/4 against 1/4 in all 36 pairs, U = 36.
    # Ties 0.75 x6, 0.25 x6: variance 36/12 * (13 - 420/132) = 29.4545,
    # z = (36 - 18 - 0.5) / 5.4272 = 3.2245, p = 0.00063.
    messages = []
    for i in range(6):
        kept = AccountFactory(name=f"K{i}")
        left = AccountFactory(name=f"L{i}", status=AccountStatus.CHURNED, churned_at=CHURNED_AT)
        messages += [track(kept, "work_done", at(5, 20 + d)) for d in range(3)]
        messages += [track(kept, "login", at(5, 25))]
        messages += [track(left, "work_done", at(4, 20))]
        messages += [track(left, "login", at(4, 21 + d)) for d in range(3)]
    ingest(*messages, received_at=NOW - timedelta(hours=1))
    refresh_event_catalogue(now=NOW)
    work = EventDefinition.objects.get(name="work_done")
    assert work.difference_z is None  # 6/6 against 6/6: the first test sees nothing
    assert (work.mix_auc, round(work.mix_p, 5)) == (1.0, 0.00063)
    assert work.suggested and work.mix_suggests
    assert not EventDefinition.objects.get(name="login").suggested
    assert "in 100% of pairs, more than chance explains. A candidate key feature." in (
        work.comparison
    )


def test_fewer_churners_using_a_feature_is_no_suggestion_when_they_did_less_of_everything(
    django_assert_num_queries,
):
    # Retained: work_done 3 times and tip_viewed once each (tip's share 1/4). Churned: three
    # did work_done and tip_viewed once each (share 1/2), three work_done only (share 0).
    # Used by 6/6 against 3/6: pooled 9/12, standard error sqrt(3/4 * 1/4 * (1/6 + 1/6))
    # = 0.25, z = 0.5 / 0.25 = 2.0, past 1.96. But the retained share 1/4 is larger in 18
    # of the 36 pairs (against the zeros) and smaller in the other 18: U = 18, 0.5.
    messages = []
    for i in range(6):
        kept = AccountFactory(name=f"K{i}")
        left = AccountFactory(name=f"L{i}", status=AccountStatus.CHURNED, churned_at=CHURNED_AT)
        messages += [track(kept, "work_done", at(5, 20 + d)) for d in range(3)]
        messages += [track(kept, "tip_viewed", at(5, 25)), track(left, "work_done", at(4, 20))]
        if i < 3:
            messages += [track(left, "tip_viewed", at(4, 21))]
    ingest(*messages, received_at=NOW - timedelta(hours=1))
    refresh_event_catalogue(now=NOW)
    tip = EventDefinition.objects.get(name="tip_viewed")
    assert tip.difference_z == pytest.approx(2.0)
    assert tip.mix_auc == 0.5 and tip.mix_contradicts
    with django_assert_num_queries(1):  # both tests' columns in one query, none deferred
        names = suggested_feature_names()
    assert not tip.suggested and "tip_viewed" not in names
    assert tip.comparison.endswith(
        "Churners did less of everything, not of this feature in particular: not a candidate "
        "on its own."
    )


def test_the_api_ranks_events_by_the_difference(outcomes, api, issue_token):
    reader = api(issue_token("read")[0])
    body = reader.get("/api/v1/event-catalogue/", {"ordering": "-usage_difference"}).json()
    ranked = [(e["name"], e["comparison"]["difference"]) for e in body["results"]]
    # Ties in name order; without a comparison last (descending puts nulls last here too).
    assert [n for n, _ in ranked] == [
        "report_shared", "login", "onboarding_done", "settings_viewed", "new_dashboard",
    ]  # fmt: skip
    assert ranked[0][1] == 0.75 and ranked[-1][1] is None
    first = body["results"][0]["comparison"]
    assert (first["retained_accounts"], first["churned_accounts"], first["suggested"]) == (
        4,
        4,
        True,
    )


def test_without_churned_accounts_there_is_nothing_to_compare():
    acme = AccountFactory()
    ingest(track(acme, "login", at(5, 25)), received_at=NOW - timedelta(hours=1))
    refresh_event_catalogue(now=NOW)
    login = EventDefinition.objects.get(name="login")
    assert comparison("login") == (1, 1, 0, 0, None)
    assert not login.suggested
    assert login.comparison == (
        "Nothing to compare: no account that sends events churned after 2026-05-25, when "
        "this event first appeared."
    )


# --- the API ------------------------------------------------------------------------------


@pytest.fixture
def recent():
    """Events of this week and the last, so the default 12 weeks of volume hold them."""
    now = timezone.now()
    acme, globex = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    ann = ContactFactory(account=acme)
    ingest(
        track(acme, "report.created", now - timedelta(days=7), ann),
        track(acme, "report.created", now - timedelta(minutes=5), ann),
        track(globex, "report.created", now - timedelta(minutes=5)),
        track(acme, "page/viewed", now - timedelta(minutes=5), ann),
        received_at=now - timedelta(hours=1),
    )
    refresh_event_catalogue(now=now)


def test_the_list_says_each_events_use_and_weekly_volume(recent, api, issue_token):
    reader = api(issue_token("read")[0])
    response = reader.get("/api/v1/event-catalogue/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 2
    first = body["results"][0]
    assert first["name"] == "report.created"  # most accounts first
    assert (first["event_count"], first["account_count"], first["user_count"]) == (3, 2, 1)
    assert first["key_feature"] is False
    assert len(first["weekly"]) == 12
    assert sum(w["events"] for w in first["weekly"]) == 3
    this_week = timezone.now().date().isocalendar()
    assert first["weekly"][-1]["week"] == f"{this_week[0]}-W{this_week[1]:02d}"
    assert first["comparison"]["summary"].startswith("Nothing to compare")


def test_the_list_filters_searches_and_orders(recent, api, issue_token):
    reader = api(issue_token("read")[0])

    def names(**params):
        response = reader.get("/api/v1/event-catalogue/", params)
        assert response.status_code == 200, response.json()
        return [e["name"] for e in response.json()["results"]]

    assert names(search="page") == ["page/viewed"]
    assert names(ordering="name") == ["page/viewed", "report.created"]
    assert names(ordering="-event_count") == ["report.created", "page/viewed"]
    assert names(accounts_min=2) == ["report.created"]
    assert names(key_feature="true") == []
    EventDefinition.objects.filter(name="page/viewed").update(key_feature=True)
    assert names(key_feature="true") == ["page/viewed"]
    weekly = reader.get("/api/v1/event-catalogue/", {"weeks": 2}).json()["results"][0]["weekly"]
    assert [w["events"] for w in weekly] == [1, 2]


@pytest.mark.parametrize("weeks", ["0", "105", "many"])
def test_a_bad_number_of_weeks_is_a_400_naming_it(recent, api, issue_token, weeks):
    response = api(issue_token("read")[0]).get("/api/v1/event-catalogue/", {"weeks": weeks})
    assert response.status_code == 400
    assert "weeks" in response.json()


def test_one_event_is_read_by_its_name_dots_and_slashes_too(recent, api, issue_token):
    reader = api(issue_token("read")[0])
    assert reader.get("/api/v1/event-catalogue/report.created/").json()["account_count"] == 2
    slashed = reader.get(f"/api/v1/event-catalogue/{quote('page/viewed', safe='')}/")
    assert slashed.status_code == 200 and slashed.json()["name"] == "page/viewed"
    missing = reader.get("/api/v1/event-catalogue/never_sent/")
    assert missing.status_code == 404
    assert "never_sent" in missing.json()["detail"]


def test_an_admin_marks_a_key_feature_through_the_api(recent, api, issue_token, cs_admin):
    raw, _ = issue_token("admin", user=cs_admin)
    admin_client = api(raw)
    url = "/api/v1/event-catalogue/report.created/"
    response = admin_client.patch(
        url, {"key_feature": True, "description": "A report saved"}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["key_feature"], body["description"], body["changed_by"]) == (
        True, "A report saved", "csadmin",
    )  # fmt: skip
    assert body["event_count"] == 3 and len(body["weekly"]) == 12
    assert key_feature_names() == ["report.created"]
    response = admin_client.patch(url, {"key_feature": False}, content_type="application/json")
    assert response.json()["key_feature"] is False
    assert key_feature_names() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"key_feature": "maybe"}, "key_feature"),
        ({"key_feature": None}, "key_feature"),
        ({"account_count": 5}, "account_count"),
        ({"description": "a\x00b"}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({}, "non_field_errors"),
        (["key_feature"], "non_field_errors"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(recent, api, issue_token, payload, field):
    response = api(issue_token("admin")[0]).patch(
        "/api/v1/event-catalogue/report.created/", payload, content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not EventDefinition.objects.get(name="report.created").key_feature


def test_patching_an_unknown_name_is_a_404(recent, api, issue_token):
    response = api(issue_token("admin")[0]).patch(
        "/api/v1/event-catalogue/never_sent/",
        {"key_feature": True},
        content_type="application/json",
    )
    assert response.status_code == 404


@pytest.mark.parametrize("scopes", [("read",), ("read", "write"), ("ingest",)])
def test_tokens_without_the_admin_scope_cannot_choose_key_features(
    recent, api, issue_token, scopes
):
    response = api(issue_token(*scopes)[0]).patch(
        "/api/v1/event-catalogue/report.created/",
        {"key_feature": True},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert key_feature_names() == []


@pytest.mark.parametrize("role", [roles.CSM, roles.VIEWER])
def test_csms_and_viewers_read_the_catalogue_but_cannot_change_it(recent, client, make_user, role):
    client.force_login(make_user("someone", role))
    assert client.get("/api/v1/event-catalogue/").status_code == 200
    response = client.patch(
        "/api/v1/event-catalogue/report.created/",
        {"key_feature": True},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert key_feature_names() == []


def test_anonymous_clients_are_refused_and_other_methods_are_not_allowed(
    recent, client, api, issue_token
):
    assert client.get("/api/v1/event-catalogue/").status_code in {401, 403}
    admin_client = api(issue_token("admin")[0])
    url = "/api/v1/event-catalogue/report.created/"
    assert (
        admin_client.put(url, {"key_feature": True}, content_type="application/json").status_code
        == 405
    )
    assert admin_client.delete(url).status_code == 405
    assert admin_client.post("/api/v1/event-catalogue/", {}).status_code == 405


def queries(get) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert get().status_code == 200
    return len(ctx)


def add_events(account, names):
    now = timezone.now()
    ingest(
        *[track(account, n, now - timedelta(days=1)) for n in names],
        received_at=now - timedelta(hours=1),
    )
    refresh_event_catalogue(now=now)


def test_the_list_costs_the_same_queries_for_3_or_40_names(api, issue_token):
    reader, acme = api(issue_token("read")[0]), AccountFactory()
    add_events(acme, [f"few_{i}" for i in range(3)])
    reader.get("/api/v1/event-catalogue/")  # the token lookup is prepared once per session
    few = queries(lambda: reader.get("/api/v1/event-catalogue/"))
    add_events(acme, [f"many_{i}" for i in range(37)])
    assert queries(lambda: reader.get("/api/v1/event-catalogue/")) == few
    assert few <= 6  # token, roles, token last used, count, rows, weeks


def test_a_sparkline_scales_to_the_highest_week_and_says_its_numbers():
    from accounts.sparkline import sparkline

    svg = sparkline([("Mar 02", 0), ("Mar 09", 4), ("Mar 16", 2)], "Events", width=10, height=20)
    # x every 5 units; y from 18 (zero) to 2 (the highest), 2 units of padding each side.
    assert 'points="0.0,18.0 5.0,2.0 10.0,10.0"' in svg
    assert "<title>Events: Mar 02: 0, Mar 09: 4, Mar 16: 2</title>" in svg
    assert 'points="0.0,18.0 10.0,18.0"' in sparkline([("a", 0), ("b", 0)], width=10)
    assert sparkline([]) == ""


# --- the page -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", roles.ALL_ROLES)
def test_every_role_reads_the_catalogue_page(outcomes, client, make_user, role):
    client.force_login(make_user("someone", role))
    response = client.get(reverse("event-catalogue"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "report_shared" in page and "new_dashboard" in page
    assert page.count('class="sparkline"') == 5
    assert "Suggested" in page and "+75 points" in page
    toggles = page.count(reverse("event-key-feature"))
    assert toggles == (10 if role == roles.ADMIN else 0)  # action and hx-post of 5 rows


def test_the_page_searches_sorts_and_shows_key_features_only(outcomes, client, cs_admin):
    client.force_login(cs_admin)
    EventDefinition.objects.filter(name="login").update(key_feature=True)

    def rows(**params):
        page = client.get(reverse("event-catalogue"), params).content.decode()
        return [
            line.split('data-event="')[1].split('"')[0]
            for line in page.splitlines()
            if 'data-event="' in line
        ]

    assert rows(q="dash") == ["new_dashboard"]
    assert rows(sort="suggestion")[0] == "report_shared"
    assert rows(sort="name")[:2] == ["login", "new_dashboard"]
    assert rows(sort="nonsense") == rows()  # unknown sort: the default
    assert rows(key="1") == ["login"]


def test_the_page_costs_the_same_queries_for_few_or_many_events(client, cs_admin):
    client.force_login(cs_admin)
    acme = AccountFactory()
    add_events(acme, [f"e{i}" for i in range(3)])
    few = queries(lambda: client.get(reverse("event-catalogue")))
    add_events(acme, [f"f{i}" for i in range(60)])
    assert queries(lambda: client.get(reverse("event-catalogue"))) == few
    # session, user, roles, count, rows, weeks, samples, key features, refreshed at
    assert few <= 9


def test_the_page_says_when_there_are_no_events_yet(client, viewer):
    client.force_login(viewer)
    page = client.get(reverse("event-catalogue")).content.decode()
    assert "No events yet" in page and "Not counted yet" in page


def test_an_admin_toggles_a_key_feature_in_place(outcomes, client, cs_admin):
    client.force_login(cs_admin)
    url = reverse("event-key-feature")
    response = client.post(
        url, {"name": "report_shared", "key_feature": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith("<tr") and "★ Key feature" in row and "Unmark" in row
    assert key_feature_names() == ["report_shared"]
    assert EventDefinition.objects.get(name="report_shared").changed_by == cs_admin
    # Without htmx: back to the page with a message.
    response = client.post(url, {"name": "report_shared", "key_feature": "0"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("event-catalogue")
    assert "report_shared is no longer a key feature." in response.content.decode()
    assert key_feature_names() == []


def test_a_bad_toggle_is_refused(outcomes, client, cs_admin):
    client.force_login(cs_admin)
    url = reverse("event-key-feature")
    assert client.post(url, {"name": "login", "key_feature": "yes"}).status_code == 400
    assert client.post(url, {"name": "never_sent", "key_feature": "1"}).status_code == 404
    assert client.post(url, {"name": "a\x00b", "key_feature": "1"}).status_code == 404
    assert client.get(url).status_code == 405
    assert key_feature_names() == []


@pytest.mark.parametrize("role", [roles.CSM, roles.VIEWER])
def test_csms_and_viewers_cannot_toggle_key_features(outcomes, client, make_user, role):
    client.force_login(make_user("someone", role))
    response = client.post(reverse("event-key-feature"), {"name": "login", "key_feature": "1"})
    assert response.status_code == 403
    assert key_feature_names() == []


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("event-catalogue"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_django_admin_changes_only_the_admins_columns(outcomes, admin_client, admin_user):
    definition = EventDefinition.objects.get(name="login")
    url = reverse("admin:accounts_eventdefinition_change", args=[definition.pk])
    response = admin_client.post(url, {"key_feature": "on", "description": "Signed in"})
    assert response.status_code == 302
    definition.refresh_from_db()
    assert (definition.key_feature, definition.description) == (True, "Signed in")
    assert definition.changed_by == admin_user and definition.event_count == 8
    delete = reverse("admin:accounts_eventdefinition_delete", args=[definition.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
