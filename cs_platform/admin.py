from django.contrib import admin

from cs_platform.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued from the dashboard or create_api_token; here they can be reviewed."""

    list_display = ("name", "user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at")
    list_select_related = ("user",)
    readonly_fields = ("prefix", "token_hash", "created_at", "last_used_at")
    search_fields = ("name", "prefix", "user__username")

    def has_add_permission(self, request):
        return False
