"""REST endpoints of the accounts app: declarations over serializers and domain modules."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.filters import (
    AccountFilter,
    ContactFilter,
    EventFilter,
    NoteFilter,
    SurveyResponseFilter,
)
from accounts.api.serializers import (
    AccountSerializer,
    BulkRequestSerializer,
    BulkResponseSerializer,
    ContactSerializer,
    EventBatchSerializer,
    EventResultSerializer,
    EventSerializer,
    NoteSerializer,
    SurveyResponseSerializer,
)
from accounts.choices import ContractSource
from accounts.contracts import contract_source
from accounts.dirty import mark_dirty
from accounts.ingest import REJECTED, ingest_messages
from accounts.models import Account, Contact, Event, Note, SurveyResponse
from accounts.upsert import UpsertError, retry_on_conflict, upsert_accounts, upsert_contacts
from cs_platform.api.permissions import check_book, require_admin
from cs_platform.models import Scope


def _bulk_response(results):
    counts = dict.fromkeys(("created", "updated", "unchanged", "rejected", "skipped"), 0)
    for result in results:
        counts[result.status] += 1
    body = {
        **counts,
        "results": [
            {"index": r.index, "status": r.status, "id": r.id, "key": r.key, "errors": r.errors}
            for r in results
        ],
    }
    rejected = counts["rejected"] > 0
    return Response(body, status=status.HTTP_400_BAD_REQUEST if rejected else status.HTTP_200_OK)


class DirtyMarkingMixin:
    """Writes through the API mark the affected account for health recompute."""

    def perform_create(self, serializer):
        check_book(self.request.user, serializer.validated_data.get("account"))
        instance = serializer.save(**self.extra_save_kwargs())
        mark_dirty([self.account_id_of(instance)])

    def perform_update(self, serializer):
        instance = serializer.save()
        mark_dirty([self.account_id_of(instance)])

    def perform_destroy(self, instance):
        account_id = self.account_id_of(instance)
        instance.delete()
        if not isinstance(instance, Account):  # a deleted account has nothing to recompute
            mark_dirty([account_id])

    def extra_save_kwargs(self) -> dict:
        return {}

    @staticmethod
    def account_id_of(instance) -> int:
        return instance.account_id


class BulkUpsertMixin:
    upsert = None  # upsert_accounts or upsert_contacts

    @extend_schema(request=BulkRequestSerializer, responses={200: BulkResponseSerializer})
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Create or update up to 5,000 items by external id, with a result per item.

        All or nothing by default: one rejected item and nothing is written (400).
        """
        require_admin(request.user, "upsert in bulk")
        payload = BulkRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            results = retry_on_conflict(
                type(self).upsert,
                payload.validated_data["items"],
                all_or_nothing=payload.validated_data["all_or_nothing"],
            )
        except UpsertError as exc:
            return Response({"items": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return _bulk_response(results)


class AccountViewSet(DirtyMarkingMixin, BulkUpsertMixin, viewsets.ModelViewSet):
    """Customer accounts. Also addressable by external id: /accounts/by-external-id/{id}/."""

    queryset = Account.objects.select_related("owner", "parent", "journey").order_by("name", "id")
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    search_fields = ["name", "domain", "external_id"]
    ordering_fields = ["name", "arr", "renewal_date", "created_at", "employee_count"]
    upsert = staticmethod(upsert_accounts)
    scopes_by_method = {"DELETE": {Scope.ADMIN}}

    @staticmethod
    def account_id_of(instance) -> int:
        return instance.pk

    def get_object(self):
        """By external id on its route (OPTIONS asks for it to describe PUT), else by pk."""
        if "external_id" not in self.kwargs:
            return super().get_object()
        account = get_object_or_404(self.get_queryset(), external_id=self.kwargs["external_id"])
        self.check_object_permissions(self.request, account)
        return account

    def perform_create(self, serializer):
        require_admin(self.request.user, "create accounts")
        with contract_source(ContractSource.API):  # the save records the new contract
            super().perform_create(serializer)

    def perform_update(self, serializer):
        with contract_source(ContractSource.API):  # ... and any change of ARR or renewal
            super().perform_update(serializer)

    @extend_schema(request=AccountSerializer, responses={200: AccountSerializer})
    @action(
        detail=False,
        methods=["get", "put"],
        url_path=r"by-external-id/(?P<external_id>[^/]+)",
    )
    def by_external_id(self, request, external_id):
        """GET an account by external id; PUT creates it or updates the fields given."""
        if request.method == "GET":
            return Response(self.get_serializer(self.get_object()).data)
        require_admin(request.user, "create or update accounts by external id")
        if not isinstance(request.data, dict):
            return Response({"non_field_errors": ["Expected a JSON object."]}, status=400)
        # The same rules as the bulk endpoint and the CSV import: one upsert path.
        (result,) = retry_on_conflict(
            upsert_accounts, [{**request.data, "external_id": external_id}]
        )
        if result.status == "rejected":
            return Response(result.errors, status=status.HTTP_400_BAD_REQUEST)
        account = self.queryset.get(pk=result.id)
        return Response(
            self.get_serializer(account).data,
            status=status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK,
        )


class ContactViewSet(DirtyMarkingMixin, BulkUpsertMixin, viewsets.ModelViewSet):
    """People at customer accounts, with their persona."""

    queryset = Contact.objects.select_related("account").order_by("id")
    serializer_class = ContactSerializer
    filterset_class = ContactFilter
    search_fields = ["name", "email", "external_id"]
    ordering_fields = ["name", "email", "last_seen_at", "created_at"]
    upsert = staticmethod(upsert_contacts)
    scopes_by_method = {"DELETE": {Scope.ADMIN}}


class EventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Product-usage events. POST a batch of up to 5,000; each gets its own result."""

    queryset = Event.objects.select_related("account", "contact").order_by("-occurred_at", "-id")
    serializer_class = EventSerializer
    filterset_class = EventFilter
    ordering_fields = ["occurred_at", "received_at"]
    scopes_by_method = {"POST": {Scope.INGEST}}

    @extend_schema(request=EventBatchSerializer, responses={200: EventResultSerializer(many=True)})
    def create(self, request):
        payload = EventBatchSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        messages = [
            {
                "type": "track",
                "event": e["name"],
                "userId": e.get("contact"),
                "context": {"groupId": e["account"]} if e.get("account") else {},
                "timestamp": e["occurred_at"].isoformat(),
                "properties": e["properties"],
                "messageId": e["message_id"],
            }
            for e in payload.validated_data["events"]
        ]
        results = ingest_messages(messages, received_at=timezone.now())
        body = [r.as_dict() for r in results]
        everything_rejected = all(r.status == REJECTED for r in results)
        return Response(body, status=400 if everything_rejected else 200)


class SurveyResponseViewSet(DirtyMarkingMixin, viewsets.ModelViewSet):
    """NPS (0-10) and CSAT (1-5) answers."""

    queryset = SurveyResponse.objects.select_related("account", "contact").order_by("-responded_at")
    serializer_class = SurveyResponseSerializer
    filterset_class = SurveyResponseFilter
    ordering_fields = ["responded_at", "score"]


class NoteViewSet(DirtyMarkingMixin, viewsets.ModelViewSet):
    """CSM notes on accounts; the author is whoever writes it."""

    queryset = Note.objects.select_related("account", "author").order_by("-occurred_at")
    serializer_class = NoteSerializer
    filterset_class = NoteFilter
    ordering_fields = ["occurred_at"]

    def extra_save_kwargs(self) -> dict:
        return {"author": self.request.user}
