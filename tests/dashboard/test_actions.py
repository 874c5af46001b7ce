"""The account page's actions (POST): note, task, health override, stage move, key contact,
sentiment. Who may act (owner CSM, admin) and who is refused (viewer, other CSMs,
anonymous); bad input is refused with a message and writes nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import DirtyAccount, Note
from health.models import CsmSentiment, HealthOverride
from journeys.choices import Stage
from journeys.models import AccountStage, StageTransition
from journeys.stages import move_account
from playbooks.models import Task
from tests.dashboard.helpers import set_health, text, today
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(csm):
    account = AccountFactory(name="Northwind", owner=csm)
    set_health(account, "green", 81)
    return account


@pytest.fixture
def contact(account):
    return ContactFactory(account=account, name="Ada Admin")


@pytest.fixture
def logged_in(client, csm):
    client.force_login(csm)
    return client


def post(client, name, account, data=None, **kwargs):
    return client.post(reverse(name, args=[account.pk, *kwargs.values()]), data or {})


def follow(client, response):
    """The page after an action: the redirect's target, or the page itself when refused (400,
    the form's errors in place)."""
    if response.status_code == 400:
        return response
    assert response.status_code == 302
    return client.get(response["Location"])


def snapshot_of_writes():
    return (
        Note.objects.count(),
        Task.objects.count(),
        HealthOverride.objects.count(),
        HealthOverride.objects.filter(ended_at__isnull=False).count(),
        StageTransition.objects.count(),
        CsmSentiment.objects.count(),
        DirtyAccount.objects.count(),
        sorted(AccountStage.objects.values_list("account_id", "stage")),
    )


# --- notes --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["note", "call", "meeting"])
def test_a_note_call_or_meeting_appears_in_the_timeline(logged_in, account, csm, kind):
    response = post(logged_in, "account-note", account, {"kind": kind, "body": f"A {kind} body"})
    assert response["Location"] == reverse("account-360", args=[account.pk])
    note = Note.objects.get()
    assert (note.kind, note.body, note.author, note.account) == (
        kind, f"A {kind} body", csm, account,
    )  # fmt: skip
    assert abs(note.occurred_at - timezone.now()) < timedelta(minutes=1)
    page = follow(logged_in, response)
    assert f"{kind.capitalize()} added to the timeline." in text(page)
    entry = page.context["timeline"][0]
    assert (entry["kind"], entry["title"], entry["body"], entry["who"]) == (
        "note", kind.capitalize(), f"A {kind} body", "csm",
    )  # fmt: skip


def test_a_past_call_is_logged_when_it_happened(logged_in, account):
    when = (timezone.now() - timedelta(days=2)).replace(microsecond=0, second=0)
    post(logged_in, "account-note", account, {
        "kind": "call", "body": "Earlier call", "occurred_at": when.strftime("%Y-%m-%dT%H:%M"),
    })  # fmt: skip
    assert Note.objects.get().occurred_at == when


@pytest.mark.parametrize(
    "data, message",
    [
        ({"kind": "call", "body": ""}, "Body: This field is required."),
        ({"kind": "gossip", "body": "x"}, "Select a valid choice."),
        (
            {"kind": "call", "body": "x", "occurred_at": "2999-01-01T10:00"},
            "Occurred at: Cannot be in the future.",
        ),
        ({"kind": "call", "body": "x", "occurred_at": "yesterday"}, "Enter a valid date/time."),
    ],
)
def test_a_bad_note_is_refused_with_a_message(logged_in, account, data, message):
    before = snapshot_of_writes()
    page = follow(logged_in, post(logged_in, "account-note", account, data))
    assert message in text(page)
    assert snapshot_of_writes() == before


# --- tasks --------------------------------------------------------------------------------


def test_a_task_defaults_to_the_user_as_assignee(logged_in, account, csm):
    due = today() + timedelta(days=3)
    response = post(logged_in, "account-task", account, {
        "title": "Prepare the QBR", "body": "Slides", "due_date": due.isoformat(),
        "priority": "high",
    })  # fmt: skip
    task = Task.objects.get()
    assert (task.assignee, task.created_by, task.title, task.due_date, task.priority) == (
        csm, csm, "Prepare the QBR", due, "high",
    )  # fmt: skip
    page = follow(logged_in, response)
    assert "Task created." in text(page)
    assert f"Prepare the QBR csm · due {due:%Y-%m-%d} · High" in text(page)
    assert page.context["timeline"][0]["title"] == "Prepare the QBR"


def test_the_task_form_preselects_the_user(logged_in, account, csm):
    html = logged_in.get(reverse("account-360", args=[account.pk])).content.decode()
    assert f'<option value="{csm.pk}" selected>' in html


