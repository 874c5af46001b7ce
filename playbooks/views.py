"""Dashboard pages: the playbook builder (admins), preview and backtest, run logs, task inbox.

Everyone reads playbooks and runs; only admins create, change, enable, delete or retry.
"""

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, CharField, Count, F, IntegerField, Q, Value, When
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from accounts.models import Account
from cs_platform.roles import ADMIN, ALL_ROLES, CSM, role_required, user_roles
from playbooks.api.views import retry_actions, runs_queryset
from playbooks.backtest import backtest, preview
from playbooks.choices import ActionKind, RunStatus, TaskPriority, TaskStatus, TriggerKind
from playbooks.forms import (
    ActionFormSet,
    BacktestForm,
    PlaybookForm,
    TaskInboxFilterForm,
    action_initial,
)
from playbooks.models import Playbook, PlaybookAction, RunAction, Task

PAGE_SIZE = 50


@role_required(*ALL_ROLES)
def playbook_list(request):
    playbooks = Playbook.objects.annotate(
        fired=Count("runs", filter=~Q(runs__status=RunStatus.SUPPRESSED)),
        suppressed=Count("runs", filter=Q(runs__status=RunStatus.SUPPRESSED)),
    ).order_by("name")
    return render(request, "playbooks/playbook_list.html", {"playbooks": playbooks})


def _save(request, playbook=None):
    form = PlaybookForm(request.POST or None, instance=playbook)
    initial = action_initial(playbook) if playbook else []
    actions = ActionFormSet(request.POST or None, initial=initial, prefix="actions")
    if request.method == "POST" and form.is_valid() & actions.is_valid():
        with transaction.atomic():
            if playbook is None:
                form.instance.created_by = request.user
            saved = form.save()
            saved.actions.all().delete()
            PlaybookAction.objects.bulk_create(
                [
                    PlaybookAction(playbook=saved, position=i, kind=s["kind"], params=s["params"])
                    for i, s in enumerate(actions.steps())
                ]
            )
        messages.success(request, f"Playbook {saved.name!r} saved.")
        return redirect("playbooks:detail", pk=saved.pk)
    return render(
        request,
        "playbooks/playbook_form.html",
        {"form": form, "actions": actions, "playbook": playbook},
        status=400 if request.method == "POST" else 200,
    )


@role_required(ADMIN)
def playbook_create(request):
    return _save(request)


@role_required(ADMIN)
def playbook_edit(request, pk):
    return _save(request, get_object_or_404(Playbook, pk=pk))


@role_required(*ALL_ROLES)
def playbook_detail(request, pk):
    playbook = get_object_or_404(Playbook.objects.prefetch_related("actions", "owners"), pk=pk)
    counts = playbook.runs.aggregate(
        fired=Count("pk", filter=~Q(status=RunStatus.SUPPRESSED)),
        suppressed=Count("pk", filter=Q(status=RunStatus.SUPPRESSED)),
        failed=Count("pk", filter=Q(status=RunStatus.FAILED)),
    )
    steps = [
        {"kind": a.get_kind_display(), "params": a.params_shown_to(request.user)}
        for a in playbook.actions.all()
    ]
    return render(
        request,
        "playbooks/playbook_detail.html",
        {
            "playbook": playbook,
            "counts": counts,
            "steps": steps,
            "backtest_form": BacktestForm(),
            "runs": runs_queryset().filter(playbook=playbook)[:20],
            "webhook": ActionKind.WEBHOOK,
        },
    )


@require_POST
@role_required(ADMIN)
def playbook_toggle(request, pk):
    playbook = get_object_or_404(Playbook, pk=pk)
    playbook.enabled = not playbook.enabled
    playbook.save(update_fields=["enabled", "updated_at"])
    messages.success(
        request, f"{playbook.name} is {'enabled' if playbook.enabled else 'disabled'}."
    )
    return redirect("playbooks:detail", pk=pk)


