"""The dashboard in a real browser (issue 7, "Tests in a real browser").

Headless Debian Chromium against pytest-django's live server on PostgreSQL:

1. a CSM logs in, reads their book on the portfolio, filters and searches the accounts list,
   opens an account, adds a call note and sees it in the timeline, completes a task in the
   inbox and finds it under Done;
2. an admin builds a green-to-yellow playbook in the builder and previews it; an account of
   the CSM's book, green, gets a new escalation, goes yellow through the real health drain,
   receivers and playbook engine (Celery eager); the CSM finds the task in their inbox with
   the run's explanation;
3. full-page screenshots of the main pages go to var/test-artifacts/screenshots/ (the path is
   printed), and no page may request anything from a host other than the live server;
4. a viewer sees no edit controls on an account and is refused (403) if they post anyway.

Playwright's sync API runs an event loop in this thread: the ORM refuses to run (or opens a
second connection) while it is started, so each step writes its data first, then opens a
browser session, and closes it before touching the database again.
"""

import re
import shutil
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.choices import SurveyKind
from accounts.models import DailyAccountUsage, Note
from cs_platform import roles
from cs_platform.celery import app as celery_app
from health.models import AccountHealth, HealthChange, HealthSnapshot, Scorecard, ScorecardMeasure
from health.receivers import KICK_KEY
from health.scorecards import publish
from health.scoring import recompute
from journeys.escalations import open_escalation
from playbooks.choices import TaskStatus
from playbooks.models import Playbook, PlaybookRun, Task
from tests.factories import AccountFactory, EscalationFactory, SurveyResponseFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "pw-for-tests-only"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screenshots"
TIMEOUT_MS = 10_000


# --- Helpers ------------------------------------------------------------------------------


