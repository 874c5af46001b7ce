"""Login, logout, the home page and the Django admin, for each role."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.choices import AccountStatus, TouchModel
from cs_platform import roles
from journeys.choices import Stage
from journeys.stages import move_account
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("accounts", "journeys", "health", "playbooks", "dashboard")


def test_the_migration_creates_the_three_roles_with_their_permissions():
    groups = {
        g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()
    }
    assert set(roles.ALL_ROLES) <= set(groups)
    assert "delete_account" in groups["Admin"]
    assert "view_account" in groups["Viewer"]
    assert not {p for p in groups["Viewer"] if not p.startswith("view_")}
    assert {"add_note", "change_contact", "view_account"} <= groups["CSM"]
    assert not {"delete_account", "change_account", "add_event"} & groups["CSM"]


def test_the_home_page_sends_anonymous_visitors_to_log_in(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_logs_in_sees_their_book_and_logs_out(client, csm):
    AccountFactory(name="Northwind Analytics", owner=csm, renewal_date="2026-12-20")
    response = client.post(
        reverse("login"), {"username": "csm", "password": "pw-for-tests-only"}, follow=True
    )
    assert response.status_code == 200
    assert b"My book" in response.content
    assert b"Casey Manager" in response.content
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert client.get(reverse("home")).status_code == 302


def test_a_wrong_password_is_refused_with_a_message(client, csm):
    response = client.post(reverse("login"), {"username": "csm", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


@pytest.mark.parametrize("role", roles.ALL_ROLES)
def test_every_role_can_read_the_account_list(client, make_user, role):
    AccountFactory(name="Globex")
    client.force_login(make_user("someone", role))
    assert client.get(reverse("home")).status_code == 200
    response = client.get(reverse("accounts"))
    assert response.status_code == 200
    assert b"Globex" in response.content


def test_a_user_without_a_role_is_refused(client, make_user):
    client.force_login(make_user("nobody", role=None))
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert b"Not allowed" in response.content


def test_the_account_list_filters_and_searches(client, csm):
    mine = AccountFactory(name="Mine Inc", owner=csm, touch_model=TouchModel.HIGH)
    AccountFactory(name="Theirs Ltd", domain="theirs.example")
    AccountFactory(
        name="Gone Corp", status=AccountStatus.CHURNED, churned_at="2026-01-01T00:00:00Z"
    )
    move_account(mine, Stage.ADOPTION)
    client.force_login(csm)

    def names(**params):
        return [a.name for a in client.get(reverse("accounts"), params).context["page"]]

    assert names() == ["Mine Inc", "Theirs Ltd"]
    assert names(book="mine") == ["Mine Inc"]
    assert names(q="theirs.ex") == ["Theirs Ltd"]
    assert names(status="churned") == ["Gone Corp"]
    assert names(touch_model="high") == ["Mine Inc"]
    assert b"Adoption" in client.get(reverse("accounts")).content


def test_the_account_list_costs_the_same_queries_for_5_or_50_accounts(
    client, csm, django_assert_num_queries
):
    def page_queries(n):
        AccountFactory.create_batch(n, owner=csm)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("accounts")).status_code == 200
        return len(ctx)

    client.force_login(csm)
    small = page_queries(5)
    assert page_queries(45) == small
    assert small <= 7  # session, user, roles, saved views, owners, count, rows


def test_every_model_has_a_django_admin_page(admin_client):
    models = [m for label in OUR_APPS for m in apps.get_app_config(label).get_models()]
    assert models, "no models found"
    AccountFactory()
    for model in models:
        assert model in admin.site._registry, f"{model.__name__} has no admin"
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}
