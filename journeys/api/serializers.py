from rest_framework import serializers

from accounts.models import Account
from journeys.choices import Stage
from journeys.models import AccountStage, Escalation, StageTransition


class StageTransitionSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    moved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Escalation
        fields = [
            "id", "account", "title", "description", "severity", "opened_at",
            "first_response_at", "resolved_at", "owner",
        ]  # fmt: skip
        read_only_fields = ["id", "owner"]

    def validate(self, attrs):
        opened = attrs.get("opened_at", getattr(self.instance, "opened_at", None))
        for field in ("first_response_at", "resolved_at"):
            value = attrs.get(field, getattr(self.instance, field, None))
            if value and opened and value < opened:
                raise serializers.ValidationError({field: "Cannot be before opened_at."})
        return attrs
