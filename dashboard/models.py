"""What the dashboard keeps of its own: the saved views (segments) of the accounts list."""

from django.conf import settings
from django.db import models


class SavedView(models.Model):
    """A named set of filters of the accounts list, e.g. "Enterprise renewing, not green"."""

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    query = models.CharField(max_length=2000, help_text="The list's query string.")
    shared = models.BooleanField(default=False, help_text="Visible to the whole team.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_name_per_owner")
        ]

    def __str__(self):
        return self.name
