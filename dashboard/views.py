"""Dashboard pages: portfolio, accounts list, account 360, metrics. Thin: the reads live in
dashboard.queries, the writes in each app's domain module. Each view declares its roles."""

import csv
from datetime import UTC, date, datetime, time, timedelta

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.choices import TouchModel
from accounts.dirty import mark_dirty
from accounts.models import Account, Contact, Note
from cs_platform import roles
from cs_platform.roles import ADMIN, ALL_ROLES, CSM, role_required
from dashboard import charts, queries
from dashboard.forms import (
    NoteForm,
    OverrideForm,
    SavedViewForm,
    SentimentForm,
    StageForm,
    TaskForm,
    assignees,
)
from dashboard.models import SavedView
from health.choices import Color
from health.metrics import DEFINITIONS, MetricsError, Segment, portfolio_metrics
from health.overrides import active_overrides, end_override, record_sentiment, set_override
from journeys.choices import Stage
from journeys.cohorts import cohort_funnel
from journeys.stages import StageMoveError, move_account
from playbooks.models import Task


def can_edit(user, account) -> bool:
    """Admins change any account; CSMs their own book; viewers nothing."""
    found = roles.user_roles(user)
    return ADMIN in found or (CSM in found and account.owner_id == user.pk)


@role_required(*ALL_ROLES)
def portfolio(request):
    """Home: my book (or the team's) by colour, at-risk renewals, tasks, changes, stages."""
    default = "mine" if roles.user_roles(request.user) == {CSM} else "team"
    scope = request.GET.get("scope", default)
    scope = scope if scope in ("mine", "team") else default
    data = queries.portfolio(request.user, scope)
    return render(request, "dashboard/portfolio.html", {**data, "scope": scope})


