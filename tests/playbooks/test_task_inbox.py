"""The tasks inbox at /tasks/: tabs and filters, inline actions (htmx and plain POST), roles,
bad input, empty states and a fixed number of queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cs_platform import roles
from playbooks.choices import RunStatus, TaskPriority, TaskStatus, TriggerKind
from playbooks.models import PlaybookRun, Task
from tests.factories import AccountFactory
from tests.playbooks.factories import PlaybookFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def make_task(assignee=None, account=None, **fields):
    account = account or AccountFactory(owner=assignee)
    return Task.objects.create(
        account=account, assignee=assignee, title=fields.pop("title", "Call them"), **fields
    )


def row_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="task-(\d+)"', response.content.decode())]


def today():
    return timezone.localdate()


# --- tabs, sorting, filters ----------------------------------------------------------------


def test_open_is_the_default_tab_and_an_ended_snooze_counts_as_open(client, csm):
    now = timezone.now()
    open_task = make_task(csm, title="Open one")
    awake = make_task(csm, title="Awake again")
    Task.objects.filter(pk=awake.pk).update(
        status=TaskStatus.SNOOZED, snoozed_until=now - timedelta(hours=1)
    )
    asleep = make_task(csm, title="Still asleep")
    asleep.snooze(now + timedelta(days=2))
    done = make_task(csm, title="Finished")
    done.complete()
    client.force_login(csm)

    response = client.get("/tasks/")
    assert response.status_code == 200
    assert set(row_ids(response)) == {open_task.pk, awake.pk}
    assert '<small id="task-open-count" data-open="2">2 open' in response.content.decode()
    assert 'id="tab-open" class="task-tab" aria-current="page"' in response.content.decode()
    assert row_ids(client.get("/tasks/?tab=snoozed")) == [asleep.pk]
    assert row_ids(client.get("/tasks/?tab=done")) == [done.pk]


def test_overdue_means_open_and_due_before_today_with_a_text_marker(client, csm):
    late = make_task(csm, title="Late", due_date=today() - timedelta(days=1))
    make_task(csm, title="Today", due_date=today())
    late_but_done = make_task(csm, title="Late done", due_date=today() - timedelta(days=3))
    late_but_done.complete()
    client.force_login(csm)
    response = client.get("/tasks/?tab=overdue")
    assert row_ids(response) == [late.pk]
    page = client.get("/tasks/").content.decode()
    assert "⚠ Overdue" in page and page.count("task-overdue-label") == 1


def test_sorted_by_due_date_with_no_date_last_then_priority(client, csm):
    no_date = make_task(csm, title="No date", priority=TaskPriority.URGENT)
    later = make_task(csm, title="Later", due_date=today() + timedelta(days=5))
    soon_low = make_task(csm, title="Soon low", due_date=today(), priority=TaskPriority.LOW)
    soon_urgent = make_task(
        csm, title="Soon urgent", due_date=today(), priority=TaskPriority.URGENT
    )
    soon_high = make_task(csm, title="Soon high", due_date=today(), priority=TaskPriority.HIGH)
    client.force_login(csm)
    assert row_ids(client.get("/tasks/")) == [
        soon_urgent.pk,
        soon_high.pk,
        soon_low.pk,
        later.pk,
        no_date.pk,
    ]


def test_a_csm_sees_their_own_tasks_by_default_and_can_ask_for_anyone(client, csm, make_user):
    other = make_user("other")
    mine = make_task(csm)
    theirs = make_task(other)
    unassigned = make_task(None)
    client.force_login(csm)
    assert row_ids(client.get("/tasks/")) == [mine.pk]
    assert set(row_ids(client.get("/tasks/?assignee=anyone"))) == {
        mine.pk,
        theirs.pk,
        unassigned.pk,
    }
    assert row_ids(client.get(f"/tasks/?assignee={other.pk}")) == [theirs.pk]
    assert row_ids(client.get("/tasks/?assignee=none")) == [unassigned.pk]


@pytest.mark.parametrize("role", [roles.ADMIN, roles.VIEWER])
def test_admins_and_viewers_see_everyone_by_default(client, csm, make_user, role):
    mine, other = make_task(csm), make_task(make_user("other"))
    client.force_login(make_user("looker", role))
    assert set(row_ids(client.get("/tasks/"))) == {mine.pk, other.pk}


def test_filters_account_search_priority_and_due_window(client, csm):
    acme = make_task(csm, account=AccountFactory(name="Acme Corp", owner=csm), title="A")
    globex = make_task(
        csm,
        account=AccountFactory(name="Globex", owner=csm),
        priority=TaskPriority.HIGH,
        due_date=today(),
    )
    end_of_week = today() + timedelta(days=6 - today().weekday())
    far = make_task(csm, due_date=end_of_week + timedelta(days=1), title="Far")
    client.force_login(csm)
    assert row_ids(client.get("/tasks/?q=acme")) == [acme.pk]
    assert row_ids(client.get("/tasks/?priority=high")) == [globex.pk]
    assert row_ids(client.get("/tasks/?due=today")) == [globex.pk]
    assert row_ids(client.get("/tasks/?due=week")) == [globex.pk]
    assert row_ids(client.get("/tasks/?due=later")) == [far.pk]
    assert row_ids(client.get("/tasks/?due=none")) == [acme.pk]
    # the tab counts follow the filters
    assert 'data-open="1"' in client.get("/tasks/?q=globex").content.decode()


def test_bad_filter_values_are_reported_and_left_out(client, csm):
    task = make_task(csm)
    client.force_login(csm)
    response = client.get("/tasks/?priority=bogus&assignee=999999&tab=nope")
    assert response.status_code == 200
    page = response.content.decode()
    assert "This filter was left out" in page and row_ids(response) == [task.pk]


def test_a_row_shows_account_link_body_priority_run_and_assignee(client, csm):
    account = AccountFactory(name="Acme", owner=csm)
    run = PlaybookRun.objects.create(
        playbook=PlaybookFactory(name="Green to yellow"),
        account=account,
        occurrence_key="health:1",
        trigger_kind=TriggerKind.HEALTH_COLOR_CHANGED,
        occurred_at=timezone.now(),
        status=RunStatus.SUCCEEDED,
        explanation="went yellow",
    )
    make_task(
        csm,
        account=account,
        title="Call Acme",
        body="Usage dropped " + "x" * 300,
        priority=TaskPriority.URGENT,
        created_by_run=run,
    )
    client.force_login(csm)
    page = client.get("/tasks/").content.decode()
    assert f'<a href="/accounts/{account.pk}/">Acme</a>' in page
    assert f'href="/playbooks/runs/{run.pk}/"' in page and "Green to yellow" in page
    assert "Usage dropped" in page and "x" * 300 not in page  # an excerpt
    assert '<span class="priority priority-urgent">Urgent</span>' in page
    assert "Casey Manager" in page


def test_paginated_by_fifty(client, csm):
    account = AccountFactory(owner=csm)
    Task.objects.bulk_create(Task(account=account, assignee=csm, title=f"T{i}") for i in range(55))
    client.force_login(csm)
    first, second = client.get("/tasks/"), client.get("/tasks/?page=2")
    assert len(row_ids(first)) == 50 and len(row_ids(second)) == 5
    assert "Page 1 of 2" in first.content.decode()


# --- empty states ----------------------------------------------------------------------------


def test_empty_states_explain_what_to_do(client, csm):
    client.force_login(csm)
    page = client.get("/tasks/").content.decode()
    assert "No open tasks. Playbooks create tasks when" in page
    assert "create one from an account page" in page
    assert 'id="task-show-everyone"' in page
    assert "No snoozed tasks" in client.get("/tasks/?tab=snoozed").content.decode()
    assert "No completed tasks yet" in client.get("/tasks/?tab=done").content.decode()
    assert "Clear the filters" in client.get("/tasks/?q=zzz").content.decode()


# --- inline actions --------------------------------------------------------------------------


def test_complete_with_htmx_returns_the_row_and_announces_the_change(client, csm):
    task = make_task(csm, title="Call")
    client.force_login(csm)
    response = client.post(f"/tasks/{task.pk}/", {"do": "complete"}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="task-{task.pk}" class="task-row task-done')
    assert "task-reopen" in body and "task-complete" not in body
    assert response["HX-Trigger"] == "tasks-changed"
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE and task.completed_at is not None


def test_snooze_for_one_three_or_seven_days(client, csm):
    client.force_login(csm)
    for days in (1, 3, 7):
        task = make_task(csm)
        before = timezone.now()
        response = client.post(f"/tasks/{task.pk}/", {"do": "snooze", "days": days}, **HTMX)
        assert response.status_code == 200 and "Snoozed until" in response.content.decode()
        task.refresh_from_db()
        assert task.status == TaskStatus.SNOOZED
        assert task.snoozed_until - before >= timedelta(days=days)
        assert task.snoozed_until - before < timedelta(days=days, minutes=1)


def test_reopen_a_done_or_snoozed_task(client, csm):
    done, snoozed = make_task(csm), make_task(csm)
    done.complete()
    snoozed.snooze(timezone.now() + timedelta(days=1))
    client.force_login(csm)
    for task in (done, snoozed):
        response = client.post(f"/tasks/{task.pk}/", {"do": "reopen"}, **HTMX)
        assert response.status_code == 200 and "task-complete" in response.content.decode()
        task.refresh_from_db()
        assert task.status == TaskStatus.OPEN
        assert task.snoozed_until is None and task.completed_at is None


def test_without_htmx_an_action_redirects_back(client, csm):
    task = make_task(csm)
    client.force_login(csm)
    back = "/tasks/?tab=open&priority=normal"
    response = client.post(f"/tasks/{task.pk}/", {"do": "snooze", "days": "3", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    response = client.post(
        f"/tasks/{task.pk}/", {"do": "complete", "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/tasks/"
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    page = client.get("/tasks/?tab=done").content.decode()
    assert "Done: Call them" in page  # the message after the redirect


@pytest.mark.parametrize(
    "data, message",
    [
        ({"do": "delete"}, "Unknown action"),
        ({}, "Unknown action"),
        ({"do": "snooze", "days": "2"}, "Snooze for 1, 3 or 7 days"),
        ({"do": "snooze", "days": "forever"}, "Snooze for 1, 3 or 7 days"),
        ({"do": "snooze"}, "Snooze for 1, 3 or 7 days"),
        ({"do": "reopen"}, "already open"),
    ],
)
def test_bad_input_is_a_400_with_a_message_and_changes_nothing(client, csm, data, message):
    task = make_task(csm)
    client.force_login(csm)
    for extra in ({}, HTMX):
        response = client.post(f"/tasks/{task.pk}/", data, **extra)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert response["Content-Type"].startswith("text/plain")
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN and task.snoozed_until is None


def test_completing_a_done_task_is_a_400(client, csm):
    task = make_task(csm)
    task.complete()
    client.force_login(csm)
    response = client.post(f"/tasks/{task.pk}/", {"do": "complete"})
    assert response.status_code == 400 and "already done" in response.content.decode()


def test_an_unknown_task_is_a_404(client, csm):
    client.force_login(csm)
    assert client.post("/tasks/999999/", {"do": "complete"}).status_code == 404


def test_the_inbox_and_actions_need_a_login(client):
    task = make_task(None)
    assert client.get("/tasks/").status_code == 302
    assert client.post(f"/tasks/{task.pk}/", {"do": "complete"}).status_code == 302
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


# --- roles -----------------------------------------------------------------------------------


def test_a_viewer_reads_without_buttons_and_is_refused_on_post(client, csm, viewer):
    task = make_task(csm)
    client.force_login(viewer)
    page = client.get("/tasks/").content.decode()
    assert f'id="task-{task.pk}"' in page
    assert "task-complete" not in page and "task-snooze" not in page and "hx-post" not in page
    for data in ({"do": "complete"}, {"do": "snooze", "days": "1"}, {"do": "bogus"}):
        assert client.post(f"/tasks/{task.pk}/", data).status_code == 403
        assert client.post(f"/tasks/{task.pk}/", data, **HTMX).status_code == 403
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN


def test_a_csm_acts_on_tasks_of_their_book_even_assigned_to_someone_else(client, csm, make_user):
    other = make_user("other")
    in_my_book = make_task(other, account=AccountFactory(owner=csm))
    client.force_login(csm)
    page = client.get("/tasks/?assignee=anyone").content.decode()
    assert f'aria-label="Complete {in_my_book.title}"' in page
    assert client.post(f"/tasks/{in_my_book.pk}/", {"do": "complete"}).status_code == 302
    in_my_book.refresh_from_db()
    assert in_my_book.status == TaskStatus.DONE


def test_a_csm_cannot_act_on_someone_elses_task_outside_their_book(client, csm, make_user):
    other = make_user("other")
    theirs = make_task(other, account=AccountFactory(owner=other))
    client.force_login(csm)
    page = client.get("/tasks/?assignee=anyone").content.decode()
    assert f'id="task-{theirs.pk}"' in page and "task-complete" not in page
    assert client.post(f"/tasks/{theirs.pk}/", {"do": "complete"}).status_code == 403
    assert client.post(f"/tasks/{theirs.pk}/", {"do": "complete"}, **HTMX).status_code == 403
    theirs.refresh_from_db()
    assert theirs.status == TaskStatus.OPEN


def test_an_admin_acts_on_any_task(client, cs_admin, make_user):
    other = make_user("other")
    task = make_task(other, account=AccountFactory(owner=other))
    client.force_login(cs_admin)
    assert "task-complete" in client.get("/tasks/").content.decode()
    response = client.post(f"/tasks/{task.pk}/", {"do": "snooze", "days": "7"}, **HTMX)
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == TaskStatus.SNOOZED


# --- htmx pieces -----------------------------------------------------------------------------


def test_the_summary_part_refreshes_the_counts(client, csm):
    make_task(csm)
    done = make_task(csm)
    done.complete()
    client.force_login(csm)
    response = client.get("/tasks/?part=summary", **HTMX)
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="task-summary"')
    assert 'data-open="1"' in body and "<table" not in body
    assert 'hx-trigger="tasks-changed from:body"' in body


def test_rows_have_the_htmx_attributes_and_plain_form_fallback(client, csm):
    task = make_task(csm)
    client.force_login(csm)
    page = client.get("/tasks/").content.decode()
    assert f'<form method="post" action="/tasks/{task.pk}/" hx-post="/tasks/{task.pk}/"' in page
    assert 'hx-target="closest tr" hx-swap="outerHTML"' in page
    for days in ("1", "3", "7"):
        assert f'data-days="{days}"' in page


# --- queries ---------------------------------------------------------------------------------


def _tasks_with_everything(n, csm):
    playbook = PlaybookFactory()
    for i in range(n):
        account = AccountFactory(owner=csm)
        run = PlaybookRun.objects.create(
            playbook=playbook,
            account=account,
            occurrence_key=f"health:{i}",
            trigger_kind=TriggerKind.HEALTH_COLOR_CHANGED,
            occurred_at=timezone.now(),
            status=RunStatus.SUCCEEDED,
            explanation="x",
        )
        make_task(csm, account=account, created_by_run=run, due_date=today())


@pytest.mark.parametrize("tab", ["open", "done"])
def test_the_inbox_uses_a_fixed_number_of_queries(client, csm, make_user, tab):
    client.force_login(make_user("boss", roles.ADMIN))
    counts = []
    for n in (5, 45):  # 5, then 50 in all
        _tasks_with_everything(n, csm)
        if tab == "done":
            for task in Task.objects.exclude(status=TaskStatus.DONE):
                task.complete()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/tasks/?tab={tab}")
        assert len(row_ids(response)) == (5 if n == 5 else 50)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8, counts
