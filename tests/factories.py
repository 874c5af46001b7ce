"""factory-boy factories for the models of accounts and journeys."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from accounts.choices import Persona, SurveyKind, TouchModel
from accounts.models import Account, Contact, Event, Note, SurveyResponse
from journeys.choices import Severity
from journeys.models import Escalation


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    external_id = factory.Sequence(lambda n: f"acc-{n}")
    name = factory.Sequence(lambda n: f"Customer {n:04d}")
    domain = factory.LazyAttribute(lambda a: f"{a.external_id}.example")
    plan = "Growth"
    arr = Decimal("24000.00")
    licenses_purchased = 50
    touch_model = TouchModel.LOW
    contract_start = date(2026, 1, 1)
    renewal_date = date(2027, 1, 1)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    external_id = factory.Sequence(lambda n: f"usr-{n}")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@{c.account.domain}")
    name = factory.Sequence(lambda n: f"Person {n}")
    persona = Persona.END_USER


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    account = factory.SubFactory(AccountFactory)
    contact = None
    name = "login"
    occurred_at = factory.Sequence(
        lambda n: datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(minutes=n)
    )
    message_id = factory.Sequence(lambda n: f"msg-{n}")


class SurveyResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyResponse

    account = factory.SubFactory(AccountFactory)
    kind = SurveyKind.NPS
    score = 9
    responded_at = datetime(2026, 3, 1, 12, tzinfo=UTC)


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    account = factory.SubFactory(AccountFactory)
    body = "Check-in call."
    occurred_at = datetime(2026, 3, 1, 12, tzinfo=UTC)


class EscalationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Escalation

    account = factory.SubFactory(AccountFactory)
    title = "Sync failing"
    severity = Severity.HIGH
    opened_at = datetime(2026, 3, 1, 12, tzinfo=UTC)


def contract_account(arr, *, since=date(2025, 1, 1), **fields) -> Account:
    """An account whose contract history starts on ``since`` with ``arr`` (not "now")."""
    account = AccountFactory(arr=arr, **fields)
    account.contract_changes.update(changed_at=datetime(*since.timetuple()[:3], 9, tzinfo=UTC))
    return account


def change_contract(account, at: datetime, *, arr=None, renewal_date=None, source="api"):
    """Record a change of ARR and/or renewal date made at ``at``, and apply it to the account.

    Written straight to the rows (as a past change would be), so the save hook adds nothing.
    """
    from accounts.models import ContractChange

    account.refresh_from_db()
    after_arr = account.arr if arr is None else Decimal(str(arr))
    after_renewal = account.renewal_date if renewal_date is None else renewal_date
    change = ContractChange.objects.create(
        account=account,
        changed_at=at,
        arr_before=account.arr,
        arr_after=after_arr,
        renewal_date_before=account.renewal_date,
        renewal_date_after=after_renewal,
        source=source,
    )
    Account.objects.filter(pk=account.pk).update(arr=after_arr, renewal_date=after_renewal)
    account.refresh_from_db()
    return change
