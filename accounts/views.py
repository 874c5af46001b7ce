"""Dashboard pages of the accounts app. Each view declares the roles it admits."""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import F, Max, Q
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.catalogue import catalogue_state, describe_event, key_feature_names, weekly_volume
from accounts.csv_import import CsvError
from accounts.import_jobs import preview_import, queue_import
from accounts.models import EventDefinition, ImportJob
from accounts.sparkline import sparkline
from cs_platform.roles import ADMIN, ALL_ROLES, role_required


class ImportForm(forms.Form):
    kind = forms.ChoiceField(choices=ImportJob.Kind.choices, label="What the file holds")
    file = forms.FileField(
        help_text="CSV, UTF-8, a header row naming the columns (e.g. external_id,name,plan,arr)."
    )


@role_required(ADMIN)
def import_upload(request):
    """Upload a CSV file: every row is checked and shown before anything is written."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = preview_import(
                form.cleaned_data["kind"], upload.name, upload.read(), request.user
            )
        except CsvError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("import-detail", pk=job.pk)
    jobs = ImportJob.objects.select_related("uploaded_by").defer("content")[:20]
    return render(request, "accounts/import_upload.html", {"form": form, "jobs": jobs})


@role_required(ADMIN)
def import_detail(request, pk):
    """The preview (counts and row errors), then the import's progress and outcome."""
    job = get_object_or_404(ImportJob.objects.defer("content"), pk=pk)
    if request.method == "POST":
        try:
            queue_import(job, valid_only=request.POST.get("valid_only") == "1")
        except ValueError as exc:
            messages.error(request, str(exc))
        return redirect("import-detail", pk=job.pk)
    template = "accounts/_import_status.html" if request.htmx else "accounts/import_detail.html"
    return render(request, template, {"job": job})


# --- the event catalogue ---------------------------------------------------------------------

CATALOGUE_SORTS = {
    "accounts": ("Most accounts", ["-account_count", "name"]),
    "users": ("Most users", ["-user_count", "name"]),
    "events": ("Most events", ["-event_count", "name"]),
    "suggestion": (
        "Retained minus churned",
        [F("usage_difference").desc(nulls_last=True), "name"],
    ),
    "last_seen": ("Last seen", [F("last_seen_at").desc(nulls_last=True), "name"]),
    "first_seen": ("First seen", [F("first_seen_at").asc(nulls_last=True), "name"]),
    "name": ("Name", ["name"]),
}
CATALOGUE_PAGE_SIZE = 100


def _with_sparklines(definitions) -> list:
    definitions = list(definitions)
    weeks = weekly_volume([d.name for d in definitions])
    for definition in definitions:
        definition.sparkline = sparkline(
            [(f"{start:%b %d}", n) for start, n in weeks[definition.name]],
            caption="Events per week, from the Monday",
        )
    return definitions


@role_required(*ALL_ROLES)
def event_catalogue(request):
    """Every event name seen, with its use and the retained-against-churned comparison;
    admins mark key features. A fixed number of queries whatever the number of events."""
    sort = request.GET.get("sort", "accounts")
    sort = sort if sort in CATALOGUE_SORTS else "accounts"
    q = request.GET.get("q", "").strip().replace("\x00", "")
    definitions = EventDefinition.objects.order_by(*CATALOGUE_SORTS[sort][1])
    if q:
        definitions = definitions.filter(Q(name__icontains=q) | Q(description__icontains=q))
    key_only = request.GET.get("key") == "1"
    if key_only:
        definitions = definitions.filter(key_feature=True)
    page = Paginator(definitions, CATALOGUE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = _with_sparklines(page.object_list)
    sample = EventDefinition.objects.aggregate(
        retained=Max("retained_accounts"), churned=Max("churned_accounts")
    )
    return render(
        request,
        "accounts/event_catalogue.html",
        {
            "page": page,
            "q": q,
            "sort": sort,
            "sorts": [(key, label) for key, (label, _) in CATALOGUE_SORTS.items()],
            "key_only": key_only,
            "query": urlencode(
                {k: v for k, v in (("q", q), ("sort", sort)) if v}
                | ({"key": "1"} if key_only else {})
            ),
            "key_features": key_feature_names(),
            "state": catalogue_state(),
            "sample": sample,
            "window_days": EventDefinition.WINDOW_DAYS,
        },
    )


@require_POST
@role_required(ADMIN)
def event_key_feature(request):
    """Mark (key_feature=1) or unmark (0) the event ``name`` as a key feature: the row (htmx)
    or a redirect back to the catalogue."""
    name, value = request.POST.get("name", ""), request.POST.get("key_feature")
    if value not in {"0", "1"}:
        return HttpResponseBadRequest("key_feature: expected 1 (mark) or 0 (unmark).")
    if "\x00" in name or not EventDefinition.objects.filter(name=name).exists():
        raise Http404("No event of that name in the catalogue.")
    definition = describe_event(name, key_feature=value == "1", by=request.user)
    if request.htmx:
        (definition,) = _with_sparklines([definition])
        return render(request, "accounts/_event_row.html", {"definition": definition})
    state = "is now a key feature" if definition.key_feature else "is no longer a key feature"
    messages.success(request, f"{name} {state}.")
    return redirect("event-catalogue")
