"""The scorecard builder in the dashboard: admins build and edit, everyone else reads."""

import pytest
from django.urls import reverse

from health.measures import REGISTRY
from health.models import Scorecard, ScorecardMeasure, ScorecardVersion
from health.scorecards import publish

pytestmark = pytest.mark.django_db


def form_data(context) -> dict:
    """What a browser submits for the page as rendered: every input with its shown value."""
    data = {}
    forms = [context["form"], context["measures"].management_form, *context["measures"]]
    for form in forms:
        for field in form:
            value = field.value()
            if isinstance(value, bool) or field.widget_type == "checkbox":
                if value:
                    data[field.html_name] = "on"
            elif isinstance(value, list) and field.widget_type == "checkboxselectmultiple":
                data[field.html_name] = value
            elif value is not None:
                data[field.html_name] = field.field.prepare_value(value)
    return data


def row(data: dict, kind: str) -> str:
    """The prefix of a measure's row, e.g. "measures-4-"."""
    index = next(k for k, v in data.items() if k.endswith("-kind") and v == kind)
    return index.removesuffix("kind")


def new_scorecard_data(client, **changes) -> dict:
    data = form_data(client.get(reverse("scorecards:create")).context)
    data.update(
        {
            "name": "Enterprise",
            "plans": "Enterprise, Enterprise Plus",
            "touch_models": ["high"],
            "priority": "10",
            "green_min": "75",
            "yellow_min": "45",
            "hysteresis": "3",
        }
    )
    usage, nps = row(data, "usage_frequency"), row(data, "nps")
    data.update(
        {
            f"{usage}include": "on",
            f"{usage}weight": "3",
            f"{usage}benchmarks__admin": "8",
            f"{nps}include": "on",
            f"{nps}weight": "1",
            f"{nps}lookback_days": "180",
        }
    )
    data.update(changes)
    return data


def state():
    return (
        list(Scorecard.objects.values_list("pk", "name", "updated_at", "enabled")),
        list(ScorecardMeasure.objects.values_list("pk", "kind", "weight", "params")),
        ScorecardVersion.objects.count(),
    )


def test_the_form_has_a_row_per_measure_with_real_inputs(client, cs_admin):
    client.force_login(cs_admin)
    response = client.get(reverse("scorecards:create"))
    assert response.status_code == 200
    html = response.content.decode()
    assert len(response.context["measures"].forms) == len(REGISTRY)
    for measure in REGISTRY.values():
        assert measure.label in html
    assert "<textarea" not in html.split("Measures", 1)[1]  # no JSON for admins
    # A number input with its bounds; one input per persona and per severity.
    data = form_data(response.context)
    nps = row(data, "nps")
    assert f'name="{nps}lookback_days"' in html and 'min="1"' in html and 'max="1095"' in html
    usage, esc = row(data, "usage_frequency"), row(data, "open_escalations")
    for persona in ("admin", "end_user", "champion", "executive_sponsor", "billing"):
        assert f'name="{usage}benchmarks__{persona}"' in html
    for severity in ("low", "medium", "high", "critical"):
        assert f'name="{esc}severity_weights__{severity}"' in html
    assert 'name="touch_models" value="high"' in html


def test_an_admin_creates_a_scorecard_published_as_version_1(client, cs_admin):
    client.force_login(cs_admin)
    data = new_scorecard_data(client)
    breadth = row(data, "feature_breadth")
    data.update({f"{breadth}include": "on", f"{breadth}weight": "2", f"{breadth}features": "a, b"})
    response = client.post(reverse("scorecards:create"), data)
    assert response.status_code == 302, response.context and response.context["form"].errors
    card = Scorecard.objects.get(name="Enterprise")
    assert response.url == reverse("scorecards:edit", args=[card.pk])
    assert card.plans == ["Enterprise", "Enterprise Plus"] and card.touch_models == ["high"]
    assert (card.green_min, card.yellow_min, card.priority) == (75, 45, 10)
    version = card.current_version
    assert version.number == 1 and version.created_by == cs_admin
    measures = {m["kind"]: m for m in version.definition["measures"]}
    assert list(measures) == ["usage_frequency", "feature_breadth", "nps"]
    assert measures["usage_frequency"]["weight"] == 3
    assert measures["usage_frequency"]["params"]["benchmarks"]["admin"] == 8
    assert measures["usage_frequency"]["params"]["benchmarks"]["end_user"] == 0
    assert measures["nps"]["params"]["lookback_days"] == 180
    assert measures["feature_breadth"]["params"]["features"] == ["a", "b"]
    assert card.measures.count() == 3


