from django.contrib import admin

from accounts.catalogue import describe_event
from accounts.choices import ContractSource
from accounts.contracts import contract_source
from accounts.models import (
    Account,
    Contact,
    ContractChange,
    DailyAccountUsage,
    DailyContactUsage,
    DailyFeatureUsage,
    DirtyAccount,
    Event,
    EventCatalogueState,
    EventDefinition,
    EventUse,
    EventWeek,
    ImportJob,
    Note,
    ProcessedMessage,
    SurveyResponse,
)


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("name", "email", "title", "persona", "is_key_contact", "is_active", "last_seen_at")
    show_change_link = True


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "external_id",
        "plan",
        "arr",
        "currency",
        "touch_model",
        "owner",
        "renewal_date",
        "status",
    )
    list_filter = ("status", "touch_model", "plan", "industry")
    search_fields = ("name", "domain", "external_id")
    list_select_related = ("owner",)
    raw_id_fields = ("parent",)
    date_hierarchy = "renewal_date"
    inlines = [ContactInline]

    def save_model(self, request, obj, form, change):
        with contract_source(ContractSource.ADMIN):  # records a change of ARR or renewal
            super().save_model(request, obj, form, change)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the app writes and never a person: shown, not added, changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ContractChange)
class ContractChangeAdmin(ReadOnlyAdmin):
    """The contract history is written by the app, never by hand: read-only here."""

    list_display = (
        "account",
        "changed_at",
        "kind",
        "arr_before",
        "arr_after",
        "renewal_date_before",
        "renewal_date_after",
        "source",
    )
    list_filter = ("source",)
    search_fields = ("account__name", "account__external_id")
    list_select_related = ("account",)
    date_hierarchy = "changed_at"


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "email",
        "account",
        "persona",
        "is_key_contact",
        "is_active",
        "last_seen_at",
    )
    list_filter = ("persona", "is_key_contact", "is_active")
    search_fields = ("name", "email", "external_id", "account__name")
    list_select_related = ("account",)
    raw_id_fields = ("account",)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "contact", "occurred_at", "received_at", "message_id")
    search_fields = ("message_id", "name", "account__name")
    list_select_related = ("account", "contact")
    raw_id_fields = ("account", "contact")
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # counting millions of events on every page is slow


@admin.register(DailyAccountUsage)
class DailyAccountUsageAdmin(admin.ModelAdmin):
    list_display = ("account", "date", "event_count", "active_contacts", "distinct_events")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    date_hierarchy = "date"


@admin.register(DailyContactUsage)
class DailyContactUsageAdmin(admin.ModelAdmin):
    list_display = ("contact", "account", "date", "event_count")
    list_select_related = ("contact", "account")
    raw_id_fields = ("contact", "account")
    date_hierarchy = "date"


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
    list_display = ("account", "contact", "kind", "score", "responded_at")
    list_filter = ("kind",)
    search_fields = ("account__name", "comment")
    list_select_related = ("account", "contact")
    raw_id_fields = ("account", "contact")


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("account", "kind", "author", "occurred_at")
    list_filter = ("kind",)
    search_fields = ("account__name", "body")
    list_select_related = ("account", "author")
    raw_id_fields = ("account",)


@admin.register(DirtyAccount)
class DirtyAccountAdmin(admin.ModelAdmin):
    list_display = ("account", "marked_at")
    list_select_related = ("account",)
    raw_id_fields = ("account",)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("filename", "kind", "rows", "status", "uploaded_by", "created_at")
    list_filter = ("kind", "status")
    exclude = ("content",)
    readonly_fields = ("counts", "errors", "started_at", "finished_at")


@admin.register(DailyFeatureUsage)
class DailyFeatureUsageAdmin(admin.ModelAdmin):
    list_display = ("account", "date", "name", "event_count")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    date_hierarchy = "date"


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(admin.ModelAdmin):
    list_display = ("message_id", "received_at")
    search_fields = ("message_id",)
    show_full_result_count = False


@admin.register(EventDefinition)
class EventDefinitionAdmin(admin.ModelAdmin):
    """The catalogue's rows: admins may describe an event and mark it a key feature; the
    usage columns are counted by accounts.catalogue and read-only here."""

    list_display = ("name", "key_feature", "account_count", "user_count", "last_seen_at")
    list_filter = ("key_feature",)
    search_fields = ("name", "description")
    fields = ("name", "key_feature", "description", "changed_by", "changed_at")
    readonly_fields = ("name", "changed_by", "changed_at")

    def has_add_permission(self, request):
        return False  # names come from the events

    def has_delete_permission(self, request, obj=None):
        return False  # its counts would start again from the next events only

    def save_model(self, request, obj, form, change):
        # The same path as the API and the catalogue page (who changed it, and when).
        describe_event(
            obj.name,
            key_feature=obj.key_feature,
            description=obj.description,
            by=request.user,
        )


@admin.register(EventUse)
class EventUseAdmin(ReadOnlyAdmin):
    """Counted by accounts.catalogue from the events (a rebuild recounts)."""

    list_display = ("name", "account", "contact", "first_seen", "last_seen")
    list_select_related = ("account", "contact")
    search_fields = ("name",)
    show_full_result_count = False


@admin.register(EventWeek)
class EventWeekAdmin(ReadOnlyAdmin):
    list_display = ("name", "week", "event_count")
    search_fields = ("name",)
    date_hierarchy = "week"


@admin.register(EventCatalogueState)
class EventCatalogueStateAdmin(ReadOnlyAdmin):
    list_display = ("events_through", "refreshed_at", "rebuilt_at")
