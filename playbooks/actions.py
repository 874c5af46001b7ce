"""Action kinds: their parameters, what each does, and running one attempt of a run's action.

``run_attempt(action_id)`` claims the action, performs it, records the attempt (status,
response code, error, next retry) and says whether to retry; tasks.py does the queueing.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.choices import NoteKind, Persona, TouchModel
from accounts.dirty import mark_dirty
from accounts.models import Account, Contact, Note
from journeys.choices import Stage
from journeys.models import AccountStage
from journeys.stages import StageMoveError, move_account
from playbooks import templating, webhooks
from playbooks.choices import (
    SETTABLE_FIELDS,
    ActionKind,
    ActionStatus,
    AttemptStatus,
    Recipient,
    RunStatus,
    TaskPriority,
)
from playbooks.models import ActionAttempt, RunAction, Task
from playbooks.triggers import ParamsForm
from playbooks.webhooks import DeliveryError

ActionError = DeliveryError  # an action fails the same way a delivery does


class TemplateField(forms.CharField):
    """A Django-template string with the limited tags of templating.py; checked on save."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        try:
            templating.render(value, templating.SAMPLE_CONTEXT)
        except templating.TemplateError as exc:
            raise forms.ValidationError(str(exc)) from None


class HttpUrlField(forms.CharField):
    default_validators = [URLValidator(schemes=["http", "https"], message="Enter an http(s) URL.")]


def _user_exists(username: str) -> None:
    if not get_user_model().objects.filter(username=username, is_active=True).exists():
        raise forms.ValidationError(f"No active user named {username!r}.")


class RecipientMixin:
    def clean(self):
        cleaned = super().clean()
        recipient = cleaned.get("recipient") or Recipient.OWNER
        if recipient == Recipient.USER:
            if not cleaned.get("user"):
                self.add_error("user", "Name the user.")
            else:
                try:
                    _user_exists(cleaned["user"])
                except forms.ValidationError as exc:
                    self.add_error("user", exc)
        if recipient == Recipient.PERSONA and not cleaned.get("persona"):
            self.add_error("persona", "Choose the persona of the contacts to write to.")
        return cleaned


class CreateTaskParams(RecipientMixin, ParamsForm):
    recipient = forms.ChoiceField(
        label="Assign to",
        choices=[(Recipient.OWNER, "The account owner"), (Recipient.USER, "A named user")],
        required=False,
    )
    user = forms.CharField(max_length=150, required=False, help_text="Username")
    title = TemplateField(max_length=255, widget=forms.TextInput)
    body = TemplateField(required=False)
    due_in_days = forms.IntegerField(min_value=0, max_value=365, required=False)
    priority = forms.ChoiceField(choices=TaskPriority.choices, required=False)


class SendEmailParams(RecipientMixin, ParamsForm):
    recipient = forms.ChoiceField(choices=Recipient.choices, required=False)
    user = forms.CharField(max_length=150, required=False, help_text="Username")
    persona = forms.ChoiceField(choices=[("", "—"), *Persona.choices], required=False)
    subject = TemplateField(max_length=255, widget=forms.TextInput)
    body = TemplateField()


class WebhookParams(ParamsForm):
    url = HttpUrlField(label="URL", max_length=500)
    secret = forms.CharField(
        max_length=200, required=False, help_text="Signing secret; empty: one is generated."
    )
    timeout_seconds = forms.IntegerField(min_value=1, max_value=30, required=False)

    def clean_secret(self):
        return self.cleaned_data.get("secret") or secrets.token_urlsafe(32)


class SlackParams(ParamsForm):
    url = HttpUrlField(label="URL", max_length=500, help_text="A Slack incoming-webhook URL")
    text = TemplateField()


class MoveStageParams(ParamsForm):
    stage = forms.ChoiceField(choices=Stage.choices)


class AddNoteParams(ParamsForm):
    body = TemplateField()
    note_kind = forms.ChoiceField(choices=NoteKind.choices, required=False)


class SetFieldParams(ParamsForm):
    field = forms.ChoiceField(choices=list(SETTABLE_FIELDS.items()))
    value = forms.CharField(max_length=255, required=False)

    def clean(self):
        cleaned = super().clean()
        name, value = cleaned.get("field"), cleaned.get("value", "")
        try:
            if name == "touch_model" and value not in TouchModel.values:
                raise forms.ValidationError(f"Expected one of {', '.join(TouchModel.values)}.")
            if name == "owner" and value:
                _user_exists(value)
            if name in {"plan", "industry"} and len(value) > 100:
                raise forms.ValidationError("At most 100 characters.")
        except forms.ValidationError as exc:
            self.add_error("value", exc)
        return cleaned


@dataclass(frozen=True)
class ActionSpec:
    params_form: type[ParamsForm]
    perform: object  # (run_action, run, account, context) -> result text