@require_POST
@role_required(ADMIN)
def playbook_delete(request, pk):
    playbook = get_object_or_404(Playbook, pk=pk)
    playbook.delete()
    messages.success(request, f"Playbook {playbook.name!r} deleted.")
    return redirect("playbooks:list")


@require_GET
@role_required(*ALL_ROLES)
def playbook_preview(request, pk):
    playbook = get_object_or_404(Playbook.objects.prefetch_related("owners"), pk=pk)
    return render(
        request, "playbooks/_preview.html", {"playbook": playbook, "preview": preview(playbook)}
    )


@require_GET
@role_required(*ALL_ROLES)
def playbook_backtest(request, pk):
    playbook = get_object_or_404(Playbook.objects.prefetch_related("owners"), pk=pk)
    form = BacktestForm(request.GET)
    result = backtest(playbook, form.cleaned_data["days"]) if form.is_valid() else None
    return render(
        request, "playbooks/_backtest.html", {"playbook": playbook, "form": form, "result": result}
    )


@role_required(*ALL_ROLES)
def run_list(request, pk=None):
    """The run log, of one playbook or (``?account=``) of one account, filterable."""
    playbook = get_object_or_404(Playbook, pk=pk) if pk else None
    runs = runs_queryset()
    params = request.GET
    if playbook:
        runs = runs.filter(playbook=playbook)
    account = None
    if params.get("account", "").isdigit():
        account = Account.objects.filter(pk=params["account"]).first()
        runs = runs.filter(account_id=params["account"])
    if params.get("status") in RunStatus.values:
        runs = runs.filter(status=params["status"])
    if params.get("trigger") in TriggerKind.values:
        runs = runs.filter(trigger_kind=params["trigger"])
    if params.get("q"):
        runs = runs.filter(account__name__icontains=params["q"])
    page = Paginator(runs, PAGE_SIZE).get_page(params.get("page"))
    return render(
        request,
        "playbooks/run_list.html",
        {
            "page": page,
            "playbook": playbook,
            "account": account,
            "statuses": RunStatus.choices,
            "triggers": TriggerKind.choices,
            "filters": params,
            "query": params.urlencode() if not params.get("page") else _without_page(params),
        },
    )


def _without_page(params):
    copy = params.copy()
    copy.pop("page", None)
    return copy.urlencode()


@role_required(*ALL_ROLES)
def run_detail(request, pk):
    run = get_object_or_404(runs_queryset(), pk=pk)
    return render(request, "playbooks/run_detail.html", {"run": run, "tasks": run.tasks.all()})


@require_POST
@role_required(ADMIN)
def run_retry(request, pk, action_pk):
    run_action = get_object_or_404(RunAction, run_id=pk, pk=action_pk)
    try:
        retry_actions([run_action])
    except ApiValidationError as exc:
        messages.error(request, " ".join(exc.detail["action"]))
    else:
        messages.success(request, f"Action {run_action.position + 1} queued for another attempt.")
    return redirect("playbooks:run", pk=pk)


# --- The tasks inbox --------------------------------------------------------------------
# Tabs by effective state: a snoozed task whose snooze has ended counts as open again (in
# the query itself: no job has to wake it up). CSMs act on tasks assigned to them or on
# accounts of their book, admins on any; viewers read.

SNOOZE_DAYS = {"1": 1, "3": 3, "7": 7}
SNOOZE_LABELS = [("1", "1 day"), ("3", "3 days"), ("7", "1 week")]
PRIORITY_RANK = Case(
    When(priority=TaskPriority.URGENT, then=Value(0)),
    When(priority=TaskPriority.HIGH, then=Value(1)),
    When(priority=TaskPriority.NORMAL, then=Value(2)),
    default=Value(3),
    output_field=IntegerField(),
)
EMPTY_TEXT = {
    "open": "No open tasks. Playbooks create tasks when an account's health changes, a renewal "
    "approaches or a milestone slips, or create one from an account page.",
    "overdue": "Nothing overdue. Open tasks whose due date has passed show up here.",
    "snoozed": "No snoozed tasks. Snooze an open task for a day, three days or a week; it comes "
    "back to the Open tab by itself when the snooze ends.",
    "done": "No completed tasks yet. Tasks you complete show up here, and can be reopened.",
}


