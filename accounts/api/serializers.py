"""REST representations of accounts and what belongs to them. References use external ids."""

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from accounts.choices import SURVEY_SCORE_RANGE
from accounts.models import Account, Contact, Event, Note, SurveyResponse
from accounts.upsert import MAX_ITEMS


def no_nul(value):
    """PostgreSQL's JSON refuses NUL characters: a 400 naming the field, not a 500."""
    if "\\u0000" in json.dumps(value):
        raise serializers.ValidationError("Contains a NUL character (\\u0000).")
    return value


class AccountSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text="The owning CSM's username.",
    )
    parent = serializers.SlugRelatedField(
        slug_field="external_id",
        queryset=Account.objects.all(),
        required=False,
        allow_null=True,
        help_text="External id of the parent account.",
    )
    stage = serializers.CharField(
        source="journey.stage",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="Journey stage (null before the account enters one).",
    )
    traits = serializers.DictField(
        required=False, validators=[no_nul], help_text="Free-form attributes."
    )
    tenure_days = serializers.SerializerMethodField(help_text="Days since the contract start.")

    class Meta:
        model = Account
        fields = [
            "id", "external_id", "name", "domain", "parent", "industry", "employee_count",
            "plan", "arr", "currency", "licenses_purchased", "touch_model", "owner",
            "contract_start", "renewal_date", "status", "churned_at", "traits", "stage",
            "tenure_days", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_tenure_days(self, account) -> int | None:
        if not account.contract_start:
            return None
        return (timezone.localdate() - account.contract_start).days

    def validate(self, attrs):
        instance = Account(**{**self._current(), **attrs})
        instance.pk = getattr(self.instance, "pk", None)
        try:
            instance.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs

    def _current(self) -> dict:
        if self.instance is None:
            return {}
        fields = ("parent", "status", "churned_at", "contract_start", "renewal_date")
        return {f: getattr(self.instance, f) for f in fields}


class ContactSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(
        slug_field="external_id",
        queryset=Account.objects.all(),
        help_text="External id of the contact's account.",
    )
    traits = serializers.DictField(
        required=False, validators=[no_nul], help_text="Free-form attributes."
    )

    class Meta:
        model = Contact
        fields = [
            "id", "account", "external_id", "email", "name", "title", "persona",
            "is_key_contact", "first_seen_at", "last_seen_at", "is_active", "traits",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # uniqueness is checked by the database constraints below

    def validate(self, attrs):
        external_id = attrs.get("external_id", getattr(self.instance, "external_id", ""))
        email = attrs.get("email", getattr(self.instance, "email", ""))
        if not external_id and not email:
            raise serializers.ValidationError({"external_id": "Give an external_id or an email."})
        others = Contact.objects.exclude(pk=getattr(self.instance, "pk", None))
        if external_id and others.filter(external_id=external_id).exists():
            raise serializers.ValidationError({"external_id": "Another contact has this id."})
        account = attrs.get("account", getattr(self.instance, "account", None))
        if email and others.filter(account=account, email__iexact=email).exists():
            raise serializers.ValidationError({"email": "Another contact of this account has it."})
        return attrs


class EventSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    contact = serializers.SlugRelatedField(slug_field="external_id", read_only=True)

    class Meta:
        model = Event
        fields = [
            "id", "account", "contact", "name", "occurred_at", "properties", "message_id",
            "received_at",
        ]  # fmt: skip


class EventInSerializer(serializers.Serializer):
    """One event pushed over REST; stored through the same path as Segment's track."""

    account = serializers.CharField(required=False, help_text="Account external id.")
    contact = serializers.CharField(required=False, help_text="Contact external id.")
    name = serializers.CharField(max_length=200)
    occurred_at = serializers.DateTimeField()
    properties = serializers.DictField(required=False, default=dict)
    message_id = serializers.CharField(max_length=255, help_text="Unique; repeats are duplicates.")

    def validate(self, attrs):
        if not attrs.get("account") and not attrs.get("contact"):
            raise serializers.ValidationError({"account": "Give the account or the contact."})
        return attrs


class EventBatchSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, allow_empty=False, max_length=MAX_ITEMS)


class EventResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    messageId = serializers.CharField()  # noqa: N815
    status = serializers.CharField()
    reason = serializers.CharField(required=False)


class SurveyResponseSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", queryset=Account.objects.all())
    contact = serializers.SlugRelatedField(
        slug_field="external_id", queryset=Contact.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = SurveyResponse
        fields = [
            "id", "account", "contact", "kind", "score", "comment", "responded_at",
            "external_id", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]

    def validate(self, attrs):
        def current(name):  # a PATCH gives only some fields
            return attrs.get(name, getattr(self.instance, name, None))

        kind, score, account, contact = (
            current(f) for f in ("kind", "score", "account", "contact")
        )
        low, high = SURVEY_SCORE_RANGE[kind]
        if score is not None and not low <= score <= high:
            raise serializers.ValidationError(
                {"score": f"A {kind.upper()} score is from {low} to {high}."}
            )
        if contact and account and contact.account_id != account.pk:
            raise serializers.ValidationError({"contact": "This contact is not of this account."})
        return attrs


class NoteSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="external_id", queryset=Account.objects.all())
    author = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null when imported."
    )

    class Meta:
        model = Note
        fields = ["id", "account", "author", "kind", "body", "occurred_at", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class BulkResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "rejected", "skipped"]
    )
    id = serializers.IntegerField(allow_null=True)
    key = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BulkRequestSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=MAX_ITEMS
    )
    all_or_nothing = serializers.BooleanField(
        default=True, help_text="If any item is rejected, write none (default)."
    )


class BulkResponseSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    skipped = serializers.IntegerField()
    results = BulkResultSerializer(many=True)