def test_editing_publishes_version_2_and_leaves_version_1_as_it_was(client, cs_admin):
    client.force_login(cs_admin)
    client.post(reverse("scorecards:create"), new_scorecard_data(client))
    card = Scorecard.objects.get(name="Enterprise")
    v1 = card.current_version
    v1_definition = v1.definition
    url = reverse("scorecards:edit", args=[card.pk])

    data = form_data(client.get(url).context)
    nps, esc = row(data, "nps"), row(data, "open_escalations")
    data.pop(f"{nps}include")
    data.update(
        {f"{esc}include": "on", f"{esc}weight": "2", f"{esc}severity_weights__critical": "20"}
    )
    response = client.post(url, data)
    assert response.status_code == 302
    card.refresh_from_db()
    assert card.current_version.number == 2
    kinds = [m["kind"] for m in card.current_version.definition["measures"]]
    assert kinds == ["usage_frequency", "open_escalations"]
    assert card.current_version.definition["measures"][1]["params"]["severity_weights"] == {
        "low": 1,
        "medium": 2,
        "high": 4,
        "critical": 20,
    }
    v1.refresh_from_db()
    assert v1.definition == v1_definition
    # The edit page lists both versions, with who published them.
    page = client.get(url).content.decode()
    assert "v2" in page and "v1" in page and cs_admin.username in page

    # Saving what is shown publishes nothing new.
    assert client.post(url, form_data(client.get(url).context)).status_code == 302
    assert card.versions.count() == 2


def test_saving_the_default_unchanged_publishes_no_new_version(client, cs_admin):
    client.force_login(cs_admin)
    card = Scorecard.objects.get(is_default=True)
    url = reverse("scorecards:edit", args=[card.pk])
    assert client.post(url, form_data(client.get(url).context)).status_code == 302
    assert card.versions.count() == 1


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"usage_frequency.weight": "-1"}, "usage_frequency.weight", "above 0"),
        ({"usage_frequency.weight": "0"}, "usage_frequency.weight", "above 0"),
        ({"usage_frequency.weight": ""}, "usage_frequency.weight", "above 0"),
        ({"nps.lookback_days": "5000"}, "nps.lookback_days", "at most 1095"),
        (
            {"usage_frequency.benchmarks__admin": "-3"},
            "usage_frequency.benchmarks__admin",
            "at least 0",
        ),
        ({"nps.zero_at": "9", "nps.full_at": "9"}, "nps.full_at", "differ"),
        ({"nps.lookback_days": "many"}, "nps.lookback_days", "whole number"),
        ({"green_min": "40", "yellow_min": "60"}, "green_min", "Bands overlap"),
        ({"green_min": "50", "hysteresis": "3"}, "hysteresis", "less than half"),
        ({"hysteresis": "20"}, "hysteresis", "between 0 and 10"),
        ({"touch_models": ["psychic"]}, "touch_models", "Unknown psychic"),
        ({"stages": ["limbo"]}, "stages", "Unknown limbo"),
        ({"arr_min": "100", "arr_max": "10"}, "arr_max", "Must not be below"),
        ({"is_default": "on"}, "is_default", "already the default"),
        ({"name": "Default"}, "name", "already exists"),
    ],
)
def test_bad_input_is_refused_next_to_its_field_and_nothing_is_saved(
    client, cs_admin, change, field, message
):
    client.force_login(cs_admin)
    data = new_scorecard_data(client)
    for key, value in change.items():
        kind, _, name = key.rpartition(".")
        data[f"{row(data, kind)}{name}" if kind else name] = value
    before = state()
    response = client.post(reverse("scorecards:create"), data)
    assert response.status_code == 400
    kind, _, name = field.rpartition(".")
    if kind:
        form = next(f for f in response.context["measures"] if f["kind"].value() == kind)
    else:
        form = response.context["form"]
    assert any(message in e for e in form.errors.get(name, [])), form.errors
    # The message is rendered next to the input, and what was typed is kept.
    html = response.content.decode()
    input_id = form[name].auto_id
    assert f'id="{input_id}-error"' in html
    assert message in html.split(f'id="{input_id}-error"', 1)[1].split("</span>", 1)[0]
    assert "Nothing was saved" in html
    assert state() == before


def test_a_scorecard_needs_a_measure(client, cs_admin):
    client.force_login(cs_admin)
    data = {k: v for k, v in new_scorecard_data(client).items() if not k.endswith("-include")}
    before = state()
    response = client.post(reverse("scorecards:create"), data)
    assert response.status_code == 400
    assert "at least one measure" in str(response.context["measures"].non_form_errors())
    assert 'id="measures-errors"' in response.content.decode()
    assert state() == before


def test_a_left_out_measure_is_not_validated(client, cs_admin):
    client.force_login(cs_admin)
    data = new_scorecard_data(client)
    data[f"{row(data, 'csat')}lookback_days"] = "5000"  # csat is not ticked
    assert client.post(reverse("scorecards:create"), data).status_code == 302


