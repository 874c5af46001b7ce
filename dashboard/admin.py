from django.contrib import admin

from dashboard.models import SavedView


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "shared", "created_at"]
    list_select_related = ["owner"]