def _context(run, account):
    journey = AccountStage.objects.filter(account=account).values_list("stage", flat=True).first()
    health = getattr(account, "health", None)
    return templating.run_context(
        run, templating.account_context(account, stage=journey or "", health=health)
    )


def _user(params, account):
    if params.get("recipient") == Recipient.USER:
        return get_user_model().objects.filter(username=params.get("user")).first()
    return account.owner


def perform_create_task(action, run, account, context):
    body = templating.render(action.params.get("body", ""), context)
    why = f"Why: {run.explanation}"
    assignee = _user(action.params, account)
    task, created = Task.objects.get_or_create(
        source_action=action,
        defaults={
            "account": account,
            "assignee": assignee,
            "title": templating.render(action.params["title"], context)[:255],
            "body": f"{body}\n\n{why}" if body else why,
            "due_date": timezone.localdate() + timedelta(days=action.params.get("due_in_days", 3)),
            "priority": action.params.get("priority", TaskPriority.NORMAL),
            "created_by_run": run,
        },
    )
    who = assignee.username if assignee else "nobody (no owner)"
    return f"task {task.pk} for {who}" + ("" if created else " (already made)")


def perform_send_email(action, run, account, context):
    recipient = action.params.get("recipient", Recipient.OWNER)
    if recipient == Recipient.PERSONA:
        emails = list(
            Contact.objects.filter(
                account=account, persona=action.params.get("persona"), is_active=True
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    else:
        user = _user(action.params, account)
        emails = [user.email] if user and user.email else []
    if not emails:
        raise ActionError("No recipient with an email address.", permanent=True)
    subject = templating.render(action.params["subject"], context).replace("\n", " ")
    body = templating.render(action.params["body"], context)
    try:
        send_mail(subject, f"{body}\n\nWhy: {run.explanation}", None, emails)
    except OSError as exc:
        raise ActionError(f"Email not sent: {exc}") from None
    return f"email to {', '.join(emails)}"


def webhook_payload(run, account, context) -> dict:
    return {
        "event": "playbook.run",
        "playbook": {"id": run.playbook_id, "name": run.playbook.name},
        "run": {
            "id": run.pk,
            "occurrence_key": run.occurrence_key,
            "trigger": run.trigger_kind,
            "occurred_at": run.occurred_at.isoformat(),
            "explanation": run.explanation,
            "facts": run.facts,
        },
        "account": {"id": account.pk, **context["account"]},
    }


def perform_webhook(action, run, account, context):
    code = webhooks.post_json(
        action.params["url"],
        webhook_payload(run, account, context),
        secret=action.params.get("secret", ""),
        timeout=action.params.get("timeout_seconds"),
    )
    return f"HTTP {code}"


def _slack_escape(value):
    if isinstance(value, dict):
        return {k: _slack_escape(v) for k, v in value.items()}
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def slack_message(text: str, run) -> dict:
    footer = _slack_escape(f"Playbook {run.playbook.name} · {run.explanation}")
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
        ],
    }


def perform_slack(action, run, account, context):
    text = templating.render(action.params["text"], _slack_escape(context))
    code = webhooks.post_json(action.params["url"], slack_message(text, run))
    return f"Slack HTTP {code}"


def perform_move_stage(action, run, account, context):
    reason = f"Playbook {run.playbook.name}: {run.explanation}"
    try:
        move_account(account, action.params["stage"], reason=reason, rule=run.playbook.name[:100])
    except StageMoveError as exc:
        if "already" in str(exc):
            return f"already in {action.params['stage']}"
        raise ActionError(str(exc), permanent=True) from None
    return f"moved to {action.params['stage']}"


def perform_add_note(action, run, account, context):
    note = Note.objects.create(
        account=account,
        kind=action.params.get("note_kind", NoteKind.NOTE),
        body=templating.render(action.params["body"], context),
        occurred_at=timezone.now(),
    )
    return f"note {note.pk}"


def perform_set_field(action, run, account, context):
    name, value = action.params["field"], action.params.get("value", "")
    if name not in SETTABLE_FIELDS:
        raise ActionError(f"{name} cannot be set by a playbook.", permanent=True)
    if name == "owner":
        value = get_user_model().objects.filter(username=value).first() if value else None
    with transaction.atomic():
        setattr(account, name, value)
        account.save(update_fields=[name, "updated_at"])
        mark_dirty([account.pk])
    return f"{name} set to {getattr(value, 'username', value)!s}"


ACTIONS: dict[str, ActionSpec] = {
    ActionKind.CREATE_TASK: ActionSpec(CreateTaskParams, perform_create_task),
    ActionKind.SEND_EMAIL: ActionSpec(SendEmailParams, perform_send_email),
    ActionKind.WEBHOOK: ActionSpec(WebhookParams, perform_webhook),
    ActionKind.SLACK: ActionSpec(SlackParams, perform_slack),
    ActionKind.MOVE_STAGE: ActionSpec(MoveStageParams, perform_move_stage),
    ActionKind.ADD_NOTE: ActionSpec(AddNoteParams, perform_add_note),
    ActionKind.SET_FIELD: ActionSpec(SetFieldParams, perform_set_field),
}


