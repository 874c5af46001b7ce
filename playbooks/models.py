"""Playbooks (trigger, conditions, ordered actions, cooldown), their runs, attempts, CSM tasks."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from cs_platform.roles import ADMIN, has_role
from playbooks.choices import (
    ActionKind,
    ActionStatus,
    AttemptStatus,
    RunStatus,
    TaskPriority,
    TaskStatus,
    TriggerKind,
)


class Playbook(models.Model):
    """An automation: when its trigger occurs on an account matching its conditions, act.

    Conditions are a segment (empty filters match everything) checked with one queryset over
    the candidate accounts; ``personas`` filters on the contact that caused the trigger.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=False, help_text="Only enabled playbooks fire.")
    trigger_kind = models.CharField(max_length=30, choices=TriggerKind.choices)
    trigger_params = models.JSONField(
        default=dict, blank=True, help_text="The trigger's parameters, validated per kind."
    )
    cooldown_days = models.PositiveIntegerField(
        default=7,
        help_text="After a run on an account, further matches on it within this many days "
        "are suppressed (and counted). 0: no cooldown.",
    )
    # --- conditions on the account
    plans = models.JSONField(default=list, blank=True, help_text="Plan names; empty: any.")
    touch_models = models.JSONField(default=list, blank=True)
    industries = models.JSONField(default=list, blank=True)
    arr_min = models.DecimalField(
        "ARR from", max_digits=14, decimal_places=2, null=True, blank=True
    )
    arr_max = models.DecimalField(
        "ARR up to", max_digits=14, decimal_places=2, null=True, blank=True
    )
    employees_min = models.PositiveIntegerField("employees from", null=True, blank=True)
    employees_max = models.PositiveIntegerField("employees up to", null=True, blank=True)
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="Empty: any owner."
    )
    stages = models.JSONField(default=list, blank=True, help_text="Journey stages; empty: any.")
    health_colors = models.JSONField(
        default=list, blank=True, help_text="Current health colours; empty: any."
    )
    personas = models.JSONField(
        default=list,
        blank=True,
        help_text="Persona of the contact that triggered it (NPS answer, event, key contact).",
    )
    segment_baseline_at = models.DateTimeField(
        null=True, blank=True, help_text="Segment trigger: when current members were recorded."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(arr_min__isnull=True) | Q(arr_max__isnull=True)
                | Q(arr_max__gte=models.F("arr_min")),
                name="playbook_arr_range_ordered",
            )
        ]  # fmt: skip

    def __str__(self):
        return self.name

    @property
    def cooldown(self) -> timedelta:
        return timedelta(days=self.cooldown_days)

    def trigger_summary(self) -> str:
        from playbooks.triggers import describe_trigger

        return describe_trigger(self.trigger_kind, self.trigger_params)