def test_a_task_for_a_colleague(logged_in, account, make_user):
    colleague = make_user("colleague")
    post(logged_in, "account-task", account, {
        "title": "Handover", "priority": "normal", "assignee": colleague.pk,
    })  # fmt: skip
    assert Task.objects.get().assignee == colleague


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"title": "Late", "priority": "normal",
             "due_date": (timezone.localdate() - timedelta(days=1)).isoformat()},
            "Due date: The due date has passed.",
        ),
        ({"title": "", "priority": "normal"}, "Title: This field is required."),
        ({"title": "x", "priority": "whenever"}, "Select a valid choice."),
        ({"title": "x", "priority": "normal", "due_date": "2026-02-30"}, "Enter a valid date."),
    ],
)  # fmt: skip
def test_a_bad_task_is_refused_with_a_message(logged_in, account, data, message):
    before = snapshot_of_writes()
    page = follow(logged_in, post(logged_in, "account-task", account, data))
    assert message in text(page)
    assert snapshot_of_writes() == before


def test_a_task_cannot_go_to_a_viewer(logged_in, account, viewer):
    before = snapshot_of_writes()
    page = follow(logged_in, post(logged_in, "account-task", account, {
        "title": "x", "priority": "normal", "assignee": viewer.pk,
    }))  # fmt: skip
    assert "Select a valid choice." in text(page)
    assert snapshot_of_writes() == before


# --- health override ------------------------------------------------------------------------


def test_an_override_is_set_shown_and_ended(logged_in, account, csm):
    expires = today() + timedelta(days=14)
    response = post(logged_in, "account-override", account, {
        "color": "red", "reason": "Champion left", "expires_on": expires.isoformat(),
    })  # fmt: skip
    override = HealthOverride.objects.get()
    assert (override.color, override.reason, override.created_by) == ("red", "Champion left", csm)
    assert override.expires_at.date() == expires
    page = text(follow(logged_in, response))
    assert f"Health overridden to red until {expires}." in page
    assert "Override: ✕ Red until" in page and "Champion left" in page
    assert "✓ Green 81" in page  # the computed score stays next to it
    assert "End the override now" in page

    response = post(logged_in, "account-override", account, {"end": "1"})
    override.refresh_from_db()
    assert override.ended_at is not None
    assert (override.ended_by, override.end_reason) == (csm, "cancelled")
    page = text(follow(logged_in, response))
    assert "Override ended: the computed colour applies again." in page
    assert "Override: ✕ Red" not in page


def test_a_new_override_replaces_the_open_one(logged_in, account):
    for color in ("red", "yellow"):
        post(logged_in, "account-override", account, {
            "color": color, "reason": color,
            "expires_on": (today() + timedelta(days=5)).isoformat(),
        })  # fmt: skip
    assert list(HealthOverride.objects.order_by("id").values_list("color", "end_reason")) == [
        ("red", "replaced"), ("yellow", ""),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "data, message",
    [
        ({"color": "red", "reason": "x", "expires_on": "TODAY"},
         "Expires on: Must be after today: an override always ends."),
        ({"color": "red", "reason": "x", "expires_on": "YESTERDAY"},
         "Expires on: Must be after today"),
        ({"color": "red", "reason": "x", "expires_on": "NEXT_YEAR"},
         "Expires on: At most a year ahead."),
        ({"color": "blue", "reason": "x", "expires_on": "TOMORROW"}, "Select a valid choice."),
        ({"color": "red", "reason": "", "expires_on": "TOMORROW"},
         "Reason: This field is required."),
        ({"color": "red", "reason": "x"}, "Expires on: This field is required."),
    ],
)  # fmt: skip
def test_a_bad_override_is_refused_with_a_message(logged_in, account, data, message):
    days = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1, "NEXT_YEAR": 400}
    if "expires_on" in data:
        data = {**data, "expires_on": (today() + timedelta(days[data["expires_on"]])).isoformat()}
    before = snapshot_of_writes()
    page = follow(logged_in, post(logged_in, "account-override", account, data))
    assert message in text(page)
    assert snapshot_of_writes() == before


def test_ending_when_there_is_no_override_changes_nothing(logged_in, account):
    before = snapshot_of_writes()
    post(logged_in, "account-override", account, {"end": "1"})
    assert snapshot_of_writes() == before


# --- stage ---------------------------------------------------------------------------------


