"""Serializers of the playbooks API: validation goes through the same per-kind forms as the
dashboard builder, so a bad parameter is refused the same way (400 naming the field)."""

from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers

from accounts.choices import Persona, TouchModel
from health.choices import Color
from journeys.choices import Stage
from playbooks.actions import clean_action
from playbooks.models import (
    ActionAttempt,
    Playbook,
    PlaybookAction,
    PlaybookRun,
    RunAction,
    Task,
)
from playbooks.triggers import clean_trigger


def nested_errors(error: forms.ValidationError) -> dict:
    """{"trigger_params.days": [..]} -> {"trigger_params": {"days": [..]}}."""
    out = {}
    for key, messages in error.message_dict.items():
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})
            if isinstance(out[head], dict):
                out[head][tail] = messages
        else:
            out[head] = messages
    return out


class ActionSerializer(serializers.Serializer):
    kind = serializers.CharField()
    params = serializers.JSONField(required=False, default=dict)

    def validate(self, attrs):
        try:
            attrs["params"] = clean_action(attrs["kind"], attrs.get("params", {}))
        except forms.ValidationError as exc:
            raise serializers.ValidationError(nested_errors(exc)) from None
        return attrs


def _choices_list(choices):
    return serializers.ListField(
        child=serializers.ChoiceField(choices=choices), required=False, default=list
    )


class StrictFieldsMixin:
    """Refuse fields the endpoint does not know, naming them, instead of ignoring them."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field."] for name in sorted(unknown)}
            )
        return super().validate(attrs)


class PlaybookSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    trigger_kind = serializers.CharField()
    trigger_params = serializers.JSONField(required=False, default=dict)
    trigger_summary = serializers.CharField(read_only=True)
    plans = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list
    )
    industries = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list
    )
    touch_models = _choices_list(TouchModel.choices)
    stages = _choices_list(Stage.choices)
    health_colors = _choices_list(Color.choices)
    personas = _choices_list(Persona.choices)
    owners = serializers.SlugRelatedField(
        many=True, slug_field="username", queryset=get_user_model().objects.all(), required=False
    )
    actions = ActionSerializer(many=True, required=False)
    arr_min = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    arr_max = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )

    class Meta:
        model = Playbook
        fields = [
            "id", "name", "description", "enabled", "trigger_kind", "trigger_params",
            "trigger_summary", "cooldown_days", "plans", "touch_models", "industries", "arr_min",
            "arr_max", "employees_min", "employees_max", "owners", "stages", "health_colors",
            "personas", "actions", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = self.instance
        kind = attrs.get("trigger_kind", instance.trigger_kind if instance else None)
        params = attrs.get("trigger_params", instance.trigger_params if instance else {})
        try:
            attrs["trigger_params"] = clean_trigger(kind, params)
        except forms.ValidationError as exc:
            raise serializers.ValidationError(nested_errors(exc)) from None
        low = attrs.get("arr_min", getattr(instance, "arr_min", None))
        high = attrs.get("arr_max", getattr(instance, "arr_max", None))
        if low is not None and high is not None and high < low:
            raise serializers.ValidationError({"arr_max": ["Must not be below arr_min."]})
        return attrs

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["actions"] = [
            {"kind": a.kind, "params": self._shown(a)} for a in instance.actions.all()
        ]
        return data

    def _shown(self, action):
        request = self.context.get("request")
        return action.params_shown_to(request.user if request else None)

    @transaction.atomic
    def create(self, validated_data):
        actions = validated_data.pop("actions", [])
        owners = validated_data.pop("owners", [])
        playbook = Playbook.objects.create(**validated_data)
        playbook.owners.set(owners)
        self._write_actions(playbook, actions)
        return playbook

    @transaction.atomic
    def update(self, instance, validated_data):
        actions = validated_data.pop("actions", None)
        owners = validated_data.pop("owners", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        if owners is not None:
            instance.owners.set(owners)
        if actions is not None:
            instance.actions.all().delete()
            self._write_actions(instance, actions)
        return instance

    @staticmethod
    def _write_actions(playbook, actions):
        PlaybookAction.objects.bulk_create(
            [
                PlaybookAction(playbook=playbook, position=i, kind=a["kind"], params=a["params"])
                for i, a in enumerate(actions)
            ]
        )
        if hasattr(playbook, "_prefetched_objects_cache"):
            playbook._prefetched_objects_cache.pop("actions", None)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActionAttempt
        fields = [
            "number", "status", "response_code", "error", "started_at", "finished_at",
            "next_retry_at", "manual",
        ]  # fmt: skip


class RunActionSerializer(serializers.ModelSerializer):
    attempts = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = RunAction
        fields = [
            "id", "position", "kind", "status", "attempt_count", "result", "next_retry_at",
            "attempts",
        ]  # fmt: skip


class PlaybookRunSerializer(serializers.ModelSerializer):
    playbook_name = serializers.CharField(source="playbook.name", read_only=True)
    account_name = serializers.CharField(source="account.name", read_only=True)
    actions = RunActionSerializer(many=True, read_only=True)

    class Meta:
        model = PlaybookRun
        fields = [
            "id", "playbook", "playbook_name", "account", "account_name", "occurrence_key",
            "trigger_kind", "occurred_at", "status", "explanation", "facts", "created_at",
            "finished_at", "actions",
        ]  # fmt: skip


class RetrySerializer(serializers.Serializer):
    action = serializers.IntegerField(
        required=False, help_text="A run action id; empty: every failed action of the run."
    )


class TaskSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    assignee = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )

    class Meta:
        model = Task
        fields = [
            "id", "account", "account_name", "assignee", "title", "body", "due_date",
            "priority", "status", "snoozed_until", "created_by_run", "created_at",
            "completed_at",
        ]  # fmt: skip
        read_only_fields = [
            "status", "snoozed_until", "created_by_run", "created_at", "completed_at",
        ]  # fmt: skip


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(required=False)
    days = serializers.IntegerField(min_value=1, max_value=365, required=False)

    def validate(self, attrs):
        if not attrs.get("until") and not attrs.get("days"):
            raise serializers.ValidationError({"until": ["Give until (a time) or days."]})
        return attrs


class BacktestQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=730, default=90)
