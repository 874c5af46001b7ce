"""What journeys announce; higher apps (health, playbooks) connect receivers."""

from django.dispatch import Signal

# Sent after commit of a stage move: account_id, transition (StageTransition).
stage_entered = Signal()