def test_moving_the_stage_needs_a_reason_and_shows_in_the_timeline(logged_in, account, csm):
    move_account(account, Stage.ONBOARDING)
    DirtyAccount.objects.all().delete()
    response = post(logged_in, "account-stage", account, {
        "to_stage": "adoption", "reason": "Went live last week",
    })  # fmt: skip
    assert AccountStage.objects.get(account=account).stage == "adoption"
    move = StageTransition.objects.latest("moved_at")
    assert (move.from_stage, move.to_stage, move.reason, move.moved_by) == (
        "onboarding", "adoption", "Went live last week", csm,
    )  # fmt: skip
    assert DirtyAccount.objects.filter(account=account).exists()
    page = follow(logged_in, response)
    assert "Moved to adoption." in text(page)
    entry = page.context["timeline"][0]
    assert (entry["kind"], entry["title"], entry["body"], entry["who"]) == (
        "stage", "Moved to adoption", "Went live last week", "csm",
    )  # fmt: skip
    assert "Stage Adoption since" in text(page)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"to_stage": "adoption", "reason": ""}, "Reason: This field is required."),
        ({"to_stage": "churn", "reason": "x"}, "Select a valid choice."),
        ({"to_stage": "onboarding", "reason": "again"}, "is already in onboarding"),
    ],
)
def test_a_bad_stage_move_is_refused_with_a_message(logged_in, account, data, message):
    move_account(account, Stage.ONBOARDING)
    DirtyAccount.objects.all().delete()
    before = snapshot_of_writes()
    page = follow(logged_in, post(logged_in, "account-stage", account, data))
    assert message in text(page)
    assert snapshot_of_writes() == before


# --- key contact ----------------------------------------------------------------------------


def test_marking_a_key_contact_toggles_it_and_marks_the_account_dirty(logged_in, account, contact):
    DirtyAccount.objects.all().delete()
    url = reverse("account-key-contact", args=[account.pk, contact.pk])
    page = follow(logged_in, logged_in.post(url))
    contact.refresh_from_db()
    assert contact.is_key_contact
    assert DirtyAccount.objects.filter(account=account).exists()
    assert "Ada Admin is now a key contact." in text(page)
    assert "★ Key" in text(page)
    DirtyAccount.objects.all().delete()
    page = follow(logged_in, logged_in.post(url))
    contact.refresh_from_db()
    assert not contact.is_key_contact
    assert DirtyAccount.objects.filter(account=account).exists()
    assert "Ada Admin is no longer a key contact." in text(page)


def test_a_contact_of_another_account_is_a_404(logged_in, account):
    elsewhere = ContactFactory(account=AccountFactory())
    url = reverse("account-key-contact", args=[account.pk, elsewhere.pk])
    before = snapshot_of_writes()
    assert logged_in.post(url).status_code == 404
    elsewhere.refresh_from_db()
    assert not elsewhere.is_key_contact
    assert snapshot_of_writes() == before


# --- sentiment ------------------------------------------------------------------------------


def test_sentiment_is_recorded_and_marks_the_account_dirty(logged_in, account, csm):
    DirtyAccount.objects.all().delete()
    page = follow(logged_in, post(logged_in, "account-sentiment", account, {
        "sentiment": "2", "note": "Budget cuts",
    }))  # fmt: skip
    row = CsmSentiment.objects.get()
    assert (row.account, row.sentiment, row.note, row.set_by) == (account, 2, "Budget cuts", csm)
    assert DirtyAccount.objects.filter(account=account).exists()
    assert "Sentiment recorded" in text(page)


@pytest.mark.parametrize("value", ["9", "0", "-1", "abc", ""])
def test_a_sentiment_outside_1_to_5_is_refused(logged_in, account, value):
    DirtyAccount.objects.all().delete()
    before = snapshot_of_writes()
    page = follow(logged_in, post(logged_in, "account-sentiment", account, {"sentiment": value}))
    assert "Sentiment: " in text(page)
    assert snapshot_of_writes() == before


# --- roles ----------------------------------------------------------------------------------

ACTIONS = [
    ("account-note", {"kind": "note", "body": "hello"}),
    ("account-task", {"title": "t", "priority": "normal"}),
    ("account-override", {"color": "red", "reason": "r", "expires_on": "TOMORROW"}),
    ("account-override", {"end": "1"}),
    ("account-stage", {"to_stage": "renewal", "reason": "r"}),
    ("account-sentiment", {"sentiment": "3"}),
    ("account-key-contact", {}),
]


def _act(client, name, account, contact, data):
    if data.get("expires_on") == "TOMORROW":
        data = {**data, "expires_on": (today() + timedelta(days=1)).isoformat()}
    args = [account.pk, contact.pk] if name == "account-key-contact" else [account.pk]
    return client.post(reverse(name, args=args), data)


@pytest.fixture
def prepared(account, contact, csm):
    """An open override (so that end=1 has something to end) and a stage; clean dirty marks."""
    from health.overrides import set_override

    set_override(account, "yellow", "seed", timezone.now() + timedelta(days=2), csm)
    move_account(account, Stage.ONBOARDING)
    DirtyAccount.objects.all().delete()
    return account, contact