class Session:
    """One Chromium; each person gets a fresh context (cookies) and page.

    Every request of every page is checked: only the live server, data: and about: URLs.
    """

    def __init__(self, browser, live_server, capsys):
        self.browser = browser
        self.base = live_server.url
        self.capsys = capsys
        self.foreign: list[str] = []

    def page(self):
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", self._check)
        return context.new_page()

    def _check(self, request):
        url = request.url
        if not (url.startswith(self.base + "/") or url.startswith(("data:", "about:"))):
            self.foreign.append(url)

    def log_in(self, username):
        page = self.page()
        page.goto(self.base + reverse("home"))
        assert "/login/" in page.url
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name=re.compile("log in", re.I)).click()
        page.wait_for_url(self.base + reverse("home"))
        return page

    def shoot(self, page, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        # A full-page capture resizes the view for a moment; Chromium may then move the
        # scroll position under the next click. Start the next action from the top.
        page.evaluate("window.scrollTo(0, 0)")
        with self.capsys.disabled():  # shown in the test output even when it passes
            print(f"\n[screenshot] {path}", end="")
        return path


@contextmanager
def browser_session(live_server, capsys):
    """Chromium, started only after the step's data is in the database."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        session = Session(browser, live_server, capsys)
        try:
            yield session
        finally:
            browser.close()
    assert session.foreign == [], f"requests to other hosts: {session.foreign}"


def only_scorecard(measures):
    """Score with just these measures (weight, params), bands green >= 70, yellow >= 40."""
    Scorecard.objects.update(enabled=False)
    card = Scorecard.objects.create(name="Browser tests", priority=1)
    for position, (kind, weight, params) in enumerate(measures):
        ScorecardMeasure.objects.create(
            scorecard=card, kind=kind, weight=weight, params=params, position=position
        )
    publish(card)
    return card


def history(account, start, daily_change, days=30):
    """Past snapshots (for the trend chart) and product usage (for the usage chart)."""
    today = timezone.localdate()
    for i in range(days, 0, -1):
        day = today - timedelta(days=i)
        score = start + daily_change * (days - i)
        color = "green" if score >= 70 else "yellow" if score >= 40 else "red"
        HealthSnapshot.objects.create(account=account, date=day, score=score, color=color)
        if day.weekday() < 5:
            DailyAccountUsage.objects.create(
                account=account, date=day, event_count=40 + 3 * (i % 7), active_contacts=4 + i % 3
            )


@pytest.fixture
def eager_celery(settings):
    """The receivers' Celery tasks run in-process when their data commits (no broker)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


# --- 1. A CSM's day ------------------------------------------------------------------------


def test_a_csm_works_their_book(live_server, make_user, eager_celery, capsys):
    maya = make_user("maya", roles.CSM, first_name="Maya", last_name="Lopez")
    omar = make_user("omar", roles.CSM, first_name="Omar", last_name="Said")
    only_scorecard([("nps", 1, {"zero_at": 0, "full_at": 10}), ("open_escalations", 1, {})])
    soon = timezone.localdate() + timedelta(days=45)
    northwind = AccountFactory(
        name="Northwind Analytics", domain="northwind.example", plan="Enterprise", owner=maya
    )
    bluefin = AccountFactory(
        name="Bluefin Health", domain="bluefin.example", owner=maya, renewal_date=soon
    )
    acme = AccountFactory(
        name="Acme Rockets", domain="acme.example", plan="Enterprise", owner=maya, arr=90000
    )
    AccountFactory(name="Driftwood Supply", domain="driftwood.example", owner=maya)  # unscored
    zenith = AccountFactory(name="Zenith Labs", domain="zenith.example", owner=omar)
    for account, nps in ((northwind, 9), (bluefin, 6), (acme, 2), (zenith, 10)):
        SurveyResponseFactory(
            account=account, kind=SurveyKind.NPS, score=nps, responded_at=timezone.now()
        )
    EscalationFactory(account=bluefin, severity="high", opened_at=timezone.now())
    EscalationFactory(account=acme, severity="critical", opened_at=timezone.now())
    EscalationFactory(account=acme, severity="high", opened_at=timezone.now())
    history(northwind, start=72, daily_change=0.7)
    recompute([northwind.pk, bluefin.pk, acme.pk, zenith.pk])
    colours = dict(AccountHealth.objects.values_list("account__name", "color"))
    assert colours == {
        "Northwind Analytics": "green",
        "Bluefin Health": "yellow",
        "Acme Rockets": "red",
        "Zenith Labs": "green",
    }
    task = Task.objects.create(
        account=northwind,
        assignee=maya,
        title="Send the QBR deck",
        body="Include the adoption numbers.",
        due_date=timezone.localdate() + timedelta(days=2),
    )

    with browser_session(live_server, capsys) as session:
        page = session.log_in("maya")

        # Portfolio: my book, counted by colour, each colour with a word (not colour alone).
        assert page.locator("h1").inner_text().startswith("My book")
        assert "4 active accounts" in page.locator("h1").inner_text()
        tiles = page.get_by_role("region", name="Accounts by health colour")
        for css, count, label in (
            ("green", "1", "Green"),
            ("yellow", "1", "Yellow"),
            ("red", "1", "Red"),
            ("none", "1", "Not scored"),
        ):
            tile = tiles.locator(f".tile-{css}")
            assert tile.locator(".tile-count").inner_text() == count
            assert label in tile.inner_text()
        assert "Bluefin Health" in page.get_by_text("At-risk renewals").locator("..").inner_text()
        session.shoot(page, "portfolio")

        # Accounts list: everyone's accounts, then narrowed by plan, by colour, by search.
        page.locator(".topbar nav").get_by_role("link", name="Accounts").click()
        page.wait_for_url("**/accounts/")
        rows = page.locator("table.accounts tbody tr")
        assert rows.count() == 5
        session.shoot(page, "accounts-list")
        page.get_by_label("Plan", exact=True).fill("Enterprise")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"plan=Enterprise"))
        assert _names(rows) == ["Acme Rockets", "Northwind Analytics"]
        page.get_by_label("Health", exact=True).select_option("red")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"color=red"))
        assert _names(rows) == ["Acme Rockets"]
        page.get_by_label("Health", exact=True).select_option("")
        page.get_by_label("Search", exact=True).fill("northwind.ex")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"q=northwind"))
        assert _names(rows) == ["Northwind Analytics"]

        # Account 360: header, health, the open task; a call note lands on the timeline.
        rows.get_by_role("link", name="Northwind Analytics").click()
        page.wait_for_url(f"**/accounts/{northwind.pk}/")
        assert page.locator("h1").inner_text().startswith("Northwind Analytics")
        assert "Green" in page.locator("header.account-head").inner_text()
        assert "Send the QBR deck" in page.locator("#actions").inner_text()
        note_form = page.locator(f"form[action='{reverse('account-note', args=[northwind.pk])}']")
        note_form.locator("select[name=kind]").select_option(label="Call")
        note_form.locator("textarea[name=body]").fill(
            "Call with Dana: wants SSO before the renewal."
        )
        note_form.get_by_role("button", name="Add to timeline").click()
        page.wait_for_load_state()
        assert "Call added to the timeline." in page.locator("main .message").inner_text()
        latest = page.locator("ol.timeline > li").first
        assert "Call with Dana: wants SSO before the renewal." in latest.inner_text()
        assert latest.locator(".t-kind").inner_text().lower() == "note"
        assert latest.locator("strong").inner_text().lower() == "call"
        session.shoot(page, "account-360")

        # The tasks inbox: complete inline (htmx), the counts follow, the task is under Done.
        page.locator(".topbar nav").get_by_role("link", name="My tasks").click()
        page.wait_for_url("**/tasks/")
        row = page.get_by_role("row").filter(has_text="Send the QBR deck")
        assert "Northwind Analytics" in row.inner_text()
        row.get_by_role("button", name="Complete").click()
        row.get_by_text("✓ Done").wait_for()
        tabs = page.get_by_role("navigation", name="Task status")
        tabs.get_by_role("link", name=re.compile(r"^Open\s+0$")).wait_for()
        tabs.get_by_role("link", name=re.compile(r"^Done\s+1$")).click()
        page.wait_for_url(re.compile(r"tab=done"))
        done = page.get_by_role("row").filter(has_text="Send the QBR deck")
        assert "✓ Done" in done.inner_text()
        assert done.get_by_role("button", name="Reopen").count() == 1

        # The metrics page renders its charts from our own server.
        page.locator(".topbar nav").get_by_role("link", name="Metrics").click()
        page.wait_for_url("**/metrics/")
        assert page.locator("svg").count() >= 1
        session.shoot(page, "metrics")

    assert Note.objects.get(account=northwind).kind == "call"
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE


