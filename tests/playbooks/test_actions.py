"""Each action kind, the signed webhook and its SSRF guard, retries with backoff, manual retry."""

import hashlib
import hmac
import socket
from unittest import mock

import pytest
from django import forms

from accounts.models import Note
from journeys.models import AccountStage
from playbooks.actions import backoff_seconds, clean_action
from playbooks.api.views import retry_actions
from playbooks.engine import evaluate
from playbooks.models import ActionAttempt, PlaybookRun, RunAction, Task
from playbooks.occurrences import health_occurrences
from playbooks.webhooks import DeliveryError, check_destination, post_json
from tests.factories import AccountFactory, ContactFactory
from tests.playbooks.factories import HealthChangeFactory, PlaybookActionFactory, PlaybookFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_with(django_capture_on_commit_callbacks):
    """run_with(action kind, params, account=...) -> the run after its actions ran."""

    def run(kind, params, account=None, steps=()):
        playbook = PlaybookFactory()
        for position, (k, p) in enumerate([(kind, params), *steps]):
            PlaybookActionFactory(
                playbook=playbook, position=position, kind=k, params=clean_action(k, p)
            )
        change = HealthChangeFactory(account=account or AccountFactory())
        with django_capture_on_commit_callbacks(execute=True):
            evaluate(health_occurrences([change.pk]))
        return PlaybookRun.objects.get(playbook=playbook)

    return run


def attempts(run):
    return list(
        ActionAttempt.objects.filter(action__run=run)
        .order_by("action__position", "number")
        .values_list("status", "response_code")
    )


def test_the_webhook_is_signed_over_timestamp_and_body(run_with, receiver):
    run = run_with("webhook", {"url": receiver.url, "secret": "s3cret"})
    (request,) = receiver.requests
    headers = request["headers"]
    timestamp = headers["X-CS-Timestamp"]
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request["body"], hashlib.sha256)
    assert headers["X-CS-Signature"] == "sha256=" + expected.hexdigest()
    payload = receiver.json()
    assert payload["run"]["id"] == run.pk
    assert payload["run"]["explanation"] == run.explanation
    assert payload["account"]["name"] == run.account.name
    assert attempts(run) == [("succeeded", None)]
    assert RunAction.objects.get(run=run).result == "HTTP 200"


def test_a_webhook_secret_is_generated_when_none_is_given():
    params = clean_action("webhook", {"url": "https://hooks.example.com/x"})
    assert len(params["secret"]) >= 32


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "127.0.0.1", "169.254.169.254", "192.168.0.1", "::1"]
)
def test_private_loopback_and_link_local_addresses_are_refused(address, settings):
    settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = []
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(DeliveryError) as excinfo:
        check_destination(f"http://{host}/hook")
    assert excinfo.value.permanent and "Refused" in str(excinfo.value)


def test_a_name_resolving_to_a_private_address_is_refused(settings):
    settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = []
    fake = [(2, 1, 6, "", ("10.0.0.7", 443))]
    with mock.patch("socket.getaddrinfo", return_value=fake), pytest.raises(DeliveryError):
        check_destination("https://innocent.example.com/hook")


