"""Dashboard pages of the accounts app. Each view declares the roles it admits."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render

from accounts.csv_import import CsvError
from accounts.import_jobs import preview_import, queue_import
from accounts.models import ImportJob
from cs_platform.roles import ADMIN, role_required


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
