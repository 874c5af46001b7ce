"""REST endpoints of the health app."""

import functools
import json
from datetime import timedelta

import django_filters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils import encoders
from rest_framework.views import APIView

from accounts.api.filters import UtcDateTimeFilter
from accounts.dirty import mark_dirty
from accounts.models import Account
from cs_platform.api.permissions import ADMIN_WRITES, check_book, require_admin
from cs_platform.api.rows import Columns, Statement
from health.api.serializers import (
    AccountHealthSerializer,
    HealthChangeSerializer,
    OverrideRequestSerializer,
    OverrideSerializer,
    ScorecardSerializer,
    SentimentRequestSerializer,
    SnapshotSerializer,
)
from health.choices import Color
from health.metrics import MetricsError, Segment, portfolio_metrics
from health.models import (
    AccountHealth,
    HealthChange,
    HealthOverride,
    HealthSnapshot,
    Scorecard,
    ScorecardVersion,
)
from health.overrides import end_override, record_sentiment, set_override


class MetricsQuerySerializer(serializers.Serializer):
    start = serializers.DateField(help_text="First day of the period.")
    end = serializers.DateField(help_text="Last day of the period (inclusive).")
    plan = serializers.CharField(required=False, default="")
    touch_model = serializers.CharField(required=False, default="")
    industry = serializers.CharField(required=False, default="")
    owner = serializers.CharField(required=False, default="", help_text="CSM username.")


class MetricsView(APIView):
    """Portfolio metrics (churn, NPS, CSAT, CLV, adoption, time to value, escalations)."""

    @extend_schema(
        parameters=[MetricsQuerySerializer],
        responses={200: OpenApiResponse(description="Metrics with their definitions")},
    )
    def get(self, request):
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        segment = Segment(**{k: data[k] for k in ("plan", "touch_model", "industry", "owner")})
        try:
            return Response(portfolio_metrics(data["start"], data["end"], segment))
        except MetricsError as exc:
            return Response({exc.field: [str(exc)]}, status=400)


# --- Health scores ---------------------------------------------------------------------


def _account(pk=None, external_id=None) -> Account:
    if external_id is not None:
        return get_object_or_404(
            Account.objects.only("id", "external_id", "name", "owner_id"), external_id=external_id
        )
    return get_object_or_404(Account.objects.only("id", "external_id", "name", "owner_id"), pk=pk)


def _health_parts(account: Account, health: AccountHealth, override, scorecard_name) -> tuple:
    """The health response around its components and movers: (what comes before, after)."""
    version = health.scorecard_version
    if version and scorecard_name is None:
        scorecard_name = version.definition.get("name", "")
    before = {
        "account": {"id": account.pk, "external_id": account.external_id, "name": account.name},
        "score": health.score,
        "color": health.color,
        "override": OverrideSerializer(override).data if override else None,
        "explanation": health.explanation,
    }
    after = {
        "trend": {"7d": health.trend_7d, "30d": health.trend_30d},
        "as_of": health.as_of.isoformat(),
        "computed_at": health.computed_at.isoformat().replace("+00:00", "Z"),
        "scorecard": {
            "id": version.scorecard_id,
            "name": scorecard_name,
            "version": version.number,
        }
        if version
        else None,
    }
    return before, after


def health_body(account: Account, health: AccountHealth, override, scorecard_name=None) -> dict:
    """The health response; ``scorecard_name`` spares reading the version's whole definition
    when the caller already has the name."""
    before, after = _health_parts(account, health, override, scorecard_name)
    return {**before, "components": health.components, "movers": health.movers, **after}


_dumps = functools.partial(
    json.dumps, cls=encoders.JSONEncoder, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


class RawJSON:
    """A response body already in JSON, which ``PassThroughJSONRenderer`` sends as it is."""

    __slots__ = ("content",)

    def __init__(self, content: bytes):
        self.content = content


class PassThroughJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, RawJSON):
            return data.content
        return super().render(data, accepted_media_type, renderer_context)


def health_json(account, health, override, scorecard_name, components: str, movers: str) -> RawJSON:
    """``health_body`` as JSON, with the components and movers spliced in as the database
    stores them: parsing them only to serialise them again is most of a response's work.

    Measured against the supported way (``json.loads`` them, then DRF's ``JSONRenderer``) on
    a 3.4 kB response: 20-22 us spliced against 97-99 us, about 1.8% of a request; in
    ``health_endpoint_http`` (300 accounts, two runs each, alternating) rps_ratio was
    0.458 / 0.524 spliced and 0.446 / 0.461 rendered by DRF. Kept: it uses only DRF's public
    renderer API, and the endpoint is still short of its 0.6 target."""
    before, after = _health_parts(account, health, override, scorecard_name)
    text = f'{_dumps(before)[:-1]},"components":{components},"movers":{movers},{_dumps(after)[1:]}'
    return RawJSON(text.encode())


