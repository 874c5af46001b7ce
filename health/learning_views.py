"""The scorecard builder's "learn from churn" button, the run's progress and the learned
draft's page.

Admins fit and publish; everyone who reads scorecards reads the drafts and their comparison.
The fit runs on a worker (``health.learning_runs``); the run's page follows it with htmx and
opens the draft when it is ready.
"""

from datetime import date

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from cs_platform.roles import ADMIN, ALL_ROLES, role_required
from health.drafts import publish_learned
from health.learning import RED_SHARE, YELLOW_SHARE, LearningError
from health.learning_runs import request_learning
from health.measures import REGISTRY
from health.models import LearnedScorecard, LearningRun, Scorecard
from health.validation_data import ValidationInputError


class LearnForm(forms.Form):
    as_of = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    window = forms.IntegerField(min_value=1, max_value=365, initial=60)
    red_share = forms.FloatField(min_value=0.01, max_value=0.5, initial=RED_SHARE)
    yellow_share = forms.FloatField(min_value=0.01, max_value=0.5, initial=YELLOW_SHARE)


def learn_form(initial_as_of: date | None = None) -> LearnForm:
    return LearnForm(initial={"as_of": initial_as_of or timezone.now().date()})


@require_POST
@role_required(ADMIN)
def scorecard_learn(request, pk):
    card = get_object_or_404(Scorecard, pk=pk)
    form = LearnForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
        return redirect("scorecards:edit", pk=card.pk)
    data = form.cleaned_data
    try:
        run = request_learning(
            card,
            data["as_of"],
            window=data["window"],
            red_share=data["red_share"],
            yellow_share=data["yellow_share"],
            by=request.user,
        )
    except LearningError as exc:
        messages.error(request, f"Nothing was learned ({exc.field}): {exc}")
        return redirect("scorecards:edit", pk=card.pk)
    return redirect("scorecards:learning", pk=card.pk, run=run.pk)


@role_required(ADMIN)
def learning_run(request, pk, run):
    """The run's state; htmx polls it and is sent on to the draft once the fit is stored."""
    found = get_object_or_404(
        LearningRun.objects.select_related("scorecard", "learned"), pk=run, scorecard=pk
    )
    if found.status == LearningRun.Status.DONE and found.learned_id:
        target = reverse("scorecards:learned", args=[pk, found.learned_id])
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    template = "health/_learning_status.html" if request.htmx else "health/learning_run.html"
    return render(request, template, {"run": found, "scorecard": found.scorecard})


@role_required(*ALL_ROLES)
def learned_scorecard(request, pk, draft):
    found = get_object_or_404(
        LearnedScorecard.objects.select_related("scorecard", "version"), pk=draft, scorecard=pk
    )
    report = found.report
    sides = [
        (report[key]["what"], report[key].get("note"), report[key].get("draft"),
         report[key].get("current"))
        for key in ("compare_training", "compare_after")
    ]  # fmt: skip
    left_out = [
        (REGISTRY[kind].label if kind in REGISTRY else kind, why)
        for kind, why in report.get("left_out", {}).items()
    ]
    return render(
        request,
        "health/learned.html",
        {
            "draft": found,
            "scorecard": found.scorecard,
            "report": report,
            "sides": sides,
            "left_out": left_out,
        },
    )


@require_POST
@role_required(ADMIN)
def learned_publish(request, pk, draft):
    found = get_object_or_404(LearnedScorecard, pk=draft, scorecard=pk)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation to publish the learned scorecard.")
        return redirect("scorecards:learned", pk=pk, draft=draft)
    try:
        version = publish_learned(found, by=request.user)
    except ValidationInputError as exc:
        messages.error(request, str(exc))
        return redirect("scorecards:learned", pk=pk, draft=draft)
    messages.success(
        request,
        f"Published as version {version.number}; accounts are rescored with it from the next "
        "recompute (run backfill_health to rebuild its history).",
    )
    return redirect("scorecards:edit", pk=pk)
