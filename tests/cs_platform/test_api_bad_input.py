"""Requests that once answered 500 (found by schemathesis): each gets a 4xx naming why."""

import pytest

from cs_platform.api.parsers import MAX_DEPTH, depth_exceeds
from health.models import Scorecard
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_depth_counts_objects_and_lists():
    assert not depth_exceeds({"a": [1, {"b": 2}]}, limit=3)  # object, list, object
    assert depth_exceeds({"a": [1, {"b": [3]}]}, limit=3)
    assert not depth_exceeds(nested(MAX_DEPTH)) and depth_exceeds(nested(MAX_DEPTH + 1))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_a_deeply_nested_body_is_a_400(api, issue_token, depth):
    # Written out: json.dumps itself cannot encode 5,000 levels.
    traits = '{"a": ' * depth + "1" + "}" * depth
    body = '{"name": "Deep", "external_id": "deep", "traits": ' + traits + "}"
    response = api(issue_token("read", "write")[0]).post(
        "/api/v1/accounts/", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"] == f"JSON parse error - nested deeper than {MAX_DEPTH} levels"


def test_options_on_an_account_by_external_id_describes_it(api, issue_token):
    AccountFactory(external_id="acme")
    client = api(issue_token("read", "write")[0])
    for external_id in ("acme", "missing"):
        response = client.options(f"/api/v1/accounts/by-external-id/{external_id}/")
        assert response.status_code == 200, response.content
        assert response.json()["name"]


def test_a_form_patch_with_null_plans_is_a_400(client, cs_admin):
    client.force_login(cs_admin)
    card = Scorecard.objects.get(is_default=True)
    response = client.patch(
        f"/api/v1/scorecards/{card.pk}/",
        b'--B\r\nContent-Disposition: form-data; name="plans"\r\n\r\nnull\r\n--B--\r\n',
        content_type="multipart/form-data; boundary=B",
    )
    assert response.status_code == 400
    assert response.json() == {"plans": ["This field may not be null."]}
    card.refresh_from_db()
    assert card.plans == []
