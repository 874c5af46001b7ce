from django.db import models


class Stage(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTION = "adoption", "Adoption"
    RENEWAL = "renewal", "Renewal"
    ESCALATION = "escalation", "Escalation"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class MilestoneRule(models.TextChoices):
    MANUAL = "manual", "Marked by a CSM"
    EVENT_COUNT = "event_count", "A product event reaches a count"
    ACTIVE_USERS = "active_users", "A number of users have been active"