@pytest.mark.parametrize("name, data", ACTIONS)
def test_a_viewer_is_refused_every_action(client, viewer, prepared, name, data):
    account, contact = prepared
    client.force_login(viewer)
    before = snapshot_of_writes()
    assert _act(client, name, account, contact, data).status_code == 403
    assert snapshot_of_writes() == before
    contact.refresh_from_db()
    assert not contact.is_key_contact


@pytest.mark.parametrize("name, data", ACTIONS)
def test_a_csm_who_does_not_own_the_account_is_refused(client, make_user, prepared, name, data):
    account, contact = prepared
    client.force_login(make_user("other-csm"))
    before = snapshot_of_writes()
    response = _act(client, name, account, contact, data)
    assert response.status_code == 403
    assert snapshot_of_writes() == before
    contact.refresh_from_db()
    assert not contact.is_key_contact


@pytest.mark.parametrize("name, data", ACTIONS)
def test_anonymous_visitors_are_sent_to_log_in(client, prepared, name, data):
    account, contact = prepared
    before = snapshot_of_writes()
    response = _act(client, name, account, contact, data)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
    assert snapshot_of_writes() == before


@pytest.mark.parametrize("name, data", ACTIONS)
def test_an_admin_acts_on_any_account(client, cs_admin, prepared, name, data):
    account, contact = prepared
    client.force_login(cs_admin)
    before = snapshot_of_writes()
    response = _act(client, name, account, contact, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("account-360", args=[account.pk])
    assert snapshot_of_writes() != before


@pytest.mark.parametrize("name, data", ACTIONS)
def test_the_owner_csm_acts(logged_in, prepared, name, data):
    account, contact = prepared
    before = snapshot_of_writes()
    response = _act(logged_in, name, account, contact, data)
    assert response.status_code == 302
    assert snapshot_of_writes() != before


@pytest.mark.parametrize("name, data", ACTIONS)
def test_actions_need_a_post(logged_in, prepared, name, data):
    account, contact = prepared
    args = [account.pk, contact.pk] if name == "account-key-contact" else [account.pk]
    assert logged_in.get(reverse(name, args=args)).status_code == 405


def test_a_viewer_sees_no_forms_or_buttons(client, viewer, account, contact):
    client.force_login(viewer)
    response = client.get(reverse("account-360", args=[account.pk]))
    html = response.content.decode()
    assert response.context["editable"] is False
    assert 'method="post"' not in html.split("</header>", 1)[1]  # the logout form is above
    assert "<textarea" not in html and "mark key" not in html
    assert "Read only: Casey Manager owns this account." in text(response)


def test_a_csm_who_does_not_own_it_sees_read_only_text(client, make_user, account, contact):
    client.force_login(make_user("other-csm"))
    response = client.get(reverse("account-360", args=[account.pk]))
    html = response.content.decode()
    assert 'method="post"' not in html.split("</header>", 1)[1]
    assert "Read only: Casey Manager owns this account. Ask the owner or an admin" in text(response)


def test_an_unowned_account_says_so(client, make_user):
    account = AccountFactory(owner=None)
    client.force_login(make_user("other-csm"))
    assert "this account has no owner" in text(
        client.get(reverse("account-360", args=[account.pk]))
    )


@pytest.mark.parametrize("who", ["csm", "cs_admin"])
def test_the_owner_and_an_admin_see_every_form(client, request, account, contact, who):
    client.force_login(request.getfixturevalue(who))
    html = client.get(reverse("account-360", args=[account.pk])).content.decode()
    for name in ("account-note", "account-task", "account-override", "account-stage",
                 "account-sentiment"):  # fmt: skip
        assert f'action="{reverse(name, args=[account.pk])}"' in html
    assert f'action="{reverse("account-key-contact", args=[account.pk, contact.pk])}"' in html
    assert "Read only" not in html


def test_an_action_on_an_unknown_account_is_a_404(logged_in):
    before = snapshot_of_writes()
    response = logged_in.post(reverse("account-note", args=[999999]), {"body": "x"})
    assert response.status_code == 404
    assert snapshot_of_writes() == before


def test_a_refused_form_keeps_what_was_typed_and_shows_the_error_in_place(logged_in, account):
    response = post(
        logged_in,
        "account-task",
        account,
        {"title": "Send the <b>deck</b>", "due_date": "2001-01-01", "priority": "high"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="Send the &lt;b&gt;deck&lt;/b&gt;"' in html  # kept, and escaped
    assert '<ul class="errorlist"' in html and "The due date has passed." in html
    assert "<details open><summary>Create a task</summary>" in html
