"""Where each account is in its journey, every move between stages, and escalations."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from accounts.choices import TouchModel
from accounts.models import Account, SurveyResponse
from journeys.choices import MilestoneRule, Severity, Stage


class AccountStage(models.Model):
    """The current journey stage of one account (one row per account)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="journey")
    stage = models.CharField(max_length=20, choices=Stage.choices, db_index=True)
    entered_at = models.DateTimeField(help_text="When the account entered its current stage.")
    return_stage = models.CharField(
        max_length=20,
        choices=Stage.choices,
        blank=True,
        help_text="While escalated: the stage to go back to once the escalation is resolved.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(stage=Stage.ESCALATION) | Q(return_stage=""),
                name="return_stage_only_while_escalated",
            )
        ]

    def __str__(self):
        return f"{self.account} – {self.get_stage_display()}"


class StageTransition(models.Model):
    """One move of an account between stages: from, to, when, why, and by whom or which rule."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="stage_transitions")
    from_stage = models.CharField(
        max_length=20, choices=Stage.choices, blank=True, help_text="Empty for the first stage."
    )
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    moved_at = models.DateTimeField(db_index=True)
    reason = models.TextField(blank=True)
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="The person who moved it; empty when a rule did.",
    )
    rule = models.CharField(
        max_length=100, blank=True, help_text="The automatic rule that moved it, if any."
    )

    class Meta:
        ordering = ["-moved_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_stage=models.F("to_stage")), name="transition_changes_stage"
            )
        ]
        indexes = [models.Index(fields=["account", "moved_at"], name="transition_account_time")]

    def __str__(self):
        return f"{self.account_id}: {self.from_stage or '∅'} → {self.to_stage}"


class Escalation(models.Model):
    """A customer problem raised to the CS team, from any stage of the journey."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="escalations")
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, db_index=True)
    opened_at = models.DateTimeField(db_index=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalations_owned",
    )
    response_due_at = models.DateTimeField(
        null=True, blank=True, help_text="First response deadline, from the severity's policy."
    )
    breached_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the response deadline passed without a first response.",
    )
    feedback_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When the customer was asked how it was handled."
    )
    feedback = models.OneToOneField(
        SurveyResponse,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalation",
        help_text="The customer's CSAT answer about how the escalation was handled.",
    )

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True)
                | Q(first_response_at__gte=models.F("opened_at")),
                name="escalation_response_after_open",
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True) | Q(resolved_at__gte=models.F("opened_at")),
                name="escalation_resolved_after_open",
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def clean(self):
        for field in ("first_response_at", "resolved_at"):
            value = getattr(self, field)
            if value and self.opened_at and value < self.opened_at:
                raise ValidationError({field: "Cannot be before the escalation was opened."})


class EscalationPolicy(models.Model):
    """How fast each severity must get a first response, and whether it escalates the journey."""

    severity = models.CharField(max_length=10, choices=Severity.choices, unique=True)
    response_hours = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text="Hours from opening to the first response before it counts as breached.",
    )
    moves_to_escalation_stage = models.BooleanField(
        default=False,
        help_text="Severe escalations put the account into the escalation stage until resolved.",
    )

    class Meta:
        verbose_name_plural = "escalation policies"
        ordering = ["response_hours"]
        constraints = [
            models.CheckConstraint(
                condition=Q(response_hours__gte=1), name="escalation_policy_positive_hours"
            )
        ]

    def __str__(self):
        return f"{self.get_severity_display()}: respond within {self.response_hours} h"


class Handoff(models.Model):
    """What sales hands to customer success: why they bought and what success means to them."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="handoff")
    reasons_for_buying = models.TextField(help_text="Why the customer bought.")
    problems_to_solve = models.TextField(help_text="The problems they expect us to solve.")
    success_criteria = models.TextField(help_text="How the customer will judge success.")
    expected_go_live = models.DateField(null=True, blank=True)
    sold_by = models.CharField(max_length=255, help_text="The account executive who sold it.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Handoff of {self.account}"

    @property
    def is_complete(self) -> bool:
        return all(
            getattr(self, f).strip()
            for f in ("reasons_for_buying", "problems_to_solve", "success_criteria", "sold_by")
        )


class MilestoneTemplate(models.Model):
    """A success plan for a segment: the milestones a customer of that segment should reach."""

    name = models.CharField(max_length=100, unique=True)
    touch_model = models.CharField(
        max_length=10, choices=TouchModel.choices, blank=True, help_text="Empty: any touch model."
    )
    plan = models.CharField(max_length=100, blank=True, help_text="Empty: any plan.")
    priority = models.PositiveIntegerField(
        default=100, help_text="The first matching template (lowest number) applies."
    )

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self):
        return self.name


class MilestoneDefinition(models.Model):
    """One milestone of a template: when it is due and what counts as reaching it."""

    template = models.ForeignKey(
        MilestoneTemplate, on_delete=models.CASCADE, related_name="milestones"
    )
    name = models.CharField(max_length=200, help_text="e.g. First report shared with the team")
    order = models.PositiveIntegerField(default=0)
    target_days = models.PositiveIntegerField(help_text="Due this many days after contract start.")
    rule = models.CharField(max_length=20, choices=MilestoneRule.choices)
    event_name = models.CharField(
        max_length=200, blank=True, help_text="For 'event reaches a count': the event's name."
    )
    threshold = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="The count or number of users."
    )
    required_for_onboarding = models.BooleanField(
        default=True, help_text="Onboarding ends (to adoption) when all required ones are reached."
    )
    marks_first_value = models.BooleanField(
        default=False, help_text="Reaching it is the customer's first value (time to value)."
    )

    class Meta:
        ordering = ["template", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(rule=MilestoneRule.EVENT_COUNT) | ~Q(event_name=""),
                name="event_rule_names_an_event",
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=1), name="milestone_threshold_positive"
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.rule == MilestoneRule.EVENT_COUNT and not self.event_name.strip():
            raise ValidationError({"event_name": "An event-count milestone must name the event."})


class AccountMilestone(models.Model):
    """A milestone of one account: its due date, and when it was reached or fell overdue."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="milestones")
    definition = models.ForeignKey(
        MilestoneDefinition, on_delete=models.CASCADE, related_name="account_milestones"
    )
    due_date = models.DateField(db_index=True)
    reached_at = models.DateTimeField(null=True, blank=True)
    reached_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overdue_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was found past due and not reached."
    )

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "definition"], name="one_milestone_per_account"
            )
        ]

    def __str__(self):
        return f"{self.account_id}: {self.definition}"

    @property
    def is_overdue(self) -> bool:
        return self.reached_at is None and self.overdue_at is not None


class TenureCheckpoint(models.Model):
    """A mature account's periodic checkpoint (refresh training, review goals), once each."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="checkpoints")
    due_on = models.DateField()
    years = models.PositiveIntegerField(help_text="Tenure at the checkpoint, in years.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_on"]
        constraints = [
            models.UniqueConstraint(fields=["account", "due_on"], name="one_checkpoint_a_day")
        ]

    def __str__(self):
        return f"{self.account_id}: {self.years} years on {self.due_on}"
