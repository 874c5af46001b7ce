"""Django admin for health: scorecards are validated like everywhere else and published."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from health.models import (
    AccountHealth,
    CsmSentiment,
    HealthChange,
    HealthOverride,
    HealthSnapshot,
    LearnedScorecard,
    LearningRun,
    Scorecard,
    ScorecardMeasure,
    ScorecardVersion,
)
from health.scorecards import publish, validate_bands, validate_measures, validate_segment


class MeasureFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        items = [
            {"kind": f.cleaned_data["kind"], "weight": f.cleaned_data["weight"],
             "params": f.cleaned_data.get("params") or {}}
            for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]  # fmt: skip
        try:
            validate_measures(items)
        except ValidationError as exc:
            messages = [f"{k}: {'; '.join(v)}" for k, v in exc.message_dict.items()]
            raise ValidationError(messages) from None


class MeasureInline(admin.TabularInline):
    model = ScorecardMeasure
    formset = MeasureFormSet
    extra = 0
    fields = ["position", "kind", "weight", "params"]


class ScorecardForm(forms.ModelForm):
    class Meta:
        model = Scorecard
        fields = [
            "name", "description", "priority", "is_default", "enabled", "plans", "touch_models",
            "industries", "stages", "arr_min", "arr_max", "employees_min", "employees_max",
            "green_min", "yellow_min", "hysteresis",
        ]  # fmt: skip

    def clean(self):
        data = super().clean()
        try:
            validate_bands(
                data.get("green_min") or 0, data.get("yellow_min") or 0, data.get("hysteresis") or 0
            )
            validate_segment(data)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return data


@admin.register(Scorecard)
class ScorecardAdmin(admin.ModelAdmin):
    form = ScorecardForm
    inlines = [MeasureInline]
    list_display = ["name", "priority", "is_default", "enabled", "current_version", "updated_at"]
    readonly_fields = ["current_version"]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        publish(form.instance, by=request.user)  # measures are saved only now


class ReadOnlyAdmin(admin.ModelAdmin):
    """Computed rows: browsable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ScorecardMeasure)
class ScorecardMeasureAdmin(ReadOnlyAdmin):
    """Edited inline on their scorecard (so that every edit is validated and published)."""

    list_display = ["scorecard", "kind", "weight", "position"]
    list_select_related = ["scorecard"]


@admin.register(ScorecardVersion)
class ScorecardVersionAdmin(admin.ModelAdmin):
    list_display = ["scorecard", "number", "created_at", "created_by"]
    readonly_fields = ["scorecard", "number", "definition", "created_at", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AccountHealth)
class AccountHealthAdmin(ReadOnlyAdmin):
    list_display = ["account", "score", "color", "as_of", "computed_at"]
    list_filter = ["color"]
    list_select_related = ["account"]
    search_fields = ["account__name"]


@admin.register(HealthSnapshot)
class HealthSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["account", "date", "score", "color"]
    list_filter = ["color"]
    list_select_related = ["account"]
    date_hierarchy = "date"


@admin.register(HealthChange)
class HealthChangeAdmin(ReadOnlyAdmin):
    list_display = ["account", "changed_at", "from_color", "to_color", "to_score", "backfilled"]
    list_filter = ["to_color", "backfilled"]
    list_select_related = ["account"]


@admin.register(HealthOverride)
class HealthOverrideAdmin(admin.ModelAdmin):
    list_display = ["account", "color", "expires_at", "created_by", "ended_at", "end_reason"]
    list_select_related = ["account", "created_by"]
    raw_id_fields = ["account"]


@admin.register(CsmSentiment)
class CsmSentimentAdmin(admin.ModelAdmin):
    list_display = ["account", "sentiment", "set_by", "set_at"]
    list_select_related = ["account", "set_by"]
    raw_id_fields = ["account"]


@admin.register(LearnedScorecard)
class LearnedScorecardAdmin(ReadOnlyAdmin):
    """Fitted on the scorecard's page or with learn_scorecard; published there, not here."""

    list_display = ("version", "as_of", "window_days", "status", "created_at")
    list_filter = ("status",)


@admin.register(LearningRun)
class LearningRunAdmin(ReadOnlyAdmin):
    """Queued by the scorecard page's "Learn a draft", run by a worker (health.learning_runs)."""

    list_display = ("scorecard", "as_of", "status", "error_field", "created_at", "finished_at")
    list_filter = ("status",)
    list_select_related = ("scorecard",)
