"""Dashboard pages of health: the scorecard builder.

Everyone reads scorecards (the edit page is read-only for CSMs and viewers); only admins
create, change, enable, disable or delete them. Every save is validated by
health.scorecards and published as a new version if the scoring changed.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.choices import TouchModel
from cs_platform.roles import ADMIN, ALL_ROLES, has_role, role_required
from health.forms import MeasureFormSet, ScorecardForm, disable_all, measure_initial
from health.learning_views import learn_form
from health.models import AccountHealth, LearningRun, Scorecard, ScorecardMeasure
from health.scorecards import publish
from journeys.choices import Stage

TOUCH_LABELS = dict(TouchModel.choices)
STAGE_LABELS = dict(Stage.choices)


def segment_summary(card: Scorecard) -> str:
    """The segment in a few words, e.g. "Plans Enterprise · High touch · ARR 100,000+"."""
    if card.is_default:
        return "Every account no other scorecard matches"
    parts = []
    if card.plans:
        parts.append(f"Plans {', '.join(card.plans)}")
    if card.industries:
        parts.append(f"Industries {', '.join(card.industries)}")
    if card.touch_models:
        parts.append(", ".join(TOUCH_LABELS.get(t, t) for t in card.touch_models))
    if card.stages:
        parts.append("Stage " + ", ".join(STAGE_LABELS.get(s, s) for s in card.stages))
    for label, low, high in (
        ("ARR", card.arr_min, card.arr_max),
        ("Employees", card.employees_min, card.employees_max),
    ):
        if low is not None and high is not None:
            parts.append(f"{label} {low:,.0f}–{high:,.0f}")
        elif low is not None:
            parts.append(f"{label} {low:,.0f}+")
        elif high is not None:
            parts.append(f"{label} up to {high:,.0f}")
    return " · ".join(parts) or "All accounts"


def _list_queryset():
    return (
        Scorecard.objects.select_related("current_version")
        .annotate(measure_count=Count("measures"))
        .order_by("is_default", "priority", "name")
    )


@role_required(*ALL_ROLES)
def scorecard_list(request):
    """Every scorecard in matching order (the default last), one query for the rows."""
    cards = list(_list_queryset())
    for card in cards:
        card.segment_summary = segment_summary(card)
    return render(request, "health/scorecard_list.html", {"scorecards": cards})


@role_required(ADMIN)
def scorecard_create(request):
    return _builder(request, None)


@role_required(*ALL_ROLES)
def scorecard_edit(request, pk):
    card = get_object_or_404(Scorecard.objects.select_related("current_version"), pk=pk)
    if request.method == "POST":
        return _save(request, card)
    return _builder(request, card)


@role_required(ADMIN)
def _save(request, card):
    return _builder(request, card)


def _builder(request, card):
    """The form and the measures; on a valid POST, save both and publish, all or nothing."""
    can_edit = has_role(request.user, ADMIN)
    if request.method == "POST" and not can_edit:  # every caller checks already: belt and braces
        raise PermissionDenied
    data = request.POST if request.method == "POST" else None
    form = ScorecardForm(data, instance=card)
    measures = MeasureFormSet(data, initial=measure_initial(card), prefix="measures")
    if not can_edit:
        disable_all(form)
        for row in measures:
            disable_all(row)
    if data is not None and form.is_valid() & measures.is_valid():
        try:
            version, created = _save_scorecard(form, measures.measures, request.user)
        except IntegrityError:  # another admin saved the same name or a default just now
            if card is None:
                form.instance.pk = None
            form.add_error(None, "Someone else changed scorecards meanwhile; please try again.")
        else:
            saved = form.instance
            if created:
                messages.success(
                    request, f"{saved.name} saved and published as version {version.number}."
                )
            else:
                messages.success(
                    request,
                    f"{saved.name} saved; its scoring is unchanged (version {version.number}).",
                )
            return redirect("scorecards:edit", pk=saved.pk)
    versions = card.versions.select_related("created_by") if card else []
    scored = AccountHealth.objects.filter(scorecard_version__scorecard=card).count() if card else 0
    return render(
        request,
        "health/scorecard_form.html",
        {
            "form": form,
            "measures": measures,
            "scorecard": card,
            "can_edit": can_edit,
            "versions": versions,
            "scored": scored,
            "learn_form": learn_form(),
            "learned": card.learned.select_related("version")[:10] if card else [],
            "runs": card.learning_runs.exclude(status=LearningRun.Status.DONE)[:5] if card else [],
        },
        status=400 if data is not None else 200,
    )


def _save_scorecard(form, measures: list[dict], by):
    """The scorecard, its measures and a new version if the scoring changed, in one transaction."""
    with transaction.atomic():
        previous = form.instance.current_version if form.instance.pk else None
        card = form.save()
        card.measures.all().delete()
        ScorecardMeasure.objects.bulk_create(
            [
                ScorecardMeasure(scorecard=card, position=i, **item)
                for i, item in enumerate(measures)
            ]
        )
        version = publish(card, by=by)
    return version, version != previous


@require_POST
@role_required(ADMIN)
def scorecard_toggle(request, pk):
    card = get_object_or_404(Scorecard, pk=pk)
    card.enabled = not card.enabled
    card.save(update_fields=["enabled", "updated_at"])
    if request.htmx:
        card = _list_queryset().get(pk=pk)
        card.segment_summary = segment_summary(card)
        return render(request, "health/_scorecard_row.html", {"card": card})
    messages.success(request, f"{card.name} is {'enabled' if card.enabled else 'disabled'}.")
    if request.POST.get("next") == "edit":
        return redirect("scorecards:edit", pk=pk)
    return redirect("scorecards:list")


@role_required(ADMIN)
def scorecard_delete(request, pk):
    """GET asks for confirmation; POST deletes. The default scorecard is never deleted."""
    card = get_object_or_404(Scorecard, pk=pk)
    if card.is_default:
        messages.error(request, "The default scorecard cannot be deleted; edit it instead.")
        if request.method == "POST":
            return render(request, "health/scorecard_delete.html", {"scorecard": card}, status=400)
        return redirect("scorecards:edit", pk=card.pk)
    if request.method == "POST":
        card.delete()
        messages.success(request, f"Scorecard {card.name!r} deleted.")
        return redirect("scorecards:list")
    scored = AccountHealth.objects.filter(scorecard_version__scorecard=card).count()
    return render(request, "health/scorecard_delete.html", {"scorecard": card, "scored": scored})
