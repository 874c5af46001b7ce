"""The validation page of a scorecard: did its colours warn before customers left?

Everyone who reads scorecards (admins, CSMs, viewers) reads their validation.
"""

from django import forms
from django.shortcuts import get_object_or_404, render

from cs_platform.roles import ALL_ROLES, role_required
from health import charts
from health.models import Scorecard
from health.validation_data import (
    EVERY,
    MAX_WINDOW,
    Period,
    ValidationInputError,
    scorecard_validation,
)


class ValidationForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    window = forms.IntegerField(required=False, min_value=1, max_value=MAX_WINDOW)
    every = forms.ChoiceField(required=False, choices=[(k, f"Every {k}") for k in EVERY])
    version = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


def _charts(report: dict) -> dict:
    return {
        "roc": charts.roc(report["roc"], report["auc"]["value"]) if report["roc"] else "",
        "bands": charts.churn_by_band(report["bands"], report["period"]["window_days"]),
        "measures": charts.measure_strength(report["measures"]) if report["measures"] else "",
    }


@role_required(*ALL_ROLES)
def scorecard_validation_page(request, pk):
    card = get_object_or_404(Scorecard.objects.select_related("current_version"), pk=pk)
    form = ValidationForm(request.GET or None)
    errors, report = {}, None
    data = form.cleaned_data if form.is_valid() else {}
    period = Period.of(data.get("start"), data.get("end"), data.get("window"), data.get("every"))
    if form.is_bound and form.errors:
        errors = {field: " ".join(messages) for field, messages in form.errors.items()}
    else:
        try:
            report = scorecard_validation(card, period, version=data.get("version"))
        except ValidationInputError as exc:
            errors = {exc.field: str(exc)}
    shown = {"start": period.start, "end": period.end, "window": period.window}
    context = {
        "scorecard": card,
        "shown": {**shown, "every": period.every, **request.GET.dict()},
        "versions": card.versions.values_list("number", flat=True),
        "errors": errors,
        "report": report,
        "charts": _charts(report) if report else {},
    }
    return render(request, "health/validation.html", context, status=400 if errors else 200)