@role_required(*ALL_ROLES)
def account_list(request):
    """Every account, filtered, searched, sorted and paged; saved views; a CSV of the view."""
    filterset, accounts = queries.account_list(request.GET, request.user)
    page = Paginator(accounts, queries.PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    saved = SavedView.objects.filter(Q(owner=request.user) | Q(shared=True)).select_related("owner")
    context = {
        "filter": filterset,
        "page": page,
        "query": params.urlencode(),
        "sort": request.GET.get("sort", "name"),
        "saved_views": saved,
        "save_form": SavedViewForm(),
        "owners": assignees(),
        "colors": Color.choices,
        "stages": Stage.choices,
        "touch_models": TouchModel.choices,
    }
    status = 400 if filterset.errors else 200
    return render(request, "dashboard/account_list.html", context, status=status)


CSV_COLUMNS = [
    ("external_id", "external_id"),
    ("name", "name"),
    ("domain", "domain"),
    ("plan", "plan"),
    ("arr", "arr"),
    ("currency", "currency"),
    ("touch_model", "touch_model"),
    ("owner", "owner__username"),
    ("stage", "journey__stage"),
    ("health_score", "health__score"),
    ("health_color", "health__color"),
    ("renewal_date", "renewal_date"),
    ("status", "status"),
]


def _cell(value):
    """A spreadsheet runs a cell starting with = + - @ as a formula: quote such text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


@role_required(*ALL_ROLES)
def account_export(request):
    """The current view of the accounts list as CSV, streamed (all pages)."""
    filterset, accounts = queries.account_list(request.GET, request.user)
    if filterset.errors:
        return HttpResponseBadRequest(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in filterset.errors.items()),
            content_type="text/plain",
        )
    writer = csv.writer(_Echo())
    rows = accounts.values_list(*(path for _, path in CSV_COLUMNS)).iterator(chunk_size=2000)

    def stream():
        yield writer.writerow([name for name, _ in CSV_COLUMNS])
        for row in rows:
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="accounts-{date.today()}.csv"'
    return response


@role_required(*ALL_ROLES)
@require_POST
def saved_view_create(request):
    form = SavedViewForm(request.POST)
    query = request.POST.get("query", "")[:2000]
    if form.is_valid():
        name = form.cleaned_data["name"]
        SavedView.objects.update_or_create(
            owner=request.user,
            name=name,
            defaults={"query": query, "shared": form.cleaned_data["shared"]},
        )
        messages.success(request, f"Saved the view “{name}”.")
    else:
        messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
    return redirect(reverse("accounts") + (f"?{query}" if query else ""))


@role_required(*ALL_ROLES)
@require_POST
def saved_view_delete(request, pk):
    view = get_object_or_404(SavedView, pk=pk)
    if view.owner_id != request.user.pk and ADMIN not in roles.user_roles(request.user):
        raise PermissionDenied("Only its owner or an admin deletes a saved view.")
    view.delete()
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("accounts")


def _tenure(account) -> str:
    if not account.contract_start:
        return "—"
    days = (timezone.localdate() - account.contract_start).days
    years, rest = divmod(days, 365)
    months = rest // 30
    return f"{years} y {months} mo" if years else f"{months} mo" if months else f"{days} days"


@role_required(*ALL_ROLES)
def account_detail(request, pk):
    """Account 360: header, health with explanation and trend, journey, contacts, activity."""
    account = get_object_or_404(Account.objects.select_related("owner", "journey"), pk=pk)
    return render(request, "dashboard/account_detail.html", _detail_context(request, account))


def _detail_context(request, account, **bound_forms) -> dict:
    health, trend = queries.account_health(account)
    usage = queries.usage_series(account)
    editable = can_edit(request.user, account)
    context = {
        "account": account,
        "tenure": _tenure(account),
        "health": health,
        "override": active_overrides([account.pk]).get(account.pk),
        "trend_chart": charts.health_trend(trend) if len(trend) > 1 else "",
        "usage_chart": charts.usage(usage) if usage else "",
        "milestones": queries.milestones(account),
        "contacts": account.contacts.order_by("-is_key_contact", "persona", "name"),
        "timeline": queries.timeline(account),
        "open_tasks": queries.open_tasks(account),
        "editable": editable,
        "today": timezone.localdate(),
        # The form that was refused opens with its errors in place and what was typed.
        "open_form": next(iter(bound_forms), "note_form"),
    }
    if editable:
        context.update(
            note_form=NoteForm(),
            task_form=TaskForm(initial={"assignee": request.user.pk}),
            override_form=OverrideForm(
                initial={"expires_on": timezone.localdate() + timedelta(days=30)}
            ),
            stage_form=StageForm(),
            sentiment_form=SentimentForm(),
        )
        context.update(bound_forms)
    return context


def _editable_account(request, pk) -> Account:
    account = get_object_or_404(Account, pk=pk)
    if not can_edit(request.user, account):
        raise PermissionDenied(f"{account.name} is not in your book: ask its owner or an admin.")
    return account


FORM_NAMES = {
    NoteForm: "note_form",
    TaskForm: "task_form",
    OverrideForm: "override_form",
    StageForm: "stage_form",
    SentimentForm: "sentiment_form",
}


def _posted(request, pk, form_class):
    """(account, form, refusal) for an action on an account the user may change. When the
    form is invalid, ``refusal`` is the account page again (400) with the form's errors in
    place and what was typed kept; the errors are also listed at the top."""
    account = _editable_account(request, pk)
    form = form_class(request.POST)
    if form.is_valid():
        return account, form, None
    _form_errors(request, form)
    account = Account.objects.select_related("owner", "journey").get(pk=account.pk)
    context = _detail_context(request, account, **{FORM_NAMES[form_class]: form})
    return account, form, render(request, "dashboard/account_detail.html", context, status=400)


def _form_errors(request, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label or field.replace("_", " ") if field in form.fields else ""
        messages.error(request, f"{label.capitalize() + ': ' if label else ''}{' '.join(errors)}")


def _back(account):
    return redirect("account-360", pk=account.pk)


@role_required(ADMIN, CSM)
@require_POST
def add_note(request, pk):
    account, form, refused = _posted(request, pk, NoteForm)
    if refused:
        return refused
    Note.objects.create(account=account, author=request.user, **form.cleaned_data)
    messages.success(request, f"{form.cleaned_data['kind'].capitalize()} added to the timeline.")
    return _back(account)


@role_required(ADMIN, CSM)
@require_POST
def add_task(request, pk):
    account, form, refused = _posted(request, pk, TaskForm)
    if refused:
        return refused
    data = form.cleaned_data
    Task.objects.create(
        account=account,
        assignee=data["assignee"] or request.user,
        title=data["title"],
        body=data["body"],
        due_date=data["due_date"],
        priority=data["priority"],
        created_by=request.user,
    )
    messages.success(request, "Task created.")
    return _back(account)


@role_required(ADMIN, CSM)
@require_POST
def set_health_override(request, pk):
    account = _editable_account(request, pk)
    if request.POST.get("end"):
        end_override(account, request.user)
        messages.success(request, "Override ended: the computed colour applies again.")
        return _back(account)
    account, form, refused = _posted(request, pk, OverrideForm)
    if refused:
        return refused
    data = form.cleaned_data
    expires = datetime.combine(data["expires_on"], time.min, UTC)
    try:
        set_override(account, data["color"], data["reason"], expires, request.user)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return _back(account)
    messages.success(request, f"Health overridden to {data['color']} until {data['expires_on']}.")
    return _back(account)


@role_required(ADMIN, CSM)
@require_POST
def move_stage(request, pk):
    account, form, refused = _posted(request, pk, StageForm)
    if refused:
        return refused
    try:
        with transaction.atomic():
            move_account(
                account, form.cleaned_data["to_stage"], reason=form.cleaned_data["reason"],
                by=request.user,
            )  # fmt: skip
            mark_dirty([account.pk])
    except StageMoveError as exc:
        messages.error(request, f"Move to: {exc}")
        return _back(account)
    messages.success(request, f"Moved to {form.cleaned_data['to_stage']}.")
    return _back(account)


@role_required(ADMIN, CSM)
@require_POST
def toggle_key_contact(request, pk, contact_pk):
    account = _editable_account(request, pk)
    contact = get_object_or_404(Contact, pk=contact_pk, account=account)
    with transaction.atomic():
        contact.is_key_contact = not contact.is_key_contact
        contact.save(update_fields=["is_key_contact", "updated_at"])
        mark_dirty([account.pk])  # key-contact engagement is a measure
    state = "now a key contact" if contact.is_key_contact else "no longer a key contact"
    messages.success(request, f"{contact} is {state}.")
    return _back(account)


@role_required(ADMIN, CSM)
@require_POST
def set_sentiment(request, pk):
    account, form, refused = _posted(request, pk, SentimentForm)
    if refused:
        return refused
    with transaction.atomic():
        record_sentiment(account, form.cleaned_data["sentiment"], form.cleaned_data["note"],
                         request.user)  # fmt: skip
        mark_dirty([account.pk])
    messages.success(request, "Sentiment recorded: the score updates within seconds.")
    return _back(account)


def _month_starts(end: date, months: int) -> list[date]:
    starts, current = [], end.replace(day=1)
    for _ in range(months):
        starts.append(current)
        current = (current - timedelta(days=1)).replace(day=1)
    return list(reversed(starts))


CHARTED = {
    "Churn rate %": "churn_rate",
    "Gross revenue retention %": "gross_revenue_retention",
    "Net revenue retention %": "net_revenue_retention",
    "Adoption rate %": "adoption_rate",
    "NPS": "nps",
}


ACRONYMS = {"nps": "NPS", "csat": "CSAT", "arr": "ARR", "p75": "p75"}


def _metric_label(name: str) -> str:
    words = [ACRONYMS.get(w, w) for w in name.split("_")]
    words[0] = words[0] if words[0].isupper() else words[0].capitalize()
    return " ".join(words)


def _period_day(params, field: str, default: date, errors: dict) -> date:
    """A period bound from the query string; years 1900-2999 (charts go back 12 months)."""
    if not params.get(field):
        return default
    try:
        day = date.fromisoformat(params[field])
    except ValueError:
        errors[field] = "Use a date like 2026-03-31."
        return default
    if not 1900 <= day.year <= 2999:
        errors[field] = "Use a year from 1900 to 2999."
        return default
    return day


def _month_metrics(first: date, end: date, segment: Segment) -> dict:
    """One month's metrics; cached, as a closed month changes rarely (a late import at most)."""
    last = min((first + timedelta(days=32)).replace(day=1) - timedelta(days=1), end)
    key = "metrics:" + ":".join(map(str, (first, last, *segment.__dict__.values())))
    values = cache.get(key)
    if values is None:
        result = portfolio_metrics(first, last, segment)
        values = {m["name"]: m["value"] for m in result["metrics"]}
        cache.set(key, values, 300 if last >= timezone.localdate() - timedelta(1) else 6 * 3600)
    return values


@role_required(*ALL_ROLES)
def metrics(request):
    """The portfolio metrics for a period and segment, with definitions, monthly charts over
    the last 12 months, and the cohort funnel."""
    today = timezone.localdate()
    params = request.GET
    errors = {}
    end = _period_day(params, "end", today, errors)
    start = _period_day(params, "start", end - timedelta(89), errors)
    if errors:
        end, start = today, today - timedelta(89)
    segment = Segment(
        plan=params.get("plan", "").strip(),
        touch_model=params.get("touch_model", "") if params.get("touch_model") in
        TouchModel.values else "",
        industry=params.get("industry", "").strip(),
        owner=params.get("owner", "").strip(),
    )  # fmt: skip
    result = None
    if not errors:
        try:
            result = portfolio_metrics(start, end, segment)
            for metric in result["metrics"]:
                metric["label"] = _metric_label(metric["name"])
        except MetricsError as exc:
            errors[exc.field] = str(exc)
    months = _month_starts(end, 12)
    monthly = [_month_metrics(first, end, segment) for first in months]
    lines = {label: [m.get(name) for m in monthly] for label, name in CHARTED.items()}
    funnel = cohort_funnel(segment.accounts()).to_dict("records")
    funnel_milestones = sorted({r["milestone"] for r in funnel})
    chosen = params.get("milestone") if params.get("milestone") in funnel_milestones else (
        funnel_milestones[0] if funnel_milestones else None
    )  # fmt: skip
    context = {
        "result": result,
        "errors": errors,
        "start": start,
        "end": end,
        "segment": segment,
        "touch_models": TouchModel.choices,
        "definitions": DEFINITIONS,
        "monthly_charts": [
            charts.series(label, [f"{m:%b %y}" for m in months], values)
            for label, values in lines.items()
        ],
        "funnel": funnel,
        "funnel_milestones": funnel_milestones,
        "milestone": chosen,
        "funnel_chart": charts.funnel([r for r in funnel if r["milestone"] == chosen], chosen)
        if chosen
        else "",
    }
    return render(request, "dashboard/metrics.html", context, status=400 if errors else 200)
