"""The playbooks API: scopes and roles, validation naming the field, runs, retries, tasks."""

import pytest

from cs_platform import roles
from playbooks.engine import evaluate
from playbooks.models import Playbook, PlaybookRun, RunAction, Task
from playbooks.occurrences import health_occurrences
from tests.factories import AccountFactory
from tests.playbooks.factories import HealthChangeFactory, PlaybookActionFactory, PlaybookFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/playbooks/"


def body(**overrides):
    data = {
        "name": "Renewal risk",
        "enabled": True,
        "trigger_kind": "renewal_within",
        "trigger_params": {"days": 90},
        "health_colors": ["yellow", "red"],
        "cooldown_days": 30,
        "actions": [
            {"kind": "create_task", "params": {"title": "Renewal risk: {{ account.name }}"}},
            {"kind": "webhook", "params": {"url": "https://hooks.example.com/x", "secret": "k"}},
        ],
    }
    data.update(overrides)
    return data


def test_an_admin_token_creates_a_playbook(api, issue_token):
    raw, _ = issue_token("read", "admin")
    response = api(raw).post(URL, body(), content_type="application/json")
    assert response.status_code == 201, response.json()
    playbook = Playbook.objects.get()
    assert playbook.trigger_params == {"days": 90}
    assert [a.kind for a in playbook.actions.all()] == ["create_task", "webhook"]
    assert response.json()["trigger_summary"] == "renewal within 90 days"


def test_writing_needs_the_admin_scope_and_reading_only_read(api, issue_token, make_user):
    raw, _ = issue_token("read", "write")
    assert api(raw).post(URL, body(), content_type="application/json").status_code == 403
    PlaybookFactory()
    viewer = make_user("v", roles.VIEWER)
    raw, _ = issue_token("read", user=viewer)
    assert api(raw).get(URL).json()["count"] == 1


@pytest.mark.parametrize("who", ["csm", "viewer"])
def test_csm_and_viewer_sessions_cannot_change_playbooks(client, request, who):
    client.force_login(request.getfixturevalue(who))
    playbook = PlaybookFactory()
    assert client.post(URL, body(), content_type="application/json").status_code == 403
    detail = f"{URL}{playbook.pk}/"
    assert (
        client.patch(detail, {"enabled": False}, content_type="application/json").status_code == 403
    )
    assert client.delete(detail).status_code == 403
    assert client.get(detail).status_code == 200


SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"


@pytest.mark.parametrize("who", ["csm", "viewer"])
def test_credentials_are_masked_for_everyone_but_admins(client, request, cs_admin, who):
    playbook = PlaybookFactory()
    PlaybookActionFactory(
        playbook=playbook,
        kind="webhook",
        position=0,
        params={"url": "https://h.example.com", "secret": "s3cr3t"},
    )
    PlaybookActionFactory(
        playbook=playbook, kind="slack", position=1, params={"url": SLACK_URL, "text": "Hi"}
    )
    client.force_login(request.getfixturevalue(who))
    (shown,) = client.get(URL).json()["results"]
    webhook, slack = (a["params"] for a in shown["actions"])
    assert webhook == {"url": "https://h.example.com", "secret": "********"}
    assert slack == {"url": "********", "text": "Hi"}  # the URL is the credential
    page = client.get(f"/playbooks/{playbook.pk}/").content.decode()
    assert "s3cr3t" not in page and SLACK_URL not in page and "https://h.example.com" in page

    client.force_login(cs_admin)
    (shown,) = client.get(URL).json()["results"]
    assert [a["params"]["url"] for a in shown["actions"]] == ["https://h.example.com", SLACK_URL]
    assert SLACK_URL in client.get(f"/playbooks/{playbook.pk}/").content.decode()


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"trigger_kind": "moon_phase"}, ("trigger_kind",)),
        ({"trigger_params": {}}, ("trigger_params", "days")),
        ({"trigger_params": {"days": -3}}, ("trigger_params", "days")),
        ({"trigger_params": {"days": 9, "hours": 2}}, ("trigger_params",)),
        ({"cooldown_days": -1}, ("cooldown_days",)),
        ({"health_colors": ["purple"]}, ("health_colors",)),
        ({"arr_min": 100, "arr_max": 10}, ("arr_max",)),
        ({"favourite_colour": "blue"}, ("favourite_colour",)),
        ({"actions": [{"kind": "webhook", "params": {"url": "file:///etc/passwd"}}]}, ("actions",)),
        ({"actions": [{"kind": "create_task", "params": {"title": "{% debug %}"}}]}, ("actions",)),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(
    client, cs_admin, overrides, path
):
    client.force_login(cs_admin)
    response = client.post(URL, body(**overrides), content_type="application/json")
    assert response.status_code == 400
    errors = response.json()
    for key in path:
        assert key in errors, errors
        errors = errors[key]
    assert not Playbook.objects.exists()


def test_a_bad_action_names_the_parameter(client, cs_admin):
    client.force_login(cs_admin)
    bad = body(actions=[{"kind": "webhook", "params": {"url": "ftp://x.example.com"}}])
    errors = client.post(URL, bad, content_type="application/json").json()
    item = errors["actions"][0] if isinstance(errors["actions"], list) else errors["actions"]["0"]
    assert item["params"]["url"] == ["Enter an http(s) URL."]


