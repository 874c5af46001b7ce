"""What journeys announce; higher apps (health, playbooks) connect receivers."""

from django.dispatch import Signal

# Sent after commit of a stage move: account_id, transition (StageTransition).
stage_entered = Signal()

# Sent after commit with escalation_ids (a list): opened, response deadline breached, resolved.
escalation_opened = Signal()
escalation_breached = Signal()
escalation_resolved = Signal()

# Sent after commit with milestone_ids (a list of AccountMilestone ids).
milestone_reached = Signal()
milestone_overdue = Signal()

# Sent after commit with checkpoint_ids: mature accounts due a refresh (training, goals).
tenure_checkpoint = Signal()
