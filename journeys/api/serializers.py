from rest_framework import serializers

from accounts.models import Account
from journeys.choices import Stage
from journeys.models import (
    AccountMilestone,
    AccountStage,
    Escalation,
    Handoff,
    MilestoneDefinition,
    MilestoneTemplate,
    StageTransition,
)


class StageTransitionSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    moved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = StageTransition
        fields = [
            "id",
            "account",
            "from_stage",
            "to_stage",
            "moved_at",
            "reason",
            "moved_by",
            "rule",
        ]


class AccountStageSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)

    class Meta:
        model = AccountStage
        fields = ["account", "stage", "entered_at", "return_stage"]


class StageMoveSerializer(serializers.Serializer):
    account = serializers.SlugRelatedField(
        slug_field="external_id", queryset=Account.objects.all(), help_text="Account external id."
    )
    to_stage = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(help_text="Why: shown in the account's history.")


class EscalationSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", queryset=Account.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    opened_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    feedback_score = serializers.IntegerField(
        source="feedback.score", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Escalation
        fields = [
            "id", "account", "title", "description", "severity", "opened_at",
            "response_due_at", "first_response_at", "breached_at", "resolved_at",
            "feedback_requested_at", "feedback_score", "owner",
        ]  # fmt: skip
        # Timestamps move through the respond / resolve / feedback actions, which keep the
        # journey, the breach and the feedback request consistent.
        read_only_fields = [
            "id", "owner", "response_due_at", "first_response_at", "breached_at",
            "resolved_at", "feedback_requested_at",
        ]  # fmt: skip

    def validate(self, attrs):
        if self.instance:
            # The deadline and the journey detour were set from these when it opened.
            for field in ("account", "severity", "opened_at"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError(
                        {field: "Cannot change once opened; resolve it and open another."}
                    )
        return attrs


class EscalationStepSerializer(serializers.Serializer):
    at = serializers.DateTimeField(required=False, help_text="Default: now.")


class EscalationFeedbackSerializer(serializers.Serializer):
    score = serializers.IntegerField(min_value=1, max_value=5, help_text="CSAT, 1-5.")
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class HandoffSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_complete = serializers.BooleanField(read_only=True)

    class Meta:
        model = Handoff
        fields = [
            "account", "reasons_for_buying", "problems_to_solve", "success_criteria",
            "expected_go_live", "sold_by", "is_complete", "updated_by", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["updated_at"]


class MilestoneDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = MilestoneDefinition
        fields = [
            "id", "name", "order", "target_days", "rule", "event_name", "threshold",
            "required_for_onboarding", "marks_first_value",
        ]  # fmt: skip


class MilestoneTemplateSerializer(serializers.ModelSerializer):
    milestones = MilestoneDefinitionSerializer(many=True, read_only=True)

    class Meta:
        model = MilestoneTemplate
        fields = ["id", "name", "touch_model", "plan", "priority", "milestones"]


class AccountMilestoneSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    name = serializers.CharField(source="definition.name", read_only=True)
    reached_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = AccountMilestone
        fields = [
            "id", "account", "name", "definition", "due_date", "reached_at", "reached_by",
            "overdue_at", "is_overdue",
        ]  # fmt: skip
