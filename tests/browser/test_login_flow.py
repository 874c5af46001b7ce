"""A person in a real browser: log in, see the portfolio, log out."""

import shutil
from contextlib import contextmanager

import pytest
from django.urls import reverse

from cs_platform import roles
from tests.factories import AccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextmanager
def browser_page():
    """Chromium, started only after the test's data is in the database.

    Playwright's sync API runs its own event loop and greenlet: ORM calls made while it runs
    would open a second database connection that nothing closes, so tests write their data
    first, then open the page.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_a_csm_logs_in_and_sees_the_portfolio(live_server, make_user):
    make_user("maya", roles.CSM, first_name="Maya", last_name="Lopez")
    AccountFactory(name="Northwind Analytics", plan="Enterprise")
    AccountFactory(name="Bluefin Health")
    with browser_page() as page:
        _log_in_and_out(page, live_server)


def _log_in_and_out(page, live_server):
    page.goto(live_server.url + reverse("home"))
    assert "/login/" in page.url
    page.fill("#id_username", "maya")
    page.fill("#id_password", "pw-for-tests-only")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    assert page.locator("h1").inner_text().startswith("My book")

    page.click(".topbar nav >> text=Accounts")
    rows = page.locator("table.accounts tbody tr")
    assert rows.count() == 2
    assert "Northwind Analytics" in rows.nth(1).inner_text()
    assert page.locator(".topbar .who").inner_text().startswith("Maya Lopez")
    # The stylesheet loads from our own server (no CDN).
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(247, 248, 250)"

    page.click("text=Log out")
    page.wait_for_url("**/login/")


def test_a_wrong_password_keeps_the_visitor_out(live_server, make_user):
    make_user("maya", roles.CSM)
    with browser_page() as page:
        page.goto(live_server.url + reverse("login"))
        page.fill("#id_username", "maya")
        page.fill("#id_password", "wrong")
        page.click("button[type=submit]")
        assert page.locator(".error").inner_text().startswith("Your username and password")
        assert "/login/" in page.url
