from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from health.choices import Color, Sentiment
from health.models import HealthChange, HealthOverride, HealthSnapshot, Scorecard, ScorecardMeasure
from health.scorecards import publish, validate_bands, validate_measures, validate_segment


class ComponentSerializer(serializers.Serializer):
    measure = serializers.CharField()
    label = serializers.CharField()
    raw = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()
    benchmark = serializers.JSONField(
        help_text="The raw value worth full points (per persona for usage frequency)."
    )
    points = serializers.FloatField(allow_null=True, help_text="0-100; null when no data.")
    weight = serializers.FloatField(help_text="Share of the score in %, after redistribution.")
    configured_weight = serializers.FloatField()
    contribution = serializers.FloatField(
        help_text="points x weight: the components add up to the score."
    )
    note = serializers.CharField()
    missing = serializers.BooleanField()
    detail = serializers.JSONField(required=False)


class MoverSerializer(serializers.Serializer):
    measure = serializers.CharField()
    from_raw = serializers.FloatField(allow_null=True)
    to_raw = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(help_text="Change of the measure's contribution, in points.")
    text = serializers.CharField()


class OverrideSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = HealthOverride
        fields = ["color", "reason", "expires_at", "created_by", "created_at"]
        read_only_fields = ["created_by", "created_at"]


class OverrideRequestSerializer(serializers.Serializer):
    color = serializers.ChoiceField(choices=Color.choices)
    reason = serializers.CharField(max_length=2000)
    expires_at = serializers.DateTimeField(help_text="The override ends by itself then.")


class SentimentRequestSerializer(serializers.Serializer):
    sentiment = serializers.ChoiceField(choices=Sentiment.choices)
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=2000)


class AccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    name = serializers.CharField()


class ScorecardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class TrendSerializer(serializers.Serializer):
    _7d = serializers.FloatField(allow_null=True, help_text="Points since 7 days ago.")
    _30d = serializers.FloatField(allow_null=True, help_text="Points since 30 days ago.")

    def get_fields(self):
        fields = super().get_fields()
        return {name.lstrip("_"): field for name, field in fields.items()}


class AccountHealthSerializer(serializers.Serializer):
    """The documented shape of GET /accounts/{id}/health (built by views.health_body)."""

    account = AccountRefSerializer()
    score = serializers.FloatField()
    color = serializers.ChoiceField(choices=Color.choices, help_text="The computed colour.")
    override = OverrideSerializer(allow_null=True, help_text="A CSM's override, if in force.")
    explanation = serializers.CharField()
    components = ComponentSerializer(many=True)
    movers = MoverSerializer(many=True, help_text="Biggest changes since 7 days ago.")
    trend = TrendSerializer()
    as_of = serializers.DateField()
    computed_at = serializers.DateTimeField()
    scorecard = ScorecardRefSerializer(allow_null=True)


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = HealthSnapshot
        fields = ["date", "score", "color", "explanation", "components"]


class HealthChangeSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    account_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = HealthChange
        fields = [
            "id",
            "account",
            "account_id",
            "changed_at",
            "from_color",
            "to_color",
            "from_score",
            "to_score",
            "drivers",
            "explanation",
            "backfilled",
        ]


class MeasureSerializer(serializers.ModelSerializer):
    weight = serializers.FloatField()
    params = serializers.JSONField(required=False, default=dict)

    class Meta:
        model = ScorecardMeasure
        fields = ["kind", "weight", "params"]


def _django_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(exc.message_dict)


class ScorecardSerializer(serializers.ModelSerializer):
    """A scorecard with its measures; every save publishes a new version if it changed."""

    measures = MeasureSerializer(many=True)
    version = serializers.IntegerField(source="current_version.number", read_only=True)

    class Meta:
        model = Scorecard
        fields = [
            "id",
            "name",
            "description",
            "priority",
            "is_default",
            "enabled",
            "plans",
            "touch_models",
            "industries",
            "stages",
            "arr_min",
            "arr_max",
            "employees_min",
            "employees_max",
            "green_min",
            "yellow_min",
            "hysteresis",
            "measures",
            "version",
        ]

    LIST_FIELDS = ("plans", "touch_models", "industries", "stages")

    def validate(self, attrs):
        # A form's "null" reaches a JSONField as JSON null, past its allow_null check.
        nulls = {
            f: ["This field may not be null."]
            for f in self.LIST_FIELDS
            if f in attrs and attrs[f] is None
        }
        if nulls:
            raise serializers.ValidationError(nulls)
        merged = {
            field: attrs.get(field, getattr(self.instance, field, None))
            for field in self.Meta.fields
            if field not in ("measures", "version", "id")
        }
        defaults = {"green_min": 70, "yellow_min": 40, "hysteresis": 3}
        try:
            validate_bands(
                *(
                    merged[f] if merged[f] is not None else defaults[f]
                    for f in ("green_min", "yellow_min", "hysteresis")
                )
            )
            validate_segment(merged)
            if "measures" in attrs:
                attrs["measures"] = validate_measures(attrs["measures"])
        except DjangoValidationError as exc:
            raise _django_errors(exc) from None
        if merged.get("is_default"):
            others = Scorecard.objects.filter(is_default=True)
            if self.instance:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                raise serializers.ValidationError(
                    {"is_default": f"{others.first().name} is already the default scorecard."}
                )
        return attrs

    @transaction.atomic
    def save_with_measures(self, by) -> Scorecard:
        measures = self.validated_data.pop("measures", None)
        scorecard = super().save()
        if measures is not None:
            scorecard.measures.all().delete()
            ScorecardMeasure.objects.bulk_create(
                [
                    ScorecardMeasure(scorecard=scorecard, position=i, **item)
                    for i, item in enumerate(measures)
                ]
            )
        publish(scorecard, by=by)
        return scorecard
