"""Dashboard pages: the playbook builder (admins), preview and backtest, run logs, task inbox.

Everyone reads playbooks and runs; only admins create, change, enable, delete or retry.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from accounts.models import Account
from cs_platform.roles import ADMIN, ALL_ROLES, CSM, has_role, role_required
from playbooks.api.views import check_task, retry_actions, runs_queryset
from playbooks.backtest import backtest, preview
from playbooks.choices import ActionKind, RunStatus, TaskStatus, TriggerKind
from playbooks.forms import ActionFormSet, BacktestForm, PlaybookForm, action_initial
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
    show_secrets = has_role(request.user, ADMIN)
    steps = [
        {
            "kind": a.get_kind_display(),
            "params": {
                k: ("********" if k == "secret" and not show_secrets else v)
                for k, v in a.params.items()
            },
        }
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


@role_required(*ALL_ROLES)
def task_list(request):
    """My open tasks (snoozed ones come back when their snooze ends)."""
    now = timezone.now()
    tasks = (
        Task.objects.filter(assignee=request.user)
        .filter(Q(status=TaskStatus.OPEN) | Q(status=TaskStatus.SNOOZED, snoozed_until__lte=now))
        .select_related("account", "created_by_run__playbook")
        .order_by("due_date", "-created_at")
    )
    return render(request, "playbooks/task_list.html", {"tasks": tasks, "today": now.date()})


@require_POST
@role_required(ADMIN, CSM)
def task_update(request, pk):
    task = get_object_or_404(Task.objects.select_related("account"), pk=pk)
    check_task(request.user, task)
    if request.POST.get("do") == "complete":
        task.complete()
        messages.success(request, f"Done: {task.title}")
    elif request.POST.get("do") == "snooze":
        days = int(request.POST.get("days", "1")) if request.POST.get("days", "1").isdigit() else 1
        task.snooze(timezone.now() + timedelta(days=max(1, min(days, 365))))
        messages.success(request, f"Snoozed: {task.title}")
    return redirect("playbooks:tasks")