class PlaybookAction(models.Model):
    """One step of a playbook; steps run in ``position`` order."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=ActionKind.choices)
    params = models.JSONField(default=dict, blank=True)

    # Credentials among the params: a webhook's signing secret, and a Slack incoming-webhook
    # URL (whoever has it can post to the channel).
    SECRET_PARAMS = {ActionKind.WEBHOOK: ("secret",), ActionKind.SLACK: ("url",)}
    MASK = "********"

    class Meta:
        ordering = ["playbook", "position", "id"]

    def __str__(self):
        return f"{self.position}. {self.get_kind_display()}"

    def params_shown_to(self, user) -> dict:
        """The params as ``user`` may see them: credentials masked for everyone but admins."""
        if user is not None and has_role(user, ADMIN):
            return dict(self.params)
        hidden = self.SECRET_PARAMS.get(self.kind, ())
        return {k: (self.MASK if k in hidden and v else v) for k, v in self.params.items()}


class PlaybookRun(models.Model):
    """One trigger occurrence on one account for one playbook: created at most once.

    The unique (playbook, occurrence_key) makes a second worker, a retried task or a re-sent
    event a no-op. A match inside the cooldown is kept as a ``suppressed`` run (counted).
    """

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="runs")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="playbook_runs")
    occurrence_key = models.CharField(
        max_length=255, help_text="e.g. health:123 or renewal:42:2027-01-10:30"
    )
    trigger_kind = models.CharField(max_length=30, choices=TriggerKind.choices)
    occurred_at = models.DateTimeField(help_text="When the trigger occurred.")
    status = models.CharField(max_length=12, choices=RunStatus.choices, db_index=True)
    explanation = models.TextField(help_text="Why it fired, in plain words.")
    facts = models.JSONField(default=dict, blank=True, help_text="What the trigger saw.")
    claim = models.CharField(
        max_length=32, blank=True, help_text="The evaluation that inserted it (internal)."
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["playbook", "occurrence_key"], name="one_run_per_occurrence"
            )
        ]
        indexes = [
            models.Index(fields=["playbook", "account", "occurred_at"], name="run_cooldown"),
            models.Index(fields=["account", "created_at"], name="run_account_time"),
        ]

    def __str__(self):
        return f"{self.playbook} on {self.account_id} ({self.status})"


class RunAction(models.Model):
    """One action of one run: a copy of the step as it was when the run fired, and its state."""

    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="actions")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=ActionKind.choices)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=ActionStatus.choices, default=ActionStatus.PENDING, db_index=True
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    result = models.TextField(blank=True, help_text="What it did, e.g. 'task 12 for maya'.")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="one_action_per_position")
        ]

    def __str__(self):
        return f"run {self.run_id} #{self.position} {self.kind}: {self.status}"


class ActionAttempt(models.Model):
    """One try of a run's action: outcome, HTTP status, error, and when the next try is due."""

    action = models.ForeignKey(RunAction, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=AttemptStatus.choices)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    manual = models.BooleanField(default=False, help_text="Started by a retry from the run log.")

    class Meta:
        ordering = ["action", "number"]

    def __str__(self):
        return f"attempt {self.number} of {self.action_id}: {self.status}"


class Task(models.Model):
    """A piece of work for a CSM about an account, made by a playbook run or by hand."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tasks")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cs_tasks",
        help_text="Empty while the account has no owner.",
    )
    title = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    due_date = models.DateField(null=True, blank=True, db_index=True)
    priority = models.CharField(
        max_length=10, choices=TaskPriority.choices, default=TaskPriority.NORMAL
    )
    status = models.CharField(
        max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN, db_index=True
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    created_by_run = models.ForeignKey(
        PlaybookRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    source_action = models.OneToOneField(
        RunAction,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="task",
        help_text="The run action that made it: a retried action never makes a second task.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["status", "due_date", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.SNOOZED) | Q(snoozed_until__isnull=False),
                name="snoozed_task_has_end",
            ),
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.DONE) | Q(completed_at__isnull=False),
                name="done_task_has_completion",
            ),
        ]
        indexes = [models.Index(fields=["assignee", "status", "due_date"], name="task_inbox")]

    def __str__(self):
        return self.title

    def complete(self, at=None):
        self.status, self.completed_at, self.snoozed_until = (
            TaskStatus.DONE,
            at or timezone.now(),
            None,
        )
        self.save(update_fields=["status", "completed_at", "snoozed_until"])

    def snooze(self, until):
        self.status, self.snoozed_until, self.completed_at = TaskStatus.SNOOZED, until, None
        self.save(update_fields=["status", "snoozed_until", "completed_at"])

    def reopen(self):
        self.status, self.snoozed_until, self.completed_at = TaskStatus.OPEN, None, None
        self.save(update_fields=["status", "snoozed_until", "completed_at"])


class WebhookAllowedHost(models.Model):
    """An admin's exception to the SSRF guard: a host name, an IP or a network (CIDR)."""

    host = models.CharField(
        max_length=255, unique=True, help_text="e.g. hooks.internal.example, 10.0.0.5, 10.1.0.0/16"
    )
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.host


class ScanCursor(models.Model):
    """How far a set-based scan has read a table (the last id seen), e.g. new events."""

    name = models.CharField(max_length=50, primary_key=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.name} at {self.position}"


class KnownKeyContact(models.Model):
    """The key contacts seen by the last scan: comparing with today tells who left or arrived."""

    contact_id = models.BigIntegerField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.contact_id} key at {self.account_id} since {self.since:%Y-%m-%d}"


class SegmentMember(models.Model):
    """An account inside a segment-entered playbook's segment at the last scan."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["playbook", "account"], name="segment_member_once")
        ]

    def __str__(self):
        return f"{self.account_id} in {self.playbook_id}"
