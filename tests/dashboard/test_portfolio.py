"""The portfolio (home) page: my book or the team's by colour, at-risk renewals, my tasks,
the latest health changes with their explanations, accounts per stage, empty states."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AccountStatus
from journeys.choices import Stage
from journeys.stages import move_account
from playbooks.choices import TaskStatus
from playbooks.models import Task
from tests.dashboard.helpers import change, count_queries, set_health, text, today
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def tiles(response) -> dict[str, int]:
    """{"green": 2, ...} as the colour tiles show it."""
    return {c["color"] or "none": c["count"] for c in response.context["colors"]}


@pytest.fixture
def book(csm, make_user):
    """The CSM's book: 2 green, 1 yellow, 1 red, 1 unscored; a colleague's: 1 red, 1 green."""
    other = make_user("colleague")
    mine = {
        "g1": AccountFactory(name="Mine Green One", owner=csm),
        "g2": AccountFactory(name="Mine Green Two", owner=csm),
        "y": AccountFactory(name="Mine Yellow", owner=csm),
        "r": AccountFactory(name="Mine Red", owner=csm),
        "new": AccountFactory(name="Mine Unscored", owner=csm),
    }
    theirs = {
        "r": AccountFactory(name="Their Red", owner=other),
        "g": AccountFactory(name="Their Green", owner=other),
    }
    for group in (mine, theirs):
        for key, account in group.items():
            if key != "new":
                set_health(account, {"g": "green", "y": "yellow", "r": "red"}[key[0]])
    return mine, theirs


def test_a_csm_sees_their_own_book_by_colour_by_default(client, csm, book):
    client.force_login(csm)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert response.context["scope"] == "mine"
    assert tiles(response) == {"green": 2, "yellow": 1, "red": 1, "none": 1}
    assert response.context["total"] == 5
    page = text(response)
    assert "My book" in page and "5 active accounts" in page


def test_colour_is_never_the_only_signal_on_the_tiles(client, csm, book):
    client.force_login(csm)
    html = client.get(reverse("home")).content.decode()
    for symbol, label in (("✓", "Green"), ("!", "Yellow"), ("✕", "Red")):
        assert f'<span aria-hidden="true">{symbol}</span> {label}' in html
    assert "Not scored" in html


def test_the_csm_switches_to_the_teams_portfolio(client, csm, book):
    client.force_login(csm)
    response = client.get(reverse("home"), {"scope": "team"})
    assert response.context["scope"] == "team"
    assert tiles(response) == {"green": 3, "yellow": 1, "red": 2, "none": 1}
    assert "Team portfolio" in text(response)


def test_an_unknown_scope_falls_back_to_the_default(client, csm, book):
    client.force_login(csm)
    assert client.get(reverse("home"), {"scope": "everything"}).context["scope"] == "mine"


@pytest.mark.parametrize("role_fixture", ["viewer", "cs_admin"])
def test_viewers_and_admins_see_the_team_by_default(client, request, role_fixture, book):
    client.force_login(request.getfixturevalue(role_fixture))
    response = client.get(reverse("home"))
    assert response.context["scope"] == "team"
    assert response.context["total"] == 7


def test_churned_accounts_are_not_in_the_portfolio(client, csm):
    AccountFactory(owner=csm, status=AccountStatus.CHURNED, churned_at=timezone.now())
    client.force_login(csm)
    assert client.get(reverse("home")).context["total"] == 0


def test_at_risk_renewals_are_within_90_days_and_not_green(client, csm):
    soon = today() + timedelta(days=30)
    at_risk_yellow = AccountFactory(name="Yellow Soon", owner=csm, renewal_date=soon)
    at_risk_red = AccountFactory(
        name="Red Day 90", owner=csm, renewal_date=today() + timedelta(days=90)
    )
    unscored = AccountFactory(name="Unscored Soon", owner=csm, renewal_date=soon)
    green = AccountFactory(name="Green Soon", owner=csm, renewal_date=soon)
    far = AccountFactory(name="Red Later", owner=csm, renewal_date=today() + timedelta(days=91))
    past = AccountFactory(
        name="Red Lapsed",
        owner=csm,
        contract_start=today() - timedelta(days=400),
        renewal_date=today() - timedelta(days=1),
    )
    churned = AccountFactory(
        name="Red Churned",
        owner=csm,
        renewal_date=soon,
        status=AccountStatus.CHURNED,
        churned_at=timezone.now(),
    )
    set_health(at_risk_yellow, "yellow")
    for account in (at_risk_red, far, past, churned):
        set_health(account, "red")
    set_health(green, "green")
    client.force_login(csm)
    response = client.get(reverse("home"))
    names = [a.name for a in response.context["at_risk"]]
    assert names == ["Yellow Soon", "Unscored Soon", "Red Day 90"]  # by renewal date, id
    assert set(names) == {at_risk_yellow.name, unscored.name, at_risk_red.name}
    page = text(response)
    assert "Yellow Soon" in page and "Red Day 90" in page
    for hidden in ("Green Soon", "Red Later", "Red Lapsed", "Red Churned"):
        assert hidden not in page


def test_at_risk_renewals_follow_the_scope(client, csm, make_user):
    other = make_user("colleague")
    theirs = AccountFactory(
        name="Their Risk", owner=other, renewal_date=today() + timedelta(days=10)
    )
    set_health(theirs, "red")
    client.force_login(csm)
    assert client.get(reverse("home")).context["at_risk"] == []
    assert [a.name for a in client.get(reverse("home"), {"scope": "team"}).context["at_risk"]] == [
        "Their Risk"
    ]


def test_my_open_tasks_due_within_a_week(client, csm, make_user):
    account = AccountFactory(name="Tasked", owner=csm)
    other = make_user("colleague")

    def task(title, due, **fields):
        return Task.objects.create(
            account=account, assignee=fields.pop("assignee", csm), title=title, due_date=due,
            **fields,
        )  # fmt: skip

    task("Overdue call", today() - timedelta(days=2))
    task("Due in a week", today() + timedelta(days=7))
    task("No due date", None)
    task("Next month", today() + timedelta(days=8))
    task("Done already", today(), status=TaskStatus.DONE, completed_at=timezone.now())
    task(
        "Snoozed",
        today(),
        status=TaskStatus.SNOOZED,
        snoozed_until=timezone.now() + timedelta(days=1),
    )
    task("Someone else's", today(), assignee=other)
    client.force_login(csm)
    response = client.get(reverse("home"))
    assert [t.title for t in response.context["tasks"]] == [
        "Overdue call",
        "Due in a week",
        "No due date",
    ]
    page = text(response)
    assert "Overdue call" in page and "(overdue)" in page
    for hidden in ("Next month", "Done already", "Snoozed", "Someone else's"):
        assert hidden not in page


def test_all_my_tasks_links_to_the_inbox_page_not_the_api(client, csm):
    account = AccountFactory(owner=csm)
    Task.objects.create(account=account, assignee=csm, title="Call them", due_date=today())
    client.force_login(csm)
    html = client.get(reverse("home")).content.decode()
    (href,) = re.findall(r'<a href="([^"]+)">All my tasks', html)
    assert not href.startswith("/api/")
    inbox = client.get(href)
    assert inbox.status_code == 200
    assert inbox["Content-Type"].startswith("text/html")


def test_latest_health_changes_show_their_explanations_rebuilt_ones_labelled(client, csm):
    account = AccountFactory(name="Slipping Co", owner=csm)
    set_health(account, "yellow")
    change(
        account,
        "yellow",
        from_color="green",
        explanation="Yellow: weekly active admins fell from 4 to 1",
    )
    change(
        account,
        "red",
        from_color="yellow",
        explanation="Rebuilt from last spring's history",
        backfilled=True,
        when=timezone.now() - timedelta(days=1),
    )
    client.force_login(csm)
    response = client.get(reverse("home"))
    assert [c.explanation for c in response.context["changes"]] == [
        "Yellow: weekly active admins fell from 4 to 1",
        "Rebuilt from last spring's history",
    ]
    page = text(response)
    assert "weekly active admins fell from 4 to 1" in page
    assert "rebuilt from history" in page  # said, as it never reached playbooks
    assert "✓ Green → ! Yellow 55" in page  # from → to, with words, not colour only


def test_latest_changes_are_newest_first_and_at_most_ten(client, csm):
    account = AccountFactory(owner=csm)
    now = timezone.now()
    for i in range(12):
        colors = ("green", "yellow") if i % 2 else ("yellow", "green")
        change(
            account,
            colors[1],
            from_color=colors[0],
            explanation=f"change {i}",
            when=now - timedelta(hours=i),
        )
    client.force_login(csm)
    changes = client.get(reverse("home")).context["changes"]
    assert [c.explanation for c in changes] == [f"change {i}" for i in range(10)]


def test_accounts_per_stage(client, csm):
    for stage, count in ((Stage.ONBOARDING, 2), (Stage.ADOPTION, 1)):
        for _ in range(count):
            move_account(AccountFactory(owner=csm), stage)
    AccountFactory(owner=csm)  # no stage yet
    client.force_login(csm)
    response = client.get(reverse("home"))
    stages = {s["journey__stage"]: s["n"] for s in response.context["stages"]}
    assert stages == {"onboarding": 2, "adoption": 1, None: 1}
    page = text(response)
    assert "Onboarding 2" in page and "Adoption 1" in page and "No stage yet 1" in page


def test_an_empty_book_explains_what_to_do(client, csm):
    AccountFactory(name="Someone else's")
    client.force_login(csm)
    page = text(client.get(reverse("home")))
    assert "No accounts are assigned to you yet" in page
    assert "team's portfolio" in page


def test_an_empty_team_explains_how_to_import(client, cs_admin):
    client.force_login(cs_admin)
    page = text(client.get(reverse("home")))
    assert "No accounts yet. Import them as CSV" in page


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def _portfolio(owner, count: int, other):
    for i in range(count):
        account = AccountFactory(owner=owner, renewal_date=today() + timedelta(days=10 + i))
        set_health(account, ("green", "yellow", "red")[i % 3])
        move_account(account, (Stage.ONBOARDING, Stage.ADOPTION)[i % 2])
        if i % 3:
            change(account, ("green", "yellow", "red")[i % 3], from_color="green")
        Task.objects.create(account=account, assignee=owner, title=f"t{i}", due_date=today())
        AccountFactory(owner=other)


@pytest.mark.parametrize("scope", ["mine", "team"])
def test_the_query_count_is_small_and_does_not_grow_with_the_book(client, csm, make_user, scope):
    other = make_user("colleague")
    client.force_login(csm)
    url = reverse("home") + f"?scope={scope}"
    _portfolio(csm, 5, other)
    small, response = count_queries(client, url)
    assert response.status_code == 200
    _portfolio(csm, 45, other)
    large, response = count_queries(client, url)
    assert response.context["total"] == (50 if scope == "mine" else 100)
    assert large == small
    assert large < 15
