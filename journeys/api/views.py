"""REST endpoints of the journeys app."""

from datetime import datetime

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.dirty import mark_dirty
from accounts.models import Account
from cs_platform.api.permissions import check_book
from journeys.api.serializers import (
    AccountMilestoneSerializer,
    AccountStageSerializer,
    EscalationFeedbackSerializer,
    EscalationSerializer,
    EscalationStepSerializer,
    HandoffSerializer,
    MilestoneTemplateSerializer,
    StageMoveSerializer,
    StageTransitionSerializer,
)
from journeys.cohorts import cohort_funnel
from journeys.escalations import (
    EscalationError,
    open_escalation,
    record_feedback,
    record_first_response,
    resolve_escalation,
)
from journeys.milestones import reach_milestone
from journeys.models import (
    AccountMilestone,
    AccountStage,
    Escalation,
    Handoff,
    MilestoneTemplate,
    StageTransition,
)
from journeys.stages import StageMoveError, move_account


class StageViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Where each account is in its journey; POST moves one by hand (with a reason)."""

    queryset = AccountStage.objects.select_related("account").order_by("account__name")
    serializer_class = AccountStageSerializer
    filterset_fields = ["stage"]

    @extend_schema(request=StageMoveSerializer, responses={201: StageTransitionSerializer})
    def create(self, request):
        move = StageMoveSerializer(data=request.data)
        move.is_valid(raise_exception=True)
        data = move.validated_data
        check_book(request.user, data["account"])
        try:
            transition = move_account(
                data["account"], data["to_stage"], reason=data["reason"], by=request.user
            )
        except StageMoveError as exc:
            return Response({"to_stage": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        mark_dirty([data["account"].pk])
        return Response(StageTransitionSerializer(transition).data, status=status.HTTP_201_CREATED)


class StageTransitionViewSet(viewsets.ReadOnlyModelViewSet):
    """Every move between stages: from, to, when, why, by whom or which rule."""

    queryset = StageTransition.objects.select_related("account", "moved_by").order_by("-moved_at")
    serializer_class = StageTransitionSerializer
    filterset_fields = {"account__external_id": ["exact"], "to_stage": ["exact"]}


class EscalationViewSet(viewsets.ModelViewSet):
    """Escalations, from any stage of the journey."""

    queryset = Escalation.objects.select_related("account", "owner", "feedback").order_by(
        "-opened_at"
    )
    # No DELETE: an escalation's history (deadline, breach, journey detour) is kept.
    http_method_names = ["get", "post", "patch", "head", "options"]
    serializer_class = EscalationSerializer
    filterset_fields = {"account__external_id": ["exact"], "severity": ["exact"]}
    ordering_fields = ["opened_at", "severity"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        check_book(self.request.user, data["account"])
        serializer.instance = open_escalation(
            data["account"],
            severity=data["severity"],
            title=data["title"],
            description=data.get("description", ""),
            opened_at=data.get("opened_at"),
            by=self.request.user,
        )

    def perform_update(self, serializer):
        mark_dirty([serializer.save().account_id])

    def _step(self, request, step, **kwargs):
        escalation = self.get_object()  # object permissions: the CSM's own book
        try:
            step(escalation, **kwargs)
        except EscalationError as exc:
            return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        escalation.refresh_from_db()
        return Response(EscalationSerializer(escalation).data)

    @extend_schema(request=EscalationStepSerializer, responses={200: EscalationSerializer})
    @action(detail=True, methods=["post"])
    def respond(self, request, pk=None):
        """Record the first response to the customer."""
        step = EscalationStepSerializer(data=request.data)
        step.is_valid(raise_exception=True)
        return self._step(request, record_first_response, at=step.validated_data.get("at"))

    @extend_schema(request=EscalationStepSerializer, responses={200: EscalationSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Resolve it: asks the customer for feedback, ends the journey detour if the last."""
        step = EscalationStepSerializer(data=request.data)
        step.is_valid(raise_exception=True)
        return self._step(
            request, resolve_escalation, at=step.validated_data.get("at"), by=request.user
        )

    @extend_schema(request=EscalationFeedbackSerializer, responses={200: EscalationSerializer})
    @action(detail=True, methods=["post"])
    def feedback(self, request, pk=None):
        """Store the customer's CSAT about how the escalation was handled."""
        answer = EscalationFeedbackSerializer(data=request.data)
        answer.is_valid(raise_exception=True)
        return self._step(request, record_feedback, **answer.validated_data)


class HandoffViewSet(viewsets.GenericViewSet):
    """The sales handoff of an account, by its external id: GET it, PUT it (create or edit)."""

    queryset = Handoff.objects.select_related("account", "updated_by")
    serializer_class = HandoffSerializer
    lookup_field = "account__external_id"
    lookup_url_kwarg = "external_id"

    def retrieve(self, request, external_id=None):
        return Response(self.get_serializer(self.get_object()).data)

    def update(self, request, external_id=None):
        account = get_object_or_404(Account, external_id=external_id)
        check_book(request.user, account)
        handoff = Handoff.objects.filter(account=account).first()
        serializer = self.get_serializer(handoff, data=request.data, partial=handoff is not None)
        serializer.is_valid(raise_exception=True)
        serializer.save(account=account, updated_by=request.user)
        return Response(serializer.data, status=200 if handoff else 201)


class MilestoneTemplateViewSet(viewsets.ReadOnlyModelViewSet):
    """Success plans per segment (edited by admins in the Django admin)."""

    queryset = MilestoneTemplate.objects.prefetch_related("milestones")
    serializer_class = MilestoneTemplateSerializer


class AccountMilestoneViewSet(viewsets.ReadOnlyModelViewSet):
    """Each account's milestones: due, reached, overdue. POST .../reach/ marks one by hand."""

    queryset = AccountMilestone.objects.select_related(
        "account", "definition", "reached_by"
    ).order_by("due_date", "id")
    serializer_class = AccountMilestoneSerializer
    filterset_fields = {
        "account__external_id": ["exact"],
        "reached_at": ["isnull"],
        "overdue_at": ["isnull"],
    }

    @extend_schema(request=None, responses={200: AccountMilestoneSerializer})
    @action(detail=True, methods=["post"])
    def reach(self, request, pk=None):
        milestone = self.get_object()
        check_book(request.user, milestone.account)
        try:
            reach_milestone(milestone, by=request.user)
        except ValueError as exc:
            return Response({"reached_at": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        mark_dirty([milestone.account_id])
        return Response(self.get_serializer(milestone).data)


class CohortFunnelView(APIView):
    """Accounts by start month: % reaching each milestone within 30/60/90 days.

    ?export=csv downloads the table; ?since=YYYY-MM limits the cohorts.
    """

    @extend_schema(
        parameters=[OpenApiParameter("since", str, description="First cohort month, YYYY-MM")],
        responses={200: OpenApiResponse(description="Rows of cohort, milestone, accounts, %")},
    )
    def get(self, request):
        accounts = Account.objects.all()
        since = request.query_params.get("since", "")
        if since:
            try:
                first = datetime.strptime(since, "%Y-%m").date()
            except ValueError:
                return Response({"since": ["Expected a month like 2026-01."]}, status=400)
            accounts = accounts.filter(contract_start__gte=first)
        table = cohort_funnel(accounts)
        if request.query_params.get("export") == "csv":
            response = HttpResponse(table.to_csv(index=False), content_type="text/csv")
            response["Content-Disposition"] = 'attachment; filename="cohort-funnel.csv"'
            return response
        return Response(table.to_dict(orient="records"))
