"""/api/v1/event-catalogue/: every event name seen, with its use and the retained-against-
churned comparison; everyone reads, admins (admin scope) choose key features.

Names are the lookup (``/event-catalogue/report_created/``), URL-encoded; a name may hold
dots and slashes."""

import django_filters
from django.db.models import F
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter, SearchFilter
from rest_framework.response import Response

from accounts.api.filters import COUNT, UtcDateTimeFilter
from accounts.catalogue import DESCRIPTION_MAX, MAX_WEEKS, WEEKS, describe_event, weekly_volume
from accounts.models import EventDefinition
from cs_platform.api.permissions import require_admin
from cs_platform.models import Scope


class WeekSerializer(serializers.Serializer):
    week = serializers.CharField(help_text="ISO week, e.g. 2026-W10.")
    start = serializers.DateField(help_text="The Monday it starts on (UTC).")
    events = serializers.IntegerField()


class ComparisonSerializer(serializers.Serializer):
    """Retained against churned accounts (see accounts/catalogue.py)."""

    retained_accounts = serializers.IntegerField(
        allow_null=True, help_text="Active accounts that send events: the retained sample."
    )
    retained_using = serializers.IntegerField(
        allow_null=True, help_text="... of which used this event in the last 28 days."
    )
    retained_share = serializers.FloatField(allow_null=True)
    churned_accounts = serializers.IntegerField(
        allow_null=True,
        help_text="Churned accounts that sent events and churned after this event first "
        "appeared: the churned sample.",
    )
    churned_using = serializers.IntegerField(
        allow_null=True, help_text="... of which used it in the 28 days before churning."
    )
    churned_share = serializers.FloatField(allow_null=True)
    difference = serializers.FloatField(
        source="usage_difference",
        allow_null=True,
        help_text="retained_share - churned_share; null when either sample is empty.",
    )
    z = serializers.FloatField(
        source="difference_z", allow_null=True, help_text="The difference in standard errors."
    )
    mix_auc = serializers.FloatField(
        allow_null=True,
        help_text="Chance that a retained account gave it a larger share of its events (last "
        "28 days) than a churned account did before churning; 0.5: no difference.",
    )
    mix_p = serializers.FloatField(
        allow_null=True,
        help_text="How often chance alone gives a share difference this large (one-sided "
        "Mann-Whitney).",
    )
    suggested = serializers.BooleanField(
        help_text="More retained than churned accounts use it beyond chance (z >= 1.96), or "
        "retained accounts give it a larger share of their events beyond chance (mix_p <= "
        "0.025)."
    )
    summary = serializers.CharField(source="comparison", help_text="The comparison in words.")


class EventCatalogueSerializer(serializers.ModelSerializer):
    weekly = serializers.SerializerMethodField(
        help_text="Events per ISO week, oldest first; the last is the current week so far."
    )
    comparison = ComparisonSerializer(source="*", read_only=True)
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = EventDefinition
        fields = [
            "name", "description", "key_feature", "event_count", "account_count",
            "user_count", "first_seen_at", "last_seen_at", "weekly", "comparison",
            "changed_by", "changed_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(WeekSerializer(many=True))
    def get_weekly(self, definition) -> list[dict]:
        weeks = self.context.get("weekly", {}).get(definition.name, [])
        return [
            {"week": f"{start.isocalendar()[0]}-W{start.isocalendar()[1]:02d}", "start": start,
             "events": events}
            for start, events in weeks
        ]  # fmt: skip


class EventDefinitionUpdateSerializer(serializers.Serializer):
    """What an admin may change; every other field is refused by name."""

    key_feature = serializers.BooleanField(
        required=False, help_text="Count this event in health measures of feature use."
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX
    )

    def validate_description(self, value):
        if "\x00" in value:
            raise serializers.ValidationError("Contains a NUL character (\\u0000).")
        return value

    def validate(self, attrs):
        extra = sorted(set(self.initial_data) - set(self.fields))
        if extra:
            raise serializers.ValidationError(
                {name: ["Not a field you can change (key_feature, description)."] for name in extra}
            )
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send key_feature and/or description."]}
            )
        return attrs

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        return super().to_internal_value(data)


