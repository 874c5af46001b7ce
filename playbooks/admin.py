from django.contrib import admin

from playbooks.models import (
    ActionAttempt,
    KnownKeyContact,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    RunAction,
    ScanCursor,
    SegmentMember,
    Task,
    WebhookAllowedHost,
)


class PlaybookActionInline(admin.TabularInline):
    model = PlaybookAction
    extra = 0


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ("name", "trigger_kind", "enabled", "cooldown_days", "updated_at")
    list_filter = ("enabled", "trigger_kind")
    search_fields = ("name",)
    inlines = [PlaybookActionInline]


class RunActionInline(admin.TabularInline):
    model = RunAction
    extra = 0
    readonly_fields = ("position", "kind", "status", "attempt_count", "result", "next_retry_at")
    exclude = ("params",)


@admin.register(PlaybookRun)
class PlaybookRunAdmin(admin.ModelAdmin):
    list_display = ("playbook", "account", "status", "occurred_at", "created_at")
    list_filter = ("status", "trigger_kind", "playbook")
    raw_id_fields = ("account",)
    readonly_fields = ("occurrence_key", "claim", "facts", "explanation")
    inlines = [RunActionInline]


@admin.register(ActionAttempt)
class ActionAttemptAdmin(admin.ModelAdmin):
    list_display = ("action", "number", "status", "response_code", "finished_at")
    list_filter = ("status",)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "account", "assignee", "due_date", "priority", "status")
    list_filter = ("status", "priority")
    raw_id_fields = ("account", "created_by_run", "source_action")


@admin.register(WebhookAllowedHost)
class WebhookAllowedHostAdmin(admin.ModelAdmin):
    list_display = ("host", "note", "created_at")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the engine keeps for itself: browsable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PlaybookAction)
class PlaybookActionAdmin(ReadOnlyAdmin):
    list_display = ["playbook", "position", "kind"]
    list_select_related = ["playbook"]


@admin.register(RunAction)
class RunActionAdmin(ReadOnlyAdmin):
    list_display = ["run", "position", "kind", "status", "attempt_count"]


@admin.register(ScanCursor)
class ScanCursorAdmin(ReadOnlyAdmin):
    list_display = ["name", "position"]


@admin.register(KnownKeyContact)
class KnownKeyContactAdmin(ReadOnlyAdmin):
    pass


@admin.register(SegmentMember)
class SegmentMemberAdmin(ReadOnlyAdmin):
    pass
