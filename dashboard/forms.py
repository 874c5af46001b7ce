"""Forms of the account page's actions and the saved views; each validates what it takes."""

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.choices import NoteKind
from accounts.models import Note
from cs_platform import roles
from dashboard.models import SavedView
from health.choices import Color, Sentiment
from journeys.choices import Stage
from playbooks.choices import TaskPriority

DATE = forms.DateInput(attrs={"type": "date"})


class NoteForm(forms.Form):
    kind = forms.ChoiceField(choices=NoteKind.choices, initial=NoteKind.NOTE)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=Note._meta.get_field("body").max_length
    )
    occurred_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="When the call or meeting took place (default: now).",
    )

    def clean_occurred_at(self):
        value = self.cleaned_data["occurred_at"] or timezone.now()
        if value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("Cannot be in the future.")
        return value


def assignees():
    return (
        get_user_model()
        .objects.filter(groups__name__in=[roles.CSM, roles.ADMIN], is_active=True)
        .distinct()
        .order_by("username")
    )


class TaskForm(forms.Form):
    title = forms.CharField(max_length=255)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    due_date = forms.DateField(required=False, widget=DATE)
    priority = forms.ChoiceField(choices=TaskPriority.choices, initial=TaskPriority.NORMAL)
    assignee = forms.ModelChoiceField(queryset=None, required=False, help_text="Default: you.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees()

    def clean_due_date(self):
        due = self.cleaned_data["due_date"]
        if due and due < timezone.localdate():
            raise forms.ValidationError("The due date has passed.")
        return due


class OverrideForm(forms.Form):
    color = forms.ChoiceField(choices=Color.choices)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    expires_on = forms.DateField(widget=DATE, help_text="The override ends by itself that day.")

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day <= timezone.localdate():
            raise forms.ValidationError("Must be after today: an override always ends.")
        if day > timezone.localdate() + timedelta(days=365):
            raise forms.ValidationError("At most a year ahead.")
        return day


class StageForm(forms.Form):
    to_stage = forms.ChoiceField(choices=Stage.choices, label="Move to")
    reason = forms.CharField(max_length=500, help_text="Shown in the account's history.")


class SentimentForm(forms.Form):
    sentiment = forms.TypedChoiceField(choices=Sentiment.choices, coerce=int)
    note = forms.CharField(required=False, max_length=2000)


class SavedViewForm(forms.ModelForm):
    class Meta:
        model = SavedView
        fields = ["name", "shared"]
