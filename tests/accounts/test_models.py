from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.choices import AccountStatus, SurveyKind
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EventFactory,
    SurveyResponseFactory,
)

pytestmark = pytest.mark.django_db


def _refused(factory, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**kwargs)


def test_it_refuses_a_churned_account_without_a_churn_date():
    _refused(AccountFactory, status=AccountStatus.CHURNED, churned_at=None)


def test_it_refuses_an_active_account_with_a_churn_date():
    _refused(AccountFactory, churned_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_it_refuses_negative_arr():
    _refused(AccountFactory, arr=Decimal("-1"))


def test_it_refuses_a_renewal_before_the_contract_starts():
    account = AccountFactory.build(contract_start="2026-05-01", renewal_date="2026-04-01")
    with pytest.raises(ValidationError) as excinfo:
        account.full_clean()
    assert "renewal_date" in excinfo.value.message_dict


def test_it_refuses_duplicate_external_ids():
    AccountFactory(external_id="acme")
    _refused(AccountFactory, external_id="acme")


def test_contacts_share_no_external_id_but_may_both_lack_one():
    first = ContactFactory(external_id="u1")
    _refused(ContactFactory, external_id="u1", account=first.account)
    ContactFactory(external_id="", email="a@x.example", account=first.account)
    ContactFactory(external_id="", email="b@x.example", account=first.account)


def test_an_email_is_unique_within_an_account_only():
    contact = ContactFactory(email="ann@acme.example")
    _refused(ContactFactory, email="ann@acme.example", account=contact.account)
    ContactFactory(email="ann@acme.example")  # another account: fine


def test_an_event_message_id_is_stored_once():
    EventFactory(message_id="m-1")
    _refused(EventFactory, message_id="m-1")


@pytest.mark.parametrize(
    ("kind", "score", "valid"),
    [
        (SurveyKind.NPS, 0, True),
        (SurveyKind.NPS, 10, True),
        (SurveyKind.NPS, 11, False),
        (SurveyKind.CSAT, 1, True),
        (SurveyKind.CSAT, 5, True),
        (SurveyKind.CSAT, 0, False),
        (SurveyKind.CSAT, 6, False),
    ],
)
def test_survey_scores_stay_in_their_scale(kind, score, valid):
    if valid:
        SurveyResponseFactory(kind=kind, score=score)
    else:
        _refused(SurveyResponseFactory, kind=kind, score=score)
        with pytest.raises(ValidationError):
            SurveyResponseFactory.build(kind=kind, score=score).clean()


@pytest.mark.parametrize(
    ("score", "category"),
    [
        (10, "promoter"),
        (9, "promoter"),
        (8, "passive"),
        (7, "passive"),
        (6, "detractor"),
        (0, "detractor"),
    ],
)
def test_nps_answers_are_promoters_passives_or_detractors(score, category):
    assert SurveyResponseFactory.build(kind=SurveyKind.NPS, score=score).nps_category == category
    assert SurveyResponseFactory.build(kind=SurveyKind.CSAT, score=5).nps_category is None