class CatalogueQuerySerializer(serializers.Serializer):
    weeks = serializers.IntegerField(
        required=False,
        default=WEEKS,
        min_value=1,
        max_value=MAX_WEEKS,
        help_text=f"ISO weeks of volume per event, up to this one (default {WEEKS}).",
    )


class EventCatalogueFilter(django_filters.FilterSet):
    key_feature = django_filters.BooleanFilter()
    accounts_min = django_filters.NumberFilter(
        field_name="account_count", lookup_expr="gte", help_text="At least N accounts.", **COUNT
    )
    last_seen_after = UtcDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")

    class Meta:
        model = EventDefinition
        fields = ["key_feature"]


class NullsLastOrdering(OrderingFilter):
    """?ordering= with empty values last either way (PostgreSQL puts NULL first when
    descending: events never compared would top a ranking by difference), then by name."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        terms = [
            F(term[1:]).desc(nulls_last=True) if term[0] == "-" else F(term).asc(nulls_last=True)
            for term in ordering
        ]
        return queryset.order_by(*terms, "name")


NAME = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description="The event name, URL-encoded."
)


class EventCatalogueViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Every event name seen: accounts, users, first and last seen, weekly volume, and how its
    use differs between retained and churned accounts. Refreshed every few minutes, not live.
    Admins mark key features (what health measures count) with PATCH."""

    queryset = EventDefinition.objects.select_related("changed_by").order_by(
        "-account_count", "name"
    )
    serializer_class = EventCatalogueSerializer
    filter_backends = [DjangoFilterBackend, SearchFilter, NullsLastOrdering]
    filterset_class = EventCatalogueFilter
    search_fields = ["name", "description"]
    ordering_fields = [
        "name", "account_count", "user_count", "event_count", "first_seen_at",
        "last_seen_at", "usage_difference",
    ]  # fmt: skip
    lookup_field = "name"
    lookup_value_regex = ".+?"  # any name, dots and slashes too; the router anchors it
    scopes_by_method = {"PATCH": {Scope.ADMIN}}
    http_method_names = ["get", "patch", "head", "options"]

    def get_object(self):
        name = self.kwargs["name"]
        if "\x00" in name:  # PostgreSQL cannot even compare such a string
            raise NotFound("No event of that name in the catalogue.")
        try:
            definition = self.get_queryset().get(name=name)
        except EventDefinition.DoesNotExist:
            raise NotFound(
                f"No event named {name!r} in the catalogue: it lists the names received, "
                "a few minutes after they first arrive."
            ) from None
        self.check_object_permissions(self.request, definition)
        return definition

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "weekly": getattr(self, "_weekly", {})}

    def _load_weeks(self, definitions) -> None:
        query = CatalogueQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        self._weekly = weekly_volume([d.name for d in definitions], query.validated_data["weeks"])

    @extend_schema(parameters=[CatalogueQuerySerializer])
    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        self._load_weeks(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        parameters=[NAME, CatalogueQuerySerializer],
        responses={
            200: EventCatalogueSerializer,
            404: OpenApiResponse(description="Unknown name."),
        },
    )
    def retrieve(self, request, *args, **kwargs):
        definition = self.get_object()
        self._load_weeks([definition])
        return Response(self.get_serializer(definition).data)

    @extend_schema(
        parameters=[NAME],
        request=EventDefinitionUpdateSerializer,
        responses={
            200: EventCatalogueSerializer,
            400: OpenApiResponse(description="Bad input: the errors, by field name."),
            403: OpenApiResponse(description="Not an admin, or no admin scope."),
            404: OpenApiResponse(description="No event of that name in the catalogue."),
        },
    )
    def partial_update(self, request, *args, **kwargs):
        """Mark or unmark a key feature, or describe the event (admins, admin scope)."""
        require_admin(request.user, "choose key features")
        definition = self.get_object()
        change = EventDefinitionUpdateSerializer(data=request.data)
        change.is_valid(raise_exception=True)
        definition = describe_event(definition.name, by=request.user, **change.validated_data)
        definition = self.get_queryset().get(pk=definition.pk)
        self._load_weeks([definition])
        return Response(self.get_serializer(definition).data)