def test_an_admin_updates_and_deletes(client, cs_admin):
    client.force_login(cs_admin)
    playbook = PlaybookActionFactory().playbook
    detail = f"{URL}{playbook.pk}/"
    response = client.patch(
        detail, {"enabled": False, "actions": []}, content_type="application/json"
    )
    assert response.status_code == 200, response.json()
    playbook.refresh_from_db()
    assert playbook.enabled is False and playbook.actions.count() == 0
    assert client.delete(detail).status_code == 204


def test_preview_and_backtest_endpoints(client, viewer):
    playbook = PlaybookFactory()
    client.force_login(viewer)
    assert client.get(f"{URL}{playbook.pk}/preview/").json()["count"] == 0
    assert client.get(f"{URL}{playbook.pk}/backtest/?days=30").json()["days"] == 30
    assert client.get(f"{URL}{playbook.pk}/backtest/?days=0").status_code == 400


@pytest.fixture
def failed_run(receiver):
    receiver.codes = [400]
    PlaybookActionFactory(kind="webhook", params={"url": receiver.url, "secret": "k"})
    evaluate(health_occurrences([HealthChangeFactory(account=AccountFactory()).pk]))
    run = PlaybookRun.objects.get()
    from playbooks.tasks import execute_action_task

    execute_action_task.delay(RunAction.objects.get().pk)
    return run


def test_runs_since_a_moment_with_any_offset_are_compared_in_utc(client, viewer, failed_run):
    # PostgreSQL refuses offsets past +-15:59; ISO 8601 allows them (schemathesis sent -21:20).
    client.force_login(viewer)
    body = client.get("/api/v1/playbook-runs/", {"since": "0641-02-15T06:53:58-21:20"}).json()
    assert [r["id"] for r in body["results"]] == [failed_run.pk]
    assert (
        client.get("/api/v1/playbook-runs/", {"since": "2999-01-01T00:00:00+23:00"}).json()[
            "results"
        ]
        == []
    )


def test_runs_are_listed_with_their_attempts(client, viewer, failed_run):
    client.force_login(viewer)
    (run,) = client.get("/api/v1/playbook-runs/?status=failed").json()["results"]
    assert run["explanation"] == failed_run.explanation
    assert run["actions"][0]["attempts"][0]["response_code"] == 400


def test_only_admins_retry_a_failed_action(client, csm, cs_admin, failed_run):
    url = f"/api/v1/playbook-runs/{failed_run.pk}/retry/"
    client.force_login(csm)
    assert client.post(url, {}, content_type="application/json").status_code == 403
    client.force_login(cs_admin)
    response = client.post(url, {}, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["status"] == "succeeded"
    assert client.post(url, {}, content_type="application/json").status_code == 400


def test_a_csm_creates_tasks_for_their_book_only(client, csm, make_user):
    mine = AccountFactory(owner=csm)
    theirs = AccountFactory(owner=make_user("other"))
    client.force_login(csm)
    created = client.post("/api/v1/tasks/", {"account": mine.pk, "title": "Call"})
    assert created.status_code == 201 and created.json()["assignee"] == "csm"
    refused = client.post("/api/v1/tasks/", {"account": theirs.pk, "title": "Call"})
    assert refused.status_code == 403


def test_a_csm_completes_and_snoozes_their_own_tasks_but_not_others(client, csm, make_user):
    other = make_user("other")
    mine = Task.objects.create(account=AccountFactory(), assignee=csm, title="Mine")
    not_mine = Task.objects.create(account=AccountFactory(owner=other), assignee=other, title="x")
    client.force_login(csm)
    inbox = client.get("/api/v1/tasks/?mine=true&status=open").json()
    assert [t["title"] for t in inbox["results"]] == ["Mine"]
    snoozed = client.post(f"/api/v1/tasks/{mine.pk}/snooze/", {"days": 2}).json()
    assert snoozed["status"] == "snoozed"
    assert client.get("/api/v1/tasks/?mine=true&status=open").json()["count"] == 0
    assert client.post(f"/api/v1/tasks/{mine.pk}/complete/").json()["status"] == "done"
    assert client.post(f"/api/v1/tasks/{not_mine.pk}/complete/").status_code == 403


def test_a_viewer_reads_tasks_but_cannot_change_them(client, viewer, csm):
    task = Task.objects.create(account=AccountFactory(), assignee=csm, title="x")
    client.force_login(viewer)
    assert client.get("/api/v1/tasks/").status_code == 200
    assert client.post(f"/api/v1/tasks/{task.pk}/complete/").status_code == 403


def test_the_dashboard_inbox_completes_a_task(client, csm):
    task = Task.objects.create(account=AccountFactory(name="Acme"), assignee=csm, title="Call")
    client.force_login(csm)
    assert "Call" in client.get("/tasks/").content.decode()
    client.post(f"/tasks/{task.pk}/", {"do": "complete"})
    task.refresh_from_db()
    assert task.status == "done" and task.completed_at is not None