@functools.cache
def _allowed_methods(view_class) -> list[str]:
    return [m.upper() for m in view_class.http_method_names if hasattr(view_class, m)]


class AccountScopedView(APIView):
    """An endpoint under /accounts/{id}/ or /accounts/by-external-id/{external_id}/."""

    @property
    def allowed_methods(self):
        # DRF works this out (for the Allow header) on every response; it is the class's.
        return _allowed_methods(type(self))

    def get_account(self) -> Account:
        return _account(self.kwargs.get("pk"), self.kwargs.get("external_id"))


# Ids beyond a bigint name no account (PostgreSQL would fail on them rather than find none).
_MAX_ID = 2**63 - 1


# What health_json reads besides the components and movers, which it takes as JSON text (the
# rest, e.g. the digest, stays deferred).
_HEALTH_FIELDS = (
    "account_id", "score", "color", "explanation", "trend_7d", "trend_30d", "as_of",
    "computed_at", "scorecard_version_id",
)  # fmt: skip


@functools.cache
def _health_statement(by: str) -> Statement:
    """The account (by ``by``: id or external_id) with its current health, scorecard version
    (its name, not the whole definition) and the override in force with its author's username,
    in one statement: a row even when the account is not scored yet (LEFT JOINs), no row when
    there is no such account."""
    user_model = get_user_model()
    account = Columns(Account, "a", fields=("id", "external_id", "name", "owner_id"))
    health = Columns(AccountHealth, "h", fields=_HEALTH_FIELDS)
    version = Columns(ScorecardVersion, "v", fields=("id", "scorecard_id", "number"))
    override = Columns(HealthOverride, "o")
    author = Columns(user_model, "u", fields=("id", user_model.USERNAME_FIELD))

    def build(connection, select):
        def col(part, attname):
            return part.col(connection, attname)

        definition = col(version, "definition")
        components, movers = col(health, "components"), col(health, "movers")
        extra = f"{definition} ->> 'name', {components}::text, {movers}::text"
        # The override in force: open and not past its expiry (as overrides.active_overrides).
        return (
            f"SELECT {select}, {extra} FROM {account.table(connection)}"
            f" LEFT JOIN {health.table(connection)}"
            f" ON {col(health, 'account_id')} = {col(account, 'id')}"
            f" LEFT JOIN {version.table(connection)}"
            f" ON {col(version, 'id')} = {col(health, 'scorecard_version_id')}"
            f" LEFT JOIN {override.table(connection)}"
            f" ON {col(override, 'account_id')} = {col(account, 'id')}"
            f" AND {col(override, 'ended_at')} IS NULL AND {col(override, 'expires_at')} > %s"
            f" LEFT JOIN {author.table(connection)}"
            f" ON {col(author, 'id')} = {col(override, 'created_by_id')}"
            f" WHERE {col(account, by)} = %s"
        )

    return Statement([account, health, version, override, author], build)


def _health_row(pk=None, external_id=None) -> tuple:
    """(account, health or None, override or None, (scorecard name, components JSON, movers
    JSON)) in one query; 404 for no such account."""
    if external_id is not None:
        by, value = "external_id", external_id
    else:
        by, value = "id", int(pk)
    found = None
    if by == "external_id" or value <= _MAX_ID:
        connection = connections[DEFAULT_DB_ALIAS]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        found = _health_statement(by).fetch_one([now, value])
    if found is None:
        raise Http404(f"No {Account._meta.object_name} matches the given query.")
    (account, health, version, override, author), (scorecard_name, components, movers) = found
    if health is not None:
        AccountHealth._meta.get_field("scorecard_version").set_cached_value(health, version)
    if override is not None:
        HealthOverride._meta.get_field("created_by").set_cached_value(override, author)
    return account, health, override, (scorecard_name or "", components, movers)


class AccountHealthView(AccountScopedView):
    """The account's score, colour, override, explanation, components and trend."""

    renderer_classes = [PassThroughJSONRenderer]

    @extend_schema(responses={200: AccountHealthSerializer})
    def get(self, request, **kwargs):
        account, health, override, extra = _health_row(
            self.kwargs.get("pk"), self.kwargs.get("external_id")
        )
        if health is None:
            raise NotFound(
                f"{account.name} has no health score yet: accounts are scored within seconds "
                "of their first data, and every night."
            )
        return Response(health_json(account, health, override, *extra))