def _resolving(monkeypatch, names: dict[str, str]):
    """Make these host names resolve to these addresses (no real DNS in tests)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_the_allow_list_admits_a_host_or_a_network(settings, monkeypatch):
    _resolving(monkeypatch, {"internal.example": "10.9.9.9"})
    settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = ["10.0.0.0/8", "internal.example"]
    assert str(check_destination("http://10.1.2.3/hook")) == "10.1.2.3"
    assert str(check_destination("http://internal.example/hook")) == "10.9.9.9"
    settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(DeliveryError, match="Refused: internal.example resolves to 10.9.9.9"):
        check_destination("http://internal.example/hook")


def test_the_request_goes_to_the_checked_address_with_the_host_name(receiver, monkeypatch):
    """DNS is asked once: the connection is pinned to the address that passed the check."""
    port = receiver.url.split(":")[2].split("/")[0]
    _resolving(monkeypatch, {"hooks.example": "127.0.0.1"})
    assert post_json(f"http://hooks.example:{port}/hook?x=1", {"a": 1}) == 200
    request = receiver.requests[-1]
    assert request["headers"]["Host"] == f"hooks.example:{port}"
    assert request["path"] == "/hook?x=1"


def test_a_refused_webhook_fails_at_once_without_retries(run_with, receiver, settings):
    url = receiver.url
    settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = []
    run = run_with("webhook", {"url": url})
    assert receiver.requests == []
    assert attempts(run) == [("failed", None)]
    assert "Refused: 127.0.0.1" in ActionAttempt.objects.get().error
    run.refresh_from_db()
    assert run.status == "failed"


def test_retries_back_off_exponentially_then_succeed(run_with, receiver, settings):
    settings.PLAYBOOK_RETRY_BACKOFF_SECONDS = 30
    receiver.codes = [500, 503]
    run = run_with("webhook", {"url": receiver.url})
    assert attempts(run) == [("failed", 500), ("failed", 503), ("succeeded", None)]
    first, second, _ = ActionAttempt.objects.order_by("number")
    assert (first.next_retry_at - first.finished_at).total_seconds() == pytest.approx(30, abs=1)
    assert (second.next_retry_at - second.finished_at).total_seconds() == pytest.approx(60, abs=1)
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [30, 60, 120]
    run.refresh_from_db()
    assert run.status == "succeeded" and len(receiver.requests) == 3


def test_a_failed_action_can_be_retried_by_hand(run_with, receiver):
    receiver.codes = [400]  # a client error is not retried by itself
    run = run_with("webhook", {"url": receiver.url})
    action = RunAction.objects.get(run=run)
    assert action.status == "failed"
    retry_actions([action])
    action.refresh_from_db()
    run.refresh_from_db()
    assert action.status == "succeeded" and run.status == "succeeded"
    assert list(action.attempts.values_list("number", "manual", "status")) == [
        (1, False, "failed"),
        (2, True, "succeeded"),
    ]


def test_slack_gets_text_and_blocks_with_escaped_values(run_with, receiver):
    account = AccountFactory(name="<Evil & Co>")
    run_with("slack", {"url": receiver.url, "text": "*{{ account.name }}* turned yellow"}, account)
    message = receiver.json()
    assert message["text"] == "*&lt;Evil &amp; Co&gt;* turned yellow"
    assert message["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*&lt;Evil &amp; Co&gt;* turned yellow"},
    }
    assert message["blocks"][1]["type"] == "context"
    assert "X-CS-Signature" not in receiver.requests[0]["headers"]


def test_email_goes_to_the_owner(run_with, mailoutbox, make_user):
    owner = make_user("maya", email="maya@example.com")
    run = run_with(
        "send_email",
        {"subject": "{{ account.name }} needs you", "body": "Hi {{ account.owner }}"},
        AccountFactory(name="Acme", owner=owner),
    )
    (mail,) = mailoutbox
    assert mail.to == ["maya@example.com"] and mail.subject == "Acme needs you"
    assert mail.body.startswith("Hi maya") and run.explanation in mail.body


def test_email_goes_to_the_contacts_of_a_persona(run_with, mailoutbox):
    account = AccountFactory()
    ContactFactory(account=account, persona="admin", email="admin@acme.example")
    ContactFactory(account=account, persona="end_user", email="user@acme.example")
    ContactFactory(account=account, persona="admin", email="gone@acme.example", is_active=False)
    run_with(
        "send_email",
        {"recipient": "persona", "persona": "admin", "subject": "Hello", "body": "Hi"},
        account,
    )
    assert mailoutbox[0].to == ["admin@acme.example"]


def test_a_task_renders_hostile_names_as_plain_text(run_with, csm, client):
    account = AccountFactory(name="<script>alert(1)</script>{{ 7|add:1 }}", owner=csm)
    run_with("create_task", {"title": "Call {{ account.name }}", "due_in_days": 2}, account)
    task = Task.objects.get()
    assert task.title == "Call <script>alert(1)</script>{{ 7|add:1 }}"  # data, not template
    client.force_login(csm)
    page = client.get("/tasks/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page


def test_a_task_for_a_named_user(run_with, make_user):
    priya = make_user("priya")
    run_with("create_task", {"title": "Look", "recipient": "user", "user": "priya"})
    assert Task.objects.get().assignee == priya


def test_the_stage_move_note_and_field_actions(run_with, make_user):
    make_user("jonas")
    account = AccountFactory(name="Acme")
    run = run_with(
        "move_stage",
        {"stage": "escalation"},
        account,
        steps=[
            ("add_note", {"body": "Playbook: {{ run.explanation }}", "note_kind": "note"}),
            ("set_field", {"field": "touch_model", "value": "high"}),
            ("set_field", {"field": "owner", "value": "jonas"}),
        ],
    )
    assert AccountStage.objects.get(account=account).stage == "escalation"
    assert account.stage_transitions.get().rule == run.playbook.name
    assert Note.objects.get(account=account).body == f"Playbook: {run.explanation}"
    account.refresh_from_db()
    assert account.touch_model == "high" and account.owner.username == "jonas"
    assert (
        list(RunAction.objects.filter(run=run).values_list("status", flat=True))
        == ["succeeded"] * 4
    )


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("webhook", {"url": "ftp://example.com/x"}, "params.url"),
        (
            "webhook",
            {"url": "https://example.com", "timeout_seconds": -1},
            "params.timeout_seconds",
        ),
        ("create_task", {"title": "{% load static %}hi"}, "params.title"),
        ("create_task", {"title": "{{ account.name|nofilter }}"}, "params.title"),
        ("create_task", {"title": "x", "due_in_days": -3}, "params.due_in_days"),
        ("create_task", {"title": "x", "recipient": "user", "user": "nobody"}, "params.user"),
        ("set_field", {"field": "arr", "value": "0"}, "params.field"),
        ("set_field", {"field": "touch_model", "value": "sideways"}, "params.value"),
        ("move_stage", {"stage": "limbo"}, "params.stage"),
        ("add_note", {"body": "x", "colour": "red"}, "params"),
        ("teleport", {}, "kind"),
    ],
)
def test_bad_action_parameters_are_refused_naming_the_field(kind, params, field):
    with pytest.raises(forms.ValidationError) as excinfo:
        clean_action(kind, params)
    assert field in excinfo.value.message_dict
