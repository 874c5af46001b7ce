"""What health announces; playbooks connect receivers (health never imports playbooks)."""

from django.dispatch import Signal

# Sent after commit for live (not backfilled) colour changes: change_ids (HealthChange ids).
health_changed = Signal()
