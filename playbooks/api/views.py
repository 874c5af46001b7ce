"""REST endpoints of the playbooks app: playbooks (admins write), runs (read; admins retry),
tasks (CSMs create them for their book and complete or snooze their own)."""

from datetime import timedelta

import django_filters
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.api.filters import UtcDateTimeFilter
from cs_platform.api.permissions import (
    ADMIN_WRITES,
    HasScope,
    check_book,
    is_admin,
    require_admin,
)
from cs_platform.models import Scope
from playbooks.actions import RetryError, reset_for_retry
from playbooks.api.serializers import (
    BacktestQuerySerializer,
    PlaybookRunSerializer,
    PlaybookSerializer,
    RetrySerializer,
    SnoozeSerializer,
    TaskSerializer,
)
from playbooks.backtest import backtest, preview
from playbooks.choices import ActionStatus, RunStatus, TaskStatus, TriggerKind
from playbooks.models import ActionAttempt, Playbook, PlaybookRun, RunAction, Task


class ScopeOnly(HasScope):
    """Scopes and roles as everywhere; objects here are not an account's (no book check)."""

    def has_object_permission(self, request, view, obj):
        return True


class PlaybookViewSet(viewsets.ModelViewSet):
    """Playbooks: everyone reads; admins (admin scope) create, change and delete them."""

    queryset = Playbook.objects.prefetch_related("owners", "actions").order_by("name", "id")
    serializer_class = PlaybookSerializer
    permission_classes = [ScopeOnly]
    scopes_by_method = ADMIN_WRITES
    filterset_fields = ["enabled", "trigger_kind"]
    search_fields = ["name", "description"]

    def perform_create(self, serializer):
        require_admin(self.request.user, "create playbooks")
        serializer.save(created_by=self.request.user)

    def perform_update(self, serializer):
        require_admin(self.request.user, "change playbooks")
        serializer.save()

    def perform_destroy(self, instance):
        require_admin(self.request.user, "delete playbooks")
        instance.delete()

    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The accounts matching the conditions (and the trigger's state) now."""
        result = preview(self.get_object())
        return Response(
            {
                "count": result["count"],
                "state": result["state"],
                "accounts": [{"id": a.pk, "name": a.name} for a in result["accounts"]],
            }
        )

    @extend_schema(parameters=[BacktestQuerySerializer])
    @action(detail=True, methods=["get"])
    def backtest(self, request, pk=None):
        """Runs it would have created per ISO week over the last ?days= (default 90)."""
        query = BacktestQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(backtest(self.get_object(), query.validated_data["days"]))


class RunFilter(django_filters.FilterSet):
    trigger_kind = django_filters.ChoiceFilter(choices=TriggerKind.choices)
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    since = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = PlaybookRun
        fields = ["playbook", "account", "status", "trigger_kind"]


def runs_queryset():
    return (
        PlaybookRun.objects.select_related("playbook", "account")
        .prefetch_related(
            Prefetch(
                "actions",
                RunAction.objects.prefetch_related(
                    Prefetch("attempts", ActionAttempt.objects.order_by("number"))
                ),
            )
        )
        .order_by("-created_at", "-id")
    )


class PlaybookRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs with their actions and every attempt; admins retry failed actions."""

    queryset = runs_queryset()
    serializer_class = PlaybookRunSerializer
    permission_classes = [ScopeOnly]
    filterset_class = RunFilter
    ordering_fields = ["created_at", "occurred_at"]
    scopes_by_method = ADMIN_WRITES

    @extend_schema(request=RetrySerializer, responses={202: PlaybookRunSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Retry one failed action (``action``) or every failed action of this run."""
        require_admin(request.user, "retry playbook actions")
        run = self.get_object()
        body = RetrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions = run.actions.all()
        if body.validated_data.get("action"):
            actions = [get_object_or_404(RunAction, run=run, pk=body.validated_data["action"])]
        else:
            actions = [a for a in actions if a.status == ActionStatus.FAILED]
            if not actions:
                raise ValidationError({"action": ["No failed action to retry."]})
        retry_actions(actions)
        return Response(self.get_serializer(self.get_queryset().get(pk=run.pk)).data, status=202)


def retry_actions(actions) -> list[int]:
    """Reset and queue each action for a manual attempt (the dashboard uses this too)."""
    from playbooks.tasks import execute_action_task

    queued = []
    for run_action in actions:
        try:
            reset_for_retry(run_action)
        except RetryError as exc:
            raise ValidationError({"action": [str(exc)]}) from None
        queued.append(run_action.pk)
    for pk in queued:
        execute_action_task.delay(pk, manual=True)
    return queued


class TaskFilter(django_filters.FilterSet):
    mine = django_filters.BooleanFilter(method="filter_mine", label="Only tasks assigned to me")
    status = django_filters.CharFilter(method="filter_status", label="open, snoozed or done")
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = Task
        fields = ["account", "assignee", "priority", "created_by_run"]

    def filter_mine(self, queryset, name, value):
        return queryset.filter(assignee=self.request.user) if value else queryset

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        awake = Q(status=TaskStatus.SNOOZED, snoozed_until__lte=now)
        if value == TaskStatus.OPEN:  # a snooze that ended counts as open again
            return queryset.filter(Q(status=TaskStatus.OPEN) | awake)
        if value == TaskStatus.SNOOZED:
            return queryset.filter(status=TaskStatus.SNOOZED, snoozed_until__gt=now)
        if value == TaskStatus.DONE:
            return queryset.filter(status=TaskStatus.DONE)
        raise ValidationError({"status": ["Expected open, snoozed or done."]})


def check_task(user, task) -> None:
    """Admins, the assignee and the account's owner may change a task."""
    if is_admin(user) or task.assignee_id == user.pk or task.account.owner_id == user.pk:
        return
    raise PermissionDenied("Only its assignee, the account's owner or an admin can change it.")


class TaskViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """CSM tasks: ?mine=true&status=open is a CSM's inbox. Complete, snooze or reopen them."""

    queryset = Task.objects.select_related("account", "assignee").order_by("due_date", "-id")
    serializer_class = TaskSerializer
    permission_classes = [ScopeOnly]
    filterset_class = TaskFilter
    ordering_fields = ["due_date", "created_at", "priority"]
    search_fields = ["title", "account__name"]
    scopes_by_method = {"DELETE": {Scope.ADMIN}}

    def perform_create(self, serializer):
        check_book(self.request.user, serializer.validated_data["account"])
        assignee = serializer.validated_data.get("assignee", self.request.user)
        serializer.save(created_by=self.request.user, assignee=assignee)

    def perform_update(self, serializer):
        check_task(self.request.user, serializer.instance)
        if "account" in serializer.validated_data:
            check_book(self.request.user, serializer.validated_data["account"])
        serializer.save()

    def perform_destroy(self, instance):
        require_admin(self.request.user, "delete tasks")
        instance.delete()

    def _change(self, request, change):
        task = self.get_object()
        check_task(request.user, task)
        change(task)
        return Response(self.get_serializer(task).data)

    @extend_schema(request=None, responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._change(request, lambda t: t.complete())

    @extend_schema(request=SnoozeSerializer, responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def snooze(self, request, pk=None):
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        until = body.validated_data.get("until") or timezone.now() + timedelta(
            days=body.validated_data["days"]
        )
        if until <= timezone.now():
            raise ValidationError({"until": ["Must be in the future."]})
        return self._change(request, lambda t: t.snooze(until))

    @extend_schema(request=None, responses={200: TaskSerializer})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        return self._change(request, lambda t: t.reopen())
