"""The builder's forms: a playbook with its trigger's parameters, and an ordered action list.

Parameter fields of every kind are on the page (shown for the chosen kind only); the chosen
kind's own form (triggers.py, actions.py) validates them, exactly as the API does.
"""

import copy

from django import forms
from django.contrib.auth import get_user_model

from accounts.choices import Persona, TouchModel
from health.choices import Color
from journeys.choices import Stage
from playbooks.actions import ACTIONS, clean_action
from playbooks.choices import ActionKind, TaskPriority, TriggerKind
from playbooks.models import Playbook
from playbooks.triggers import TRIGGERS, ListField, clean_trigger


def union_fields(specs: dict) -> dict:
    """Every parameter field of every kind, optional, tagged with the kinds that use it."""
    fields, kinds = {}, {}
    for kind, spec in specs.items():
        for name, field in spec.params_form.base_fields.items():
            kinds.setdefault(name, []).append(kind)
            if name not in fields:
                fields[name] = copy.deepcopy(field)
                fields[name].required = False
    for name, field in fields.items():
        field.widget.attrs["data-kinds"] = " ".join(kinds[name])
        field.kinds = " ".join(kinds[name])  # for the template (it cannot read "data-kinds")
        # An unused action slot must submit nothing: every single choice starts blank.
        if isinstance(field, forms.ModelChoiceField):
            field.empty_label = "—"
        elif isinstance(field, forms.ChoiceField) and not isinstance(
            field, forms.MultipleChoiceField
        ):
            field.choices = [("", "—"), *[c for c in field.choices if c[0] != ""]]
    return fields


def raw_params(form: forms.Form, names) -> dict:
    """The submitted values of ``names`` (not yet cleaned), leaving out empty ones."""
    params = {}
    for name in names:
        field = form.fields[name]
        value = field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
        if value not in (None, "", []):
            params[name] = value
    return params


def add_param_errors(form: forms.Form, error: forms.ValidationError, prefix: str) -> None:
    """Show a kind's errors ("params.url", "params", "kind") on the matching fields."""
    for key, messages in error.message_dict.items():
        name = key.removeprefix(prefix + ".")
        target = name if name != key and name in form.fields else None
        if key in form.fields:
            target = key
        for message in messages:
            form.add_error(target, message)


def _csv_field(label):
    return ListField(label=label, help_text="Comma-separated; empty: any.")


def _choices_field(label, choices):
    return forms.MultipleChoiceField(
        label=label, choices=choices, required=False, widget=forms.CheckboxSelectMultiple
    )


class PlaybookForm(forms.ModelForm):
    trigger_kind = forms.ChoiceField(label="Trigger", choices=TriggerKind.choices)
    plans = _csv_field("Plans")
    industries = _csv_field("Industries")
    touch_models = _choices_field("Touch models", TouchModel.choices)
    stages = _choices_field("Journey stages", Stage.choices)
    health_colors = _choices_field("Health colours", Color.choices)
    personas = _choices_field("Persona of the triggering contact", Persona.choices)
    owners = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Empty: any owner.",
    )

    class Meta:
        model = Playbook
        fields = [
            "name", "description", "enabled", "trigger_kind", "cooldown_days", "plans",
            "touch_models", "industries", "arr_min", "arr_max", "employees_min", "employees_max",
            "owners", "stages", "health_colors", "personas",
        ]  # fmt: skip
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    TRIGGER_FIELDS = union_fields(TRIGGERS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.TRIGGER_FIELDS.items():
            self.fields[name] = copy.deepcopy(field)
        if self.instance.pk and not self.is_bound:
            for name, value in self.instance.trigger_params.items():
                if name in self.fields:
                    self.initial[name] = value
        for name in ("arr_min", "arr_max", "employees_min", "employees_max", "cooldown_days"):
            self.fields[name].widget.attrs["min"] = 0

    def trigger_field_names(self):
        return list(self.TRIGGER_FIELDS)

    def condition_field_names(self):
        return self.Meta.fields[5:]

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("trigger_kind")
        low, high = cleaned.get("arr_min"), cleaned.get("arr_max")
        if low is not None and high is not None and high < low:
            self.add_error("arr_max", "Must not be below 'ARR from'.")
        for name in ("arr_min", "arr_max"):
            if cleaned.get(name) is not None and cleaned[name] < 0:
                self.add_error(name, "Must not be negative.")
        if kind:
            names = TRIGGERS[kind].params_form.base_fields
            for name in self.TRIGGER_FIELDS:  # other kinds' values are not this kind's errors
                if name not in names and name in self._errors:
                    del self._errors[name]
            try:
                self.trigger_params = clean_trigger(kind, raw_params(self, names))
            except forms.ValidationError as exc:
                add_param_errors(self, exc, "trigger_params")
        return cleaned

    def save(self, commit=True):
        self.instance.trigger_params = self.trigger_params
        return super().save(commit)


class ActionForm(forms.Form):
    kind = forms.ChoiceField(choices=[("", "—"), *ActionKind.choices], required=False)
    PARAM_FIELDS = union_fields(ACTIONS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.PARAM_FIELDS.items():
            self.fields[name] = copy.deepcopy(field)

    def param_field_names(self):
        return list(self.PARAM_FIELDS)

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        for name in list(self._errors):
            if name in self.PARAM_FIELDS:
                del self._errors[name]
        if not kind:
            if any(raw_params(self, self.PARAM_FIELDS)):
                self.add_error("kind", "Choose what this action does.")
            return cleaned
        try:
            self.params = clean_action(
                kind, raw_params(self, ACTIONS[kind].params_form.base_fields)
            )
        except forms.ValidationError as exc:
            add_param_errors(self, exc, "params")
        return cleaned


class BaseActionFormSet(forms.BaseFormSet):
    def steps(self) -> list[dict]:
        """The actions in their chosen order: [{"kind", "params"}]."""
        return [
            {"kind": f.cleaned_data["kind"], "params": f.params}
            for f in self.ordered_forms
            if f.cleaned_data.get("kind")
        ]


ActionFormSet = forms.formset_factory(
    ActionForm, formset=BaseActionFormSet, extra=2, can_order=True, can_delete=True
)


def action_initial(playbook) -> list[dict]:
    return [
        {"kind": a.kind, "ORDER": i + 1, **a.params} for i, a in enumerate(playbook.actions.all())
    ]


class BacktestForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=730, initial=90)


class TaskInboxFilterForm(forms.Form):
    """The task inbox's filters (a GET form). An invalid value is reported and ignored."""

    TABS = [("open", "Open"), ("overdue", "Overdue"), ("snoozed", "Snoozed"), ("done", "Done")]
    DUE = [
        ("", "Any due date"),
        ("today", "Due today"),
        ("week", "Due this week"),
        ("later", "Due later"),
        ("none", "No due date"),
    ]

    tab = forms.ChoiceField(choices=TABS, required=False)
    assignee = forms.CharField(required=False)
    q = forms.CharField(required=False, max_length=100, label="Account")
    priority = forms.ChoiceField(
        choices=[("", "Any priority")] + TaskPriority.choices, required=False
    )
    due = forms.ChoiceField(choices=DUE, required=False)

    def __init__(self, *args, assignees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_ids = {str(u.pk) for u in assignees}

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        if value and value not in {"me", "anyone", "none"} and value not in self.assignee_ids:
            raise forms.ValidationError("Unknown assignee: choose one from the list.")
        return value
