from django.db import models


class TriggerKind(models.TextChoices):
    HEALTH_COLOR_CHANGED = "health_color_changed", "Health colour changed"
    SCORE_DROPPED = "score_dropped", "Health score dropped by N points within D days"
    STAGE_ENTERED = "stage_entered", "Journey stage entered"
    MILESTONE_REACHED = "milestone_reached", "Milestone reached"
    MILESTONE_OVERDUE = "milestone_overdue", "Milestone overdue"
    RENEWAL_WITHIN = "renewal_within", "Renewal within N days"
    KEY_CONTACT_CHANGED = "key_contact_changed", "Key contact changed"
    NPS_DETRACTOR = "nps_detractor", "NPS detractor response"
    ESCALATION_OPENED = "escalation_opened", "Escalation opened"
    ESCALATION_BREACHED = "escalation_breached", "Escalation past its response deadline"
    ESCALATION_RESOLVED = "escalation_resolved", "Escalation resolved"
    NO_ACTIVITY = "no_activity", "No activity for N days"
    TENURE_ANNIVERSARY = "tenure_anniversary", "Tenure anniversary every N months"
    PRODUCT_EVENT = "product_event", "Named product event"
    SEGMENT_ENTERED = "segment_entered", "Account entered a segment"


class ActionKind(models.TextChoices):
    CREATE_TASK = "create_task", "Create a task"
    SEND_EMAIL = "send_email", "Send an email"
    WEBHOOK = "webhook", "POST a signed webhook"
    SLACK = "slack", "Post to Slack"
    MOVE_STAGE = "move_stage", "Move the journey stage"
    ADD_NOTE = "add_note", "Add a timeline note"
    SET_FIELD = "set_field", "Set an account field"


class KeyContactChange(models.TextChoices):
    LEFT = "left", "Left (no longer active or no longer key)"
    REPLACED = "replaced", "Replaced (a new key contact appeared)"
    INACTIVE = "inactive", "Inactive for N days"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SUPPRESSED = "suppressed", "Suppressed by cooldown"


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Failed, will retry"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class AttemptStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class TaskPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    SNOOZED = "snoozed", "Snoozed"
    DONE = "done", "Done"


class Recipient(models.TextChoices):
    OWNER = "owner", "The account owner"
    PERSONA = "persona", "The account's contacts of a persona"
    USER = "user", "A named user"


# Account fields a playbook may set, and nothing else.
SETTABLE_FIELDS = {
    "plan": "Plan",
    "touch_model": "Touch model",
    "industry": "Industry",
    "owner": "Owner",
}
