"""The sales handoff: recorded per account, required to start high-touch onboarding."""

import pytest

from journeys.models import Handoff
from journeys.stages import onboarding_started
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
FULL = {
    "reasons_for_buying": "Manual reporting takes two days a month",
    "problems_to_solve": "Consolidate regional reports",
    "success_criteria": "Monthly close report in one hour",
    "expected_go_live": "2026-04-01",
    "sold_by": "Dana (AE)",
}


def url(account):
    return f"/api/v1/accounts/by-external-id/{account.external_id}/handoff/"


def test_a_csm_records_the_handoff_and_edits_it(client, csm):
    account = AccountFactory(owner=csm, touch_model="high")
    client.force_login(csm)
    assert client.get(url(account)).status_code == 404
    created = client.put(url(account), FULL, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert created.json()["is_complete"] is True and created.json()["updated_by"] == "csm"
    edited = client.put(url(account), {"sold_by": "Sam (AE)"}, content_type="application/json")
    assert edited.status_code == 200
    assert client.get(url(account)).json()["sold_by"] == "Sam (AE)"
    assert Handoff.objects.get().reasons_for_buying == FULL["reasons_for_buying"]


def test_a_handoff_without_its_essentials_is_refused_naming_them(client, csm):
    account = AccountFactory(owner=csm)
    client.force_login(csm)
    response = client.put(url(account), {"sold_by": "Dana"}, content_type="application/json")
    assert response.status_code == 400
    assert {"reasons_for_buying", "problems_to_solve", "success_criteria"} <= set(response.json())


def test_another_csms_account_is_read_only(client, csm, make_user):
    account = AccountFactory(owner=make_user("jonas"), touch_model="high")
    client.force_login(csm)
    assert client.put(url(account), FULL, content_type="application/json").status_code == 403


def test_high_touch_onboarding_starts_only_with_a_complete_handoff():
    high, low = AccountFactory(touch_model="high"), AccountFactory(touch_model="low")
    assert onboarding_started(low) is True
    assert onboarding_started(high) is False
    Handoff.objects.create(account=high, **{**FULL, "success_criteria": " "})
    assert onboarding_started(high) is False
    Handoff.objects.filter(account=high).update(success_criteria="Close in one hour")
    assert onboarding_started(high) is True