def _names(rows) -> list[str]:
    return [rows.nth(i).locator("strong").inner_text() for i in range(rows.count())]


# --- 2. Admin builds a playbook; the account goes yellow; the CSM gets the task -------------


def test_a_green_to_yellow_playbook_puts_a_task_in_the_csms_inbox(
    live_server, make_user, eager_celery, capsys
):
    make_user("ada", roles.ADMIN, is_staff=True, first_name="Ada", last_name="Admin")
    maya = make_user("maya", roles.CSM, first_name="Maya", last_name="Lopez")
    omar = make_user("omar", roles.CSM, first_name="Omar", last_name="Said")
    only_scorecard([("open_escalations", 1, {"none_open": "full_points"})])
    harbor = AccountFactory(name="Harbor Freight Co", domain="harbor.example", owner=maya)
    zenith = AccountFactory(name="Zenith Labs", domain="zenith.example", owner=omar)
    EscalationFactory(account=zenith, severity="high", opened_at=timezone.now())
    recompute([harbor.pk, zenith.pk])
    assert harbor.health.color == "green"  # no open escalation: 100 points

    with browser_session(live_server, capsys) as session:
        page = session.log_in("ada")
        page.goto(session.base + reverse("scorecards:list"))
        assert "Browser tests" in page.locator("main").inner_text()
        session.shoot(page, "scorecards")

        page.goto(session.base + reverse("playbooks:create"))
        page.get_by_label("Name:", exact=True).fill("Green to yellow: check in")
        description = page.get_by_label("Description:", exact=True)
        description.fill("Call the customer the day their health slips.")
        page.get_by_label("Enabled:", exact=True).check()
        page.get_by_label("Cooldown days:", exact=True).fill("7")
        page.get_by_label("Trigger:", exact=True).select_option(label="Health colour changed")
        action = page.locator("fieldset.action").first
        action.locator("select[name='actions-0-kind']").select_option(label="Create a task")
        from_green = page.locator("input[name=from_colors][value=green]")
        task_title = action.locator("input[name='actions-0-title']")
        # Only the chosen kinds' parameters show.
        assert from_green.is_visible() and task_title.is_visible()
        assert action.locator("input[name='actions-0-url']").is_hidden()
        assert page.locator("input[name=days]").is_hidden()
        from_green.check()
        page.locator("input[name=to_colors][value=yellow]").check()
        action.locator("select[name='actions-0-recipient']").select_option(
            label="The account owner"
        )
        task_title.fill("Check in with {{ account.name }}")
        action.locator("textarea[name='actions-0-body']").fill(
            "{{ account.name }} is {{ account.health_color }} now: call the main admin."
        )
        action.locator("input[name='actions-0-due_in_days']").fill("2")
        action.locator("select[name='actions-0-priority']").select_option("high")
        session.shoot(page, "playbook-builder")
        with page.expect_navigation():
            page.get_by_role("button", name="Save playbook").click()
        # The untouched spare action slot submits nothing, so the save goes through.
        errors = page.locator(".error, .errorlist").all_inner_texts()
        assert re.search(r"/playbooks/\d+/$", page.url), f"not saved: {errors}"
        assert "Green to yellow: check in" in page.locator("h1").inner_text()
        assert "enabled" in page.locator("h1").inner_text()
        assert "health green → yellow" in page.locator("main").inner_text()

        # The preview: the accounts in the trigger's target colour now.
        page.get_by_role("button", name="Which accounts match now?").click()
        preview = page.locator("#preview")
        preview.get_by_text("currently yellow").wait_for()
        assert "Zenith Labs" in preview.inner_text()
        assert "Harbor Freight Co" not in preview.inner_text()
        session.shoot(page, "playbook-detail-preview")

    playbook = Playbook.objects.get()
    assert playbook.enabled
    assert playbook.trigger_params == {"from_colors": ["green"], "to_colors": ["yellow"]}

    # New data: an escalation. The drain rescored it, the change reached the engine.
    cache.delete(KICK_KEY)  # the drain is kicked at most once a second: not skipped here
    open_escalation(harbor, severity="high", title="Nightly sync failing since Monday")
    change = HealthChange.objects.get(account=harbor, to_color="yellow")
    assert change.from_color == "green"
    run = PlaybookRun.objects.get(playbook=playbook, account=harbor)
    assert (
        change.explanation in run.explanation
    )  # "health went green -> yellow at ...; Yellow (50): ..."
    task = Task.objects.get(created_by_run=run)
    assert (task.assignee, task.title, task.priority) == (
        maya,
        "Check in with Harbor Freight Co",
        "high",
    )
    assert not PlaybookRun.objects.filter(account=zenith).exists()

    with browser_session(live_server, capsys) as session:
        page = session.log_in("maya")
        page.locator(".topbar nav").get_by_role("link", name="My tasks").click()
        page.wait_for_url("**/tasks/")
        row = page.get_by_role("row").filter(has_text="Check in with Harbor Freight Co")
        text = row.inner_text()
        assert "Harbor Freight Co is yellow now: call the main admin." in text
        assert f"Why: {run.explanation}"[:60] in re.sub(r"\s+", " ", text)
        assert "High" in text
        assert row.get_by_role("link", name="Green to yellow: check in").count() == 1
        assert row.get_by_role("button", name="Complete").count() == 1
        session.shoot(page, "tasks-inbox")

        # The run behind the task, with its full explanation.
        row.get_by_role("link", name="Green to yellow: check in").click()
        page.wait_for_url(f"**/playbooks/runs/{run.pk}/")
        assert run.explanation in re.sub(r"\s+", " ", page.locator("main").inner_text())


# --- 4. A viewer reads, and only reads --------------------------------------------------------


def test_a_viewer_sees_no_edit_controls_and_cannot_post(client, make_user):
    maya = make_user("maya", roles.CSM)
    make_user("vera", roles.VIEWER)
    account = AccountFactory(name="Northwind Analytics", owner=maya)
    assert client.login(username="vera", password=PASSWORD)

    page = client.get(reverse("account-360", args=[account.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Read only" in html
    for url in (
        reverse("account-note", args=[account.pk]),
        reverse("account-task", args=[account.pk]),
    ):
        assert f'action="{url}"' not in html

    response = client.post(
        reverse("account-note", args=[account.pk]), {"kind": "note", "body": "sneaky"}
    )
    assert response.status_code == 403
    assert not Note.objects.exists()
