from django.db import models


class TouchModel(models.TextChoices):
    HIGH = "high", "High touch"
    LOW = "low", "Low touch"
    TECH = "tech", "Tech touch"


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CHURNED = "churned", "Churned"


class Persona(models.TextChoices):
    ADMIN = "admin", "Admin"
    END_USER = "end_user", "End user"
    CHAMPION = "champion", "Champion"
    EXECUTIVE_SPONSOR = "executive_sponsor", "Executive sponsor"
    BILLING = "billing", "Billing"


class SurveyKind(models.TextChoices):
    NPS = "nps", "NPS (0-10)"
    CSAT = "csat", "CSAT (1-5)"


class NoteKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Call"
    MEETING = "meeting", "Meeting"
    EMAIL = "email", "Email"


# Score ranges per survey kind, used by the model's check constraint and validation.
SURVEY_SCORE_RANGE = {SurveyKind.NPS: (0, 10), SurveyKind.CSAT: (1, 5)}


class ContractSource(models.TextChoices):
    """Which write path changed an account's ARR or renewal date."""

    API = "api", "REST API"
    SEGMENT = "segment", "Segment group"
    CSV = "csv", "CSV import"
    ADMIN = "admin", "Django admin"
    DEMO = "demo", "Demo portfolio"
    APP = "app", "Application code"
