from django.contrib import admin

from journeys.models import (
    AccountMilestone,
    AccountStage,
    Escalation,
    EscalationPolicy,
    Handoff,
    MilestoneDefinition,
    MilestoneTemplate,
    StageTransition,
    TenureCheckpoint,
)


@admin.register(AccountStage)
class AccountStageAdmin(admin.ModelAdmin):
    list_display = ("account", "stage", "entered_at", "return_stage")
    list_filter = ("stage",)
    search_fields = ("account__name",)
    list_select_related = ("account",)
    raw_id_fields = ("account",)


@admin.register(StageTransition)
class StageTransitionAdmin(admin.ModelAdmin):
    list_display = ("account", "from_stage", "to_stage", "moved_at", "moved_by", "rule")
    list_filter = ("to_stage", "from_stage")
    search_fields = ("account__name", "reason")
    list_select_related = ("account", "moved_by")
    raw_id_fields = ("account",)


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = (
        "title", "account", "severity", "opened_at", "response_due_at", "first_response_at",
        "breached_at", "resolved_at",
    )  # fmt: skip
    list_filter = ("severity",)
    search_fields = ("title", "account__name")
    list_select_related = ("account",)
    raw_id_fields = ("account", "feedback")


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ("severity", "response_hours", "moves_to_escalation_stage")


@admin.register(Handoff)
class HandoffAdmin(admin.ModelAdmin):
    list_display = ("account", "sold_by", "expected_go_live", "updated_at")
    search_fields = ("account__name", "sold_by")
    list_select_related = ("account",)
    raw_id_fields = ("account",)


class MilestoneDefinitionInline(admin.TabularInline):
    model = MilestoneDefinition
    extra = 1


@admin.register(MilestoneTemplate)
class MilestoneTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "touch_model", "plan", "priority")
    inlines = [MilestoneDefinitionInline]


@admin.register(MilestoneDefinition)
class MilestoneDefinitionAdmin(admin.ModelAdmin):
    list_display = ("name", "template", "target_days", "rule", "event_name", "threshold")
    list_filter = ("template", "rule")


@admin.register(AccountMilestone)
class AccountMilestoneAdmin(admin.ModelAdmin):
    list_display = ("account", "definition", "due_date", "reached_at", "overdue_at")
    list_select_related = ("account", "definition")
    raw_id_fields = ("account",)


@admin.register(TenureCheckpoint)
class TenureCheckpointAdmin(admin.ModelAdmin):
    list_display = ("account", "due_on", "years", "created_at")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
