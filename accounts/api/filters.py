"""Filters of the accounts API (django-filter)."""

from datetime import UTC, timedelta

import django_filters
from django.utils import timezone

from accounts.choices import AccountStatus, Persona, SurveyKind, TouchModel
from accounts.models import Account, Contact, Event, Note, SurveyResponse

MONEY = {"min_value": 0, "max_value": 10**12}
COUNT = {"min_value": 0, "max_value": 2_000_000_000}


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 with any offset, compared in UTC (PostgreSQL refuses offsets past ±15:59)."""

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(UTC) if value else value)


class AccountFilter(django_filters.FilterSet):
    owner = django_filters.CharFilter(field_name="owner__username", help_text="CSM username")
    plan = django_filters.CharFilter(lookup_expr="iexact")
    industry = django_filters.CharFilter(lookup_expr="iexact")
    touch_model = django_filters.ChoiceFilter(choices=TouchModel.choices)
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices)
    stage = django_filters.CharFilter(field_name="journey__stage", help_text="Journey stage.")
    # Health is a higher app: the filter goes through its reverse relation by name only.
    color = django_filters.ChoiceFilter(
        field_name="health__color",
        choices=[("green", "Green"), ("yellow", "Yellow"), ("red", "Red")],
        help_text="Computed health colour.",
    )
    # Bounds keep absurd numbers a 400 instead of a database overflow.
    arr_min = django_filters.NumberFilter(field_name="arr", lookup_expr="gte", **MONEY)
    arr_max = django_filters.NumberFilter(field_name="arr", lookup_expr="lte", **MONEY)
    employees_min = django_filters.NumberFilter(
        field_name="employee_count", lookup_expr="gte", **COUNT
    )
    employees_max = django_filters.NumberFilter(
        field_name="employee_count", lookup_expr="lte", **COUNT
    )
    renewal_after = django_filters.DateFilter(field_name="renewal_date", lookup_expr="gte")
    renewal_before = django_filters.DateFilter(field_name="renewal_date", lookup_expr="lte")
    renewal_within_days = django_filters.NumberFilter(
        method="filter_renewal_within",
        min_value=0,
        max_value=3660,
        help_text="Renewing between today and N days from now.",
    )

    class Meta:
        model = Account
        fields = ["owner", "plan", "industry", "touch_model", "status", "stage", "color"]

    def filter_renewal_within(self, queryset, name, value):
        today = timezone.now().date()
        return queryset.filter(
            renewal_date__gte=today, renewal_date__lte=today + timedelta(days=int(value))
        )


class ContactFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__external_id")
    persona = django_filters.ChoiceFilter(choices=Persona.choices)
    email = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Contact
        fields = ["account", "persona", "email", "is_key_contact", "is_active"]


class EventFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__external_id")
    contact = django_filters.CharFilter(field_name="contact__external_id")
    since = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = Event
        fields = ["account", "contact", "name", "since", "until"]


class SurveyResponseFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__external_id")
    kind = django_filters.ChoiceFilter(choices=SurveyKind.choices)
    since = UtcDateTimeFilter(field_name="responded_at", lookup_expr="gte")

    class Meta:
        model = SurveyResponse
        fields = ["account", "kind", "since"]


class NoteFilter(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__external_id")

    class Meta:
        model = Note
        fields = ["account", "kind"]