class HealthHistoryQuery(serializers.Serializer):
    # "from" is a Python keyword: the field is declared under another name below.
    to = serializers.DateField(required=False, help_text="Last day (default: today).")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text="First day (default: 90 days before `to`)."
        )
        return fields


class AccountHealthHistoryView(AccountScopedView, generics.ListAPIView):
    """One snapshot per day, newest first: ?from=YYYY-MM-DD&to=YYYY-MM-DD (paginated)."""

    serializer_class = SnapshotSerializer
    queryset = HealthSnapshot.objects.none()  # for the schema; get_queryset filters

    @extend_schema(parameters=[HealthHistoryQuery])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        query = HealthHistoryQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        end = query.validated_data.get("to") or timezone.now().date()
        start = query.validated_data.get("from") or end - timedelta(days=90)
        if start > end:
            raise serializers.ValidationError({"from": [f"{start} is after `to` ({end})."]})
        return HealthSnapshot.objects.filter(
            account_id=self.get_account().pk, date__gte=start, date__lte=end
        ).order_by("-date")


class HealthChangeFilter(django_filters.FilterSet):
    since = UtcDateTimeFilter(field_name="changed_at", lookup_expr="gte")
    account = django_filters.CharFilter(field_name="account__external_id")
    to_color = django_filters.ChoiceFilter(choices=Color.choices)
    from_color = django_filters.ChoiceFilter(choices=Color.choices)

    class Meta:
        model = HealthChange
        fields = ["since", "account", "to_color", "from_color", "backfilled"]


class HealthChangeViewSet(viewsets.ReadOnlyModelViewSet):
    """Every colour change, newest first: ?since=ISO-8601&account=&to_color= (paginated)."""

    queryset = HealthChange.objects.select_related("account").order_by("-changed_at", "-id")
    serializer_class = HealthChangeSerializer
    filterset_class = HealthChangeFilter
    search_fields = []
    ordering_fields = ["changed_at"]


class OverrideView(AccountScopedView):
    """PUT sets the override of the computed colour (reason, expiry); DELETE ends it."""

    @extend_schema(request=OverrideRequestSerializer, responses={200: OverrideSerializer})
    def put(self, request, **kwargs):
        account = self.get_account()
        check_book(request.user, account)
        data = OverrideRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            override = set_override(account, by=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return Response(OverrideSerializer(override).data)

    @extend_schema(responses={204: None})
    def delete(self, request, **kwargs):
        account = self.get_account()
        check_book(request.user, account)
        if not end_override(account, request.user):
            raise NotFound("No override is in force on this account.")
        return Response(status=status.HTTP_204_NO_CONTENT)


class SentimentView(AccountScopedView):
    """POST the CSM's sentiment (1-5): a measure of the scorecard, rescored within seconds."""

    @extend_schema(request=SentimentRequestSerializer, responses={201: SentimentRequestSerializer})
    def post(self, request, **kwargs):
        account = self.get_account()
        check_book(request.user, account)
        data = SentimentRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            record_sentiment(account, by=request.user, **data.validated_data)
            mark_dirty([account.pk])
        return Response(data.validated_data, status=status.HTTP_201_CREATED)


class ScorecardViewSet(viewsets.ModelViewSet):
    """Scorecards with their measures: everyone reads, admins change (each save is a version)."""

    queryset = (
        Scorecard.objects.select_related("current_version")
        .prefetch_related("measures")
        .order_by("is_default", "priority", "name")
    )
    serializer_class = ScorecardSerializer
    scopes_by_method = ADMIN_WRITES  # a write-scope token of an admin cannot change scoring
    search_fields = ["name"]
    ordering_fields = ["priority", "name"]

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in SAFE_METHODS:  # before validation: a CSM learns nothing more
            require_admin(request.user, "change scorecards")

    def perform_create(self, serializer):
        if "measures" not in serializer.validated_data:
            raise serializers.ValidationError({"measures": ["This field is required."]})
        serializer.save_with_measures(self.request.user)

    def perform_update(self, serializer):
        serializer.save_with_measures(self.request.user)

    def perform_destroy(self, instance):
        if instance.is_default:
            raise serializers.ValidationError(
                {"is_default": ["The default scorecard cannot be deleted; edit it instead."]}
            )
        instance.delete()
