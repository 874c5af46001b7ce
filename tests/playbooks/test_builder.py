"""The builder pages: admins create and change playbooks; CSMs and viewers only read."""

import pytest

from playbooks.models import Playbook, PlaybookRun
from tests.factories import AccountFactory
from tests.playbooks.factories import HealthChangeFactory, PlaybookActionFactory, PlaybookFactory

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {
        "name": "Green to yellow check-in",
        "description": "",
        "enabled": "on",
        "trigger_kind": "health_color_changed",
        "from_colors": ["green"],
        "to_colors": ["yellow"],
        "cooldown_days": "14",
        "plans": "Growth, Enterprise",
        "touch_models": ["high"],
        "actions-TOTAL_FORMS": "2",
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "actions-0-kind": "create_task",
        "actions-0-ORDER": "2",
        "actions-0-title": "Check in with {{ account.name }}",
        "actions-0-due_in_days": "3",
        "actions-0-priority": "high",
        "actions-1-kind": "webhook",
        "actions-1-ORDER": "1",
        "actions-1-url": "https://hooks.example.com/cs",
    }
    data.update(overrides)
    return data


def test_an_admin_creates_a_playbook_with_ordered_actions(client, cs_admin):
    client.force_login(cs_admin)
    assert client.get("/playbooks/new/").status_code == 200
    response = client.post("/playbooks/new/", form_data())
    playbook = Playbook.objects.get()
    assert response.status_code == 302 and response.url == f"/playbooks/{playbook.pk}/"
    assert playbook.trigger_params == {"from_colors": ["green"], "to_colors": ["yellow"]}
    assert (playbook.plans, playbook.touch_models, playbook.cooldown_days) == (
        ["Growth", "Enterprise"], ["high"], 14,
    )  # fmt: skip
    assert [a.kind for a in playbook.actions.all()] == ["webhook", "create_task"]
    assert playbook.actions.first().params["secret"]
    assert playbook.created_by == cs_admin


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trigger_kind": "teleported"}, "Select a valid choice"),
        ({"trigger_kind": "renewal_within"}, "This field is required"),
        ({"trigger_kind": "renewal_within", "days": "-5"}, "greater than or equal to 1"),
        ({"cooldown_days": "-1"}, "greater than or equal to 0"),
        ({"actions-1-url": "ftp://example.com/x"}, "Enter an http(s) URL."),
        ({"actions-0-title": "{% if %}"}, "does not render"),
        ({"actions-0-kind": "", "actions-0-title": "x"}, "Choose what this action does."),
    ],
)
def test_a_bad_playbook_is_refused_with_the_reason_shown(client, cs_admin, overrides, message):
    client.force_login(cs_admin)
    response = client.post("/playbooks/new/", form_data(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Playbook.objects.exists()


def test_an_admin_edits_toggles_and_deletes(client, cs_admin):
    playbook = PlaybookActionFactory().playbook
    client.force_login(cs_admin)
    page = client.get(f"/playbooks/{playbook.pk}/edit/")
    assert page.status_code == 200 and "Check in with" in page.content.decode()
    client.post(f"/playbooks/{playbook.pk}/edit/", form_data(name="Renamed"))
    playbook.refresh_from_db()
    assert playbook.name == "Renamed" and playbook.actions.count() == 2
    client.post(f"/playbooks/{playbook.pk}/toggle/")
    playbook.refresh_from_db()
    assert playbook.enabled is False
    client.post(f"/playbooks/{playbook.pk}/delete/")
    assert not Playbook.objects.exists()


@pytest.mark.parametrize("who", ["csm", "viewer"])
def test_csms_and_viewers_read_without_edit_controls_and_cannot_change(client, request, who):
    user = request.getfixturevalue(who)
    playbook = PlaybookFactory()
    client.force_login(user)
    listing = client.get("/playbooks/").content.decode()
    detail = client.get(f"/playbooks/{playbook.pk}/").content.decode()
    assert playbook.name in listing and "New playbook" not in listing
    assert "edit-controls" not in detail and "/edit/" not in detail
    for url in ("/playbooks/new/", f"/playbooks/{playbook.pk}/edit/"):
        assert client.get(url).status_code == 403
        assert client.post(url, form_data()).status_code == 403
    for url in (f"/playbooks/{playbook.pk}/toggle/", f"/playbooks/{playbook.pk}/delete/"):
        assert client.post(url).status_code == 403
    assert Playbook.objects.get().enabled is True


def test_the_webhook_secret_is_shown_to_admins_only(client, cs_admin, csm):
    action = PlaybookActionFactory(
        kind="webhook", params={"url": "https://h.example.com", "secret": "topsecret"}
    )
    client.force_login(csm)
    assert "topsecret" not in client.get(f"/playbooks/{action.playbook_id}/").content.decode()
    client.force_login(cs_admin)
    assert "topsecret" in client.get(f"/playbooks/{action.playbook_id}/").content.decode()


def test_preview_and_backtest_partials(client, viewer):
    playbook = PlaybookFactory()
    HealthChangeFactory()
    client.force_login(viewer)
    assert "active account" in client.get(f"/playbooks/{playbook.pk}/preview/").content.decode()
    backtest = client.get(f"/playbooks/{playbook.pk}/backtest/?days=700")
    assert "would have fired" in backtest.content.decode()
    bad = client.get(f"/playbooks/{playbook.pk}/backtest/?days=-1")
    assert "greater than or equal to 1" in bad.content.decode()


def test_the_run_log_per_playbook_and_per_account(client, viewer):
    from playbooks.engine import evaluate
    from playbooks.occurrences import health_occurrences

    playbook = PlaybookFactory()
    account, other = AccountFactory(name="Acme"), AccountFactory(name="Globex")
    evaluate(health_occurrences([HealthChangeFactory(account=a).pk for a in (account, other)]))
    run = PlaybookRun.objects.get(account=account)
    client.force_login(viewer)
    by_playbook = client.get(f"/playbooks/{playbook.pk}/runs/").content.decode()
    assert "Acme" in by_playbook and "Globex" in by_playbook
    by_account = client.get(f"/playbooks/runs/?account={account.pk}").content.decode()
    assert "Acme" in by_account and "Globex" not in by_account
    filtered = client.get(f"/playbooks/runs/?account={account.pk}&status=failed").content.decode()
    assert "No runs." in filtered
    detail = client.get(f"/playbooks/runs/{run.pk}/").content.decode()
    assert "weekly active admins fell from 4 to 1" in detail


def test_anonymous_users_are_sent_to_log_in(client):
    assert client.get("/playbooks/").status_code == 302