def _task_states(now):
    """Q objects of each tab, by effective state at ``now``."""
    today = timezone.localdate(now)
    is_open = Q(status=TaskStatus.OPEN) | Q(status=TaskStatus.SNOOZED, snoozed_until__lte=now)
    return {
        "open": is_open,
        "overdue": is_open & Q(due_date__lt=today),
        "snoozed": Q(status=TaskStatus.SNOOZED, snoozed_until__gt=now),
        "done": Q(status=TaskStatus.DONE),
    }


def _inbox_queryset(now):
    return Task.objects.select_related("account", "assignee", "created_by_run__playbook").annotate(
        state=Case(
            When(status=TaskStatus.DONE, then=Value("done")),
            When(status=TaskStatus.SNOOZED, snoozed_until__gt=now, then=Value("snoozed")),
            default=Value("open"),
            output_field=CharField(),
        ),
        priority_rank=PRIORITY_RANK,
    )


def can_act_on_task(user, task) -> bool:
    """Admins act on any task; CSMs on tasks assigned to them or on their book's; viewers none."""
    found = user_roles(user)
    if ADMIN in found:
        return True
    return CSM in found and user.pk in (task.assignee_id, task.account.owner_id)


def _decorate(tasks, user, today):
    for task in tasks:
        task.can_act = can_act_on_task(user, task)
        task.is_overdue = (
            task.state == "open" and task.due_date is not None and task.due_date < today
        )
    return tasks


def _default_assignee(user) -> str:
    found = user_roles(user)
    return "me" if CSM in found and ADMIN not in found else "anyone"


def _filter_tasks(tasks, data, user, today):
    """Apply the assignee, account, priority and due-window filters (not the tab)."""
    assignee = data.get("assignee") or _default_assignee(user)
    if assignee == "me":
        tasks = tasks.filter(assignee=user)
    elif assignee == "none":
        tasks = tasks.filter(assignee__isnull=True)
    elif assignee != "anyone":
        tasks = tasks.filter(assignee_id=int(assignee))
    if data.get("q"):
        tasks = tasks.filter(
            Q(account__name__icontains=data["q"]) | Q(account__domain__icontains=data["q"])
        )
    if data.get("priority"):
        tasks = tasks.filter(priority=data["priority"])
    week_end = today + timedelta(days=6 - today.weekday())  # through Sunday
    due = data.get("due")
    if due == "today":
        tasks = tasks.filter(due_date=today)
    elif due == "week":
        tasks = tasks.filter(due_date__gte=today, due_date__lte=week_end)
    elif due == "later":
        tasks = tasks.filter(due_date__gt=week_end)
    elif due == "none":
        tasks = tasks.filter(due_date__isnull=True)
    return tasks, assignee


def _inbox_counts(tasks, states) -> dict:
    return tasks.order_by().aggregate(**{tab: Count("pk", filter=q) for tab, q in states.items()})


