"""What accounts announces; higher apps (health, playbooks) connect receivers."""

from django.dispatch import Signal

# Sent after commit when account data changed (events, surveys, upserts): account_ids.
accounts_changed = Signal()