def test_an_unknown_measure_kind_in_the_post_is_refused(client, cs_admin):
    client.force_login(cs_admin)
    data = new_scorecard_data(client)
    nps = row(data, "nps")
    data[f"{nps}kind"] = "telepathy"
    before = state()
    response = client.post(reverse("scorecards:create"), data)
    assert response.status_code == 400
    rows = [r for r in response.context["measures"] if r["kind"].value() == "telepathy"]
    assert "Unknown measure 'telepathy'" in rows[0].errors["kind"][0]
    assert "Unknown measure telepathy" in response.content.decode()
    assert state() == before


def test_a_second_default_is_refused_on_edit_too(client, cs_admin):
    client.force_login(cs_admin)
    client.post(reverse("scorecards:create"), new_scorecard_data(client))
    card = Scorecard.objects.get(name="Enterprise")
    url = reverse("scorecards:edit", args=[card.pk])
    data = form_data(client.get(url).context) | {"is_default": "on"}
    before = state()
    response = client.post(url, data)
    assert response.status_code == 400
    assert "Default is already the default" in response.context["form"].errors["is_default"][0]
    assert state() == before


@pytest.mark.parametrize("role", ["csm", "viewer"])
def test_csms_and_viewers_read_but_cannot_change(client, cs_admin, request, role):
    user = request.getfixturevalue(role)
    card = Scorecard.objects.get(is_default=True)
    url = reverse("scorecards:edit", args=[card.pk])
    client.force_login(cs_admin)
    admin_data = form_data(client.get(url).context) | {"name": "Renamed"}
    client.force_login(user)

    listing = client.get(reverse("scorecards:list"))
    assert listing.status_code == 200 and "Default" in listing.content.decode()
    assert "New scorecard" not in listing.content.decode()
    assert "Disable</button>" not in listing.content.decode()

    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'type="submit"' not in html.split("</header>", 1)[1]  # no save, toggle or delete
    assert "Read-only" in html
    assert all(field.field.disabled for field in page.context["form"])
    assert all(f.field.disabled for r in page.context["measures"] for f in r)

    before = state()
    for method_url, data in (
        (url, admin_data),
        (reverse("scorecards:create"), admin_data),
        (reverse("scorecards:toggle", args=[card.pk]), {}),
        (reverse("scorecards:delete", args=[card.pk]), {}),
    ):
        assert client.post(method_url, data).status_code == 403, method_url
    assert client.get(reverse("scorecards:create")).status_code == 403
    assert state() == before


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(reverse("scorecards:list"))
    assert response.status_code == 302 and "/login/" in response.url


def test_the_default_cannot_be_deleted(client, cs_admin):
    client.force_login(cs_admin)
    card = Scorecard.objects.get(is_default=True)
    page = client.get(reverse("scorecards:edit", args=[card.pk])).content.decode()
    assert "Delete" not in page
    response = client.post(reverse("scorecards:delete", args=[card.pk]))
    assert response.status_code == 400
    assert Scorecard.objects.filter(pk=card.pk).exists()


def test_an_admin_deletes_a_scorecard_after_confirming(client, cs_admin):
    client.force_login(cs_admin)
    client.post(reverse("scorecards:create"), new_scorecard_data(client))
    card = Scorecard.objects.get(name="Enterprise")
    url = reverse("scorecards:delete", args=[card.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200 and "Delete Enterprise" in confirm.content.decode()
    assert Scorecard.objects.filter(pk=card.pk).exists()  # a GET only asks
    response = client.post(url)
    assert response.status_code == 302 and response.url == reverse("scorecards:list")
    assert not Scorecard.objects.filter(pk=card.pk).exists()


def test_an_admin_disables_and_enables_a_scorecard(client, cs_admin):
    client.force_login(cs_admin)
    card = Scorecard.objects.get(is_default=True)
    url = reverse("scorecards:toggle", args=[card.pk])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    card.refresh_from_db()
    assert card.enabled is False
    # From the list, htmx swaps the row in place.
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert f'id="scorecard-{card.pk}"' in response.content.decode()
    assert "Disable</button>" in response.content.decode()
    card.refresh_from_db()
    assert card.enabled is True
    assert card.versions.count() == 1  # enabling is not a new scoring definition


def test_the_list_page_takes_a_fixed_number_of_queries(
    client, cs_admin, django_assert_max_num_queries
):
    for i in range(12):
        card = Scorecard.objects.create(
            name=f"Segment {i}", priority=i, plans=[f"Plan {i}"], arr_min=1000 * i
        )
        ScorecardMeasure.objects.create(scorecard=card, kind="nps", weight=1)
        ScorecardMeasure.objects.create(scorecard=card, kind="csat", weight=2, position=1)
        publish(card)
    client.force_login(cs_admin)
    with django_assert_max_num_queries(5):
        response = client.get(reverse("scorecards:list"))
    html = response.content.decode()
    assert response.status_code == 200 and html.count('id="scorecard-') == 13
    assert "Plan 11 · ARR 11,000+" in html
    assert "New scorecard" in html