@role_required(*ALL_ROLES)
def task_list(request):
    """The tasks inbox: Open (default), Overdue, Snoozed and Done tabs, filters, 50 a page.

    A fixed number of queries whatever the page holds: roles, the assignee list, the tab
    counts (which also give the page count) and the page itself.
    """
    now = timezone.now()
    today = timezone.localdate(now)
    assignees = list(
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name__in=[ADMIN, CSM]), is_active=True)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
    form = TaskInboxFilterForm(request.GET, assignees=assignees)
    form.is_valid()  # invalid values are shown with the form and left out
    data = form.cleaned_data
    tab = data.get("tab") or "open"
    states = _task_states(now)
    base, assignee = _filter_tasks(_inbox_queryset(now), data, request.user, today)
    counts = _inbox_counts(base, states)

    params = {k: v for k, v in request.GET.items() if k in form.fields and k != "tab" and v}
    params["assignee"] = assignee
    context = {
        "form": form,
        "tab": tab,
        "tabs": [(value, label, counts[value]) for value, label in TaskInboxFilterForm.TABS],
        "counts": counts,
        "filters_query": urlencode(params),
        "query": urlencode({**params, "tab": tab}),
    }
    if request.htmx and request.GET.get("part") == "summary":  # after an inline action
        return render(request, "playbooks/_task_summary.html", context)

    tasks = base.filter(states[tab])
    if tab == "done":
        tasks = tasks.order_by(F("completed_at").desc(nulls_last=True), "-pk")
    else:
        tasks = tasks.order_by(
            F("due_date").asc(nulls_last=True), "priority_rank", "created_at", "pk"
        )
    paginator = Paginator(tasks, PAGE_SIZE)
    paginator.count = counts[tab]  # known from the counts: no second COUNT query
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = _decorate(list(page.object_list), request.user, today)

    context.update(
        page=page,
        assignee=assignee,
        assignee_is_default=assignee == _default_assignee(request.user),
        assignees=assignees,
        filtered=any(params.get(k) for k in ("q", "priority", "due")),
        everyone_query=urlencode({**params, "assignee": "anyone", "tab": tab}),
        empty_text=EMPTY_TEXT[tab],
        snooze_choices=SNOOZE_LABELS,
        next_url=request.get_full_path(),
        today=today,
    )
    return render(request, "playbooks/task_list.html", context)


def _bad_request(message: str):
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


def _back(request):
    target = request.POST.get("next") or request.headers.get("referer", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("playbooks:tasks")


@require_POST
@role_required(ADMIN, CSM)
def task_update(request, pk):
    """Complete, snooze (``days`` = 1, 3 or 7) or reopen one task: the row (htmx) or a redirect.

    400 with a message for an unknown action, a bad snooze length or an action the task's state
    does not allow; nothing is changed then.
    """
    now = timezone.now()
    task = get_object_or_404(_inbox_queryset(now), pk=pk)
    if not can_act_on_task(request.user, task):
        raise PermissionDenied(
            "Only the task's assignee, the account's owner or an admin can change this task."
        )
    action = request.POST.get("do", "")
    if action not in ("complete", "snooze", "reopen"):
        return _bad_request(f"Unknown action {action[:40]!r}: expected complete, snooze or reopen.")
    if action == "complete":
        if task.state == "done":
            return _bad_request(f"“{task.title}” is already done.")
        task.complete(at=now)
        message = f"Done: {task.title}"
    elif action == "snooze":
        days = SNOOZE_DAYS.get(request.POST.get("days", ""))
        if days is None:
            return _bad_request("Snooze for 1, 3 or 7 days (days=1, 3 or 7).")
        if task.state == "done":
            return _bad_request(f"“{task.title}” is done: reopen it before snoozing it.")
        task.snooze(now + timedelta(days=days))
        message = (
            f"Snoozed until {timezone.localtime(task.snoozed_until):%a %d %b %H:%M}: {task.title}"
        )
    else:
        if task.state == "open":
            return _bad_request(f"“{task.title}” is already open.")
        task.reopen()
        message = f"Reopened: {task.title}"
    if not request.htmx:
        messages.success(request, message)
        return _back(request)
    task = _inbox_queryset(now).get(pk=task.pk)
    _decorate([task], request.user, timezone.localdate(now))
    response = render(
        request,
        "playbooks/_task_row.html",
        {
            "task": task,
            "snooze_choices": SNOOZE_LABELS,
            "next_url": request.POST.get("next", ""),
            "flash": message,
        },
    )
    response["HX-Trigger"] = "tasks-changed"
    return response