def clean_action(kind: str, params) -> dict:
    """Validated params for an action; raises forms.ValidationError naming the field."""
    if kind not in ACTIONS:
        raise forms.ValidationError(
            {"kind": f"Unknown action {kind!r}; expected one of {', '.join(ACTIONS)}."}
        )
    if not isinstance(params, dict):
        raise forms.ValidationError({"params": "Expected an object of parameters."})
    form = ACTIONS[kind].params_form(params)
    if not form.is_valid():
        raise forms.ValidationError(
            {
                ("params" if name == "__all__" else f"params.{name}"): errors
                for name, errors in form.errors.items()
            }
        )
    return form.params()


def backoff_seconds(attempt: int) -> int:
    """Exponential: base, 2x base, 4x base... capped."""
    base, cap = settings.PLAYBOOK_RETRY_BACKOFF_SECONDS, settings.PLAYBOOK_RETRY_BACKOFF_MAX_SECONDS
    return min(cap, base * 2 ** (attempt - 1))


@dataclass(frozen=True)
class AttemptOutcome:
    ran: bool  # False: the action was not ours to run (already done, or running elsewhere)
    first: bool = False  # this was the action's first attempt: queue the next action
    retry_in: int | None = None


def run_attempt(action_id: int, *, manual=False) -> AttemptOutcome:
    """Claim the action, perform it once, record the attempt, settle the run's status."""
    claimed = RunAction.objects.filter(
        pk=action_id, status__in=[ActionStatus.PENDING, ActionStatus.RETRYING]
    ).update(status=ActionStatus.RUNNING, updated_at=timezone.now())
    if not claimed:
        return AttemptOutcome(ran=False)
    action = RunAction.objects.select_related("run__playbook").get(pk=action_id)
    run = action.run
    account = Account.objects.select_related("owner", "health").get(pk=run.account_id)
    number = action.attempt_count + 1
    started = timezone.now()
    code, error, permanent, result = None, "", False, ""
    try:
        result = ACTIONS[action.kind].perform(action, run, account, _context(run, account))
    except DeliveryError as exc:
        code, error, permanent = exc.response_code, str(exc), exc.permanent
    except templating.TemplateError as exc:
        error, permanent = str(exc), True
    except Exception as exc:  # noqa: BLE001 (recorded on the attempt, then retried)
        error = f"{exc.__class__.__name__}: {exc}"
    finished = timezone.now()
    retry_in = None
    if error and not permanent and number < settings.PLAYBOOK_ACTION_MAX_ATTEMPTS:
        retry_in = backoff_seconds(number)
    next_retry = finished + timedelta(seconds=retry_in) if retry_in is not None else None
    if not error:
        status = ActionStatus.SUCCEEDED
    else:
        status = ActionStatus.RETRYING if retry_in is not None else ActionStatus.FAILED
    with transaction.atomic():
        ActionAttempt.objects.create(
            action=action, number=number, started_at=started, finished_at=finished,
            status=AttemptStatus.FAILED if error else AttemptStatus.SUCCEEDED,
            response_code=code, error=error[:2000], next_retry_at=next_retry, manual=manual,
        )  # fmt: skip
        RunAction.objects.filter(pk=action.pk).update(
            status=status, attempt_count=number, result=result[:1000] if result else "",
            next_retry_at=next_retry, updated_at=finished,
        )  # fmt: skip
        settle_run(run.pk)
    return AttemptOutcome(ran=True, first=number == 1 and not manual, retry_in=retry_in)


def settle_run(run_id: int) -> None:
    """The run's status from its actions: succeeded, failed (none left to try) or queued."""
    counts = RunAction.objects.filter(run_id=run_id).aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=ActionStatus.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=ActionStatus.FAILED)),
    )
    if counts["done"] == counts["total"]:
        status, finished = RunStatus.SUCCEEDED, timezone.now()
    elif counts["done"] + counts["failed"] == counts["total"]:
        status, finished = RunStatus.FAILED, timezone.now()
    else:
        status, finished = RunStatus.QUEUED, None
    from playbooks.models import PlaybookRun

    PlaybookRun.objects.filter(pk=run_id).update(status=status, finished_at=finished)


class RetryError(ValueError):
    pass


def reset_for_retry(action: RunAction) -> None:
    """A failed action (or one stuck running) goes back to pending for a manual retry."""
    stale = timezone.now() - timedelta(seconds=settings.PLAYBOOK_WEBHOOK_TIMEOUT_SECONDS * 4)
    if action.status == ActionStatus.RUNNING and action.updated_at > stale:
        raise RetryError("This action is running now.")
    if action.status == ActionStatus.SUCCEEDED:
        raise RetryError("This action already succeeded.")
    RunAction.objects.filter(pk=action.pk).update(status=ActionStatus.PENDING, next_retry_at=None)
    settle_run(action.run_id)
