"""Account 360: header facts, health (score, explanation, components, override, trend),
usage chart, journey milestones, contacts, the activity timeline, and a bounded query count."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.choices import AccountStatus, NoteKind, Persona, TouchModel
from accounts.models import DailyAccountUsage
from health.models import HealthSnapshot
from health.overrides import set_override
from health.scoring import recompute
from journeys.choices import Stage
from journeys.models import AccountMilestone, MilestoneDefinition, MilestoneTemplate
from journeys.stages import move_account
from playbooks.choices import RunStatus, TriggerKind
from playbooks.models import Playbook, PlaybookRun, Task
from tests.dashboard.helpers import (
    change,
    count_queries,
    external_refs,
    set_health,
    snapshots,
    text,
    today,
)
from tests.factories import (
    AccountFactory,
    ContactFactory,
    EscalationFactory,
    NoteFactory,
    SurveyResponseFactory,
)

pytestmark = pytest.mark.django_db


def page_of(client, account):
    return client.get(reverse("account-360", args=[account.pk]))


@pytest.fixture
def account(csm):
    return AccountFactory(
        name="Northwind Analytics",
        domain="northwind.example",
        plan="Enterprise",
        arr=Decimal("123456.00"),
        currency="EUR",
        licenses_purchased=250,
        touch_model=TouchModel.HIGH,
        owner=csm,
        contract_start=today() - timedelta(days=365 + 65),
        renewal_date=today() + timedelta(days=45),
    )


@pytest.fixture
def logged_in(client, csm):
    client.force_login(csm)
    return client


def test_the_header_shows_the_account_facts(logged_in, account):
    move_account(account, Stage.ADOPTION)
    response = page_of(logged_in, account)
    assert response.status_code == 200
    page = text(response)
    assert "Northwind Analytics northwind.example" in page
    assert "ARR 123,456 EUR" in page
    assert "Plan Enterprise" in page
    assert f"Renewal {today() + timedelta(days=45):%Y-%m-%d}" in page
    assert "Owner Casey Manager" in page
    assert f"Stage Adoption since {today():%Y-%m-%d}" in page
    assert "Tenure 1 y 2 mo" in page
    assert "Touch High touch" in page
    assert "Licenses 250" in page


def test_the_header_of_a_bare_account_uses_dashes(logged_in, csm):
    bare = AccountFactory(
        plan="", owner=None, contract_start=None, renewal_date=None, touch_model=TouchModel.TECH
    )
    page = text(page_of(logged_in, bare))
    for fact in ("Plan —", "Renewal —", "Owner —", "Stage —", "Tenure —", "Touch Tech touch"):
        assert fact in page
    assert "Not scored yet" in page


@pytest.mark.parametrize(
    "days_ago, expected", [(10, "10 days"), (45, "1 mo"), (365 * 2 + 95, "2 y 3 mo")]
)
def test_tenure_is_in_words(logged_in, csm, days_ago, expected):
    account = AccountFactory(owner=csm, contract_start=today() - timedelta(days=days_ago))
    assert f"Tenure {expected}" in text(page_of(logged_in, account))


def test_a_churned_account_says_so(logged_in, csm):
    gone = AccountFactory(
        owner=csm, status=AccountStatus.CHURNED, churned_at=timezone.now() - timedelta(days=3)
    )
    assert f"Churned {today() - timedelta(days=3):%Y-%m-%d}" in text(page_of(logged_in, gone))


def test_a_computed_score_shows_with_its_explanation_and_component_table(logged_in, account):
    # The default scorecard has license utilisation: seats bought are data enough for a score.
    recompute([account.pk])
    response = page_of(logged_in, account)
    health = response.context["health"]
    assert health is not None and health.components
    page = text(response)
    html = response.content.decode()
    label = health.get_color_display()
    assert f"{label} {health.score:.0f}" in page  # the badge: word and score, not colour only
    assert health.explanation in html
    assert "Measure Value Benchmark Points Weight Contribution Why" in page
    rows = re.findall(r"<tbody>\s*(.*?)</tbody>", html.split('id="health"')[1], re.S)[0]
    assert rows.count("<tr") == len(health.components)
    assert "License utilisation" in rows
    seats = next(c for c in health.components if c["measure"] == "license_utilisation")
    assert f"{seats['raw']:.0f}%" in rows
    assert f"{seats['weight']:.0f}%" in rows
    assert str(health.scorecard_version) in page


def test_missing_measures_are_marked_in_the_component_table(logged_in, account):
    set_health(
        account,
        "yellow",
        61.0,
        explanation="Yellow (61): NPS 5 from the champion.",
        components=[
            {"measure": "nps", "label": "NPS", "raw": 5.0, "unit": "", "benchmark": 9,
             "points": 33.3, "weight": 100.0, "contribution": 33.3,
             "note": "NPS 5 from the champion", "missing": False},
            {"measure": "csat", "label": "CSAT", "raw": None, "unit": "", "benchmark": 5,
             "points": None, "weight": 0.0, "contribution": 0.0,
             "note": "no data: no CSAT answer (weight shared by the others)", "missing": True},
        ],
    )  # fmt: skip
    html = page_of(logged_in, account).content.decode()
    assert '<tr class="missing">' in html
    assert "weight shared by the others" in html
    assert "Yellow (61): NPS 5 from the champion." in html


def test_an_override_is_shown_next_to_the_computed_score(logged_in, account, csm):
    set_health(account, "green", 82)
    set_override(account, "red", "Champion resigned", timezone.now() + timedelta(days=10), csm)
    page = text(page_of(logged_in, account))
    assert "✓ Green 82" in page  # the computed score stays
    assert "Override: ✕ Red until" in page
    assert "Overridden to Red by csm" in page
    assert "Champion resigned" in page
    assert "The computed score below is unchanged." in page


def test_an_expired_override_is_not_shown(logged_in, account, csm):
    set_health(account, "green", 82)
    override = set_override(account, "red", "Old", timezone.now() + timedelta(days=1), csm)
    type(override).objects.filter(pk=override.pk).update(
        created_at=timezone.now() - timedelta(days=5),
        expires_at=timezone.now() - timedelta(days=1),
    )
    page = text(page_of(logged_in, account))
    assert "Override:" not in page and "Overridden" not in page


def test_an_override_on_an_unscored_account_shows_its_reason(logged_in, account, csm):
    set_override(account, "red", "Champion resigned", timezone.now() + timedelta(days=10), csm)
    page = text(page_of(logged_in, account))
    assert "Override: ✕ Red until" in page
    assert "Champion resigned" in page


def test_the_trend_chart_is_inline_svg_after_two_days_of_scores(logged_in, account):
    set_health(account, "green")
    HealthSnapshot.objects.create(account=account, date=today(), score=88, color="green")
    response = page_of(logged_in, account)
    assert response.context["trend_chart"] == ""
    assert "The 90-day trend appears after a second day of scores" in text(response)
    snapshots(account, 30, start_score=90)  # the days before (distinct dates)
    response = page_of(logged_in, account)
    html = response.content.decode()
    figure = html.split('aria-label="Health score over the last 90 days"')[1]
    assert figure.lstrip(">").lstrip().startswith("<svg")
    assert "Health score, last 90 days" in figure


def test_the_trend_chart_covers_90_days_only(logged_in, account):
    set_health(account, "green")
    HealthSnapshot.objects.create(
        account=account, date=today() - timedelta(days=120), score=10, color="red"
    )
    snapshots(account, 2)
    trend_dates = page_of(logged_in, account).context["trend_chart"]
    assert f"{today() - timedelta(days=120):%b %d}" not in trend_dates
    assert f"{today() - timedelta(days=2):%b %d}" in trend_dates


def test_the_page_loads_nothing_from_outside(logged_in, account):
    set_health(account, "green")
    snapshots(account, 10)
    for i in range(5):
        DailyAccountUsage.objects.create(
            account=account, date=today() - timedelta(days=i), event_count=10 + i,
            active_contacts=2,
        )  # fmt: skip
    NoteFactory(account=account, body="See https://example.com/notes for details")
    response = page_of(logged_in, account)
    html = response.content.decode()
    assert html.count("<svg") == 2
    assert external_refs(html) == []
    assert "<script src=" not in html or all(
        s.startswith("/") for s in re.findall(r'<script[^>]+src="([^"]+)"', html)
    )
    links = re.findall(r'<link[^>]+href="([^"]+)"', html)
    assert links and all(s.startswith(("/", "data:")) for s in links)
    assert "https://example.com/notes" in html  # links in content are text, not loaded


def test_the_usage_chart_shows_when_there_is_usage(logged_in, account):
    response = page_of(logged_in, account)
    assert "No product usage in the last 90 days." in text(response)
    DailyAccountUsage.objects.create(
        account=account, date=today() - timedelta(days=3), event_count=42, active_contacts=7
    )
    html = page_of(logged_in, account).content.decode()
    figure = html.split('aria-label="Product usage over the last 90 days"')[1]
    assert figure.lstrip(">").lstrip().startswith("<svg")
    assert "Product usage, last 90 days" in figure
    assert "Active users" in figure


def test_journey_milestones_with_reached_and_overdue_markers(logged_in, account):
    template = MilestoneTemplate.objects.create(name="Enterprise onboarding")
    names = ["Kick-off held", "Integration live", "First report shared"]
    defs = [
        MilestoneDefinition.objects.create(
            template=template, name=n, order=i, target_days=30 * (i + 1), rule="manual"
        )
        for i, n in enumerate(names)
    ]
    AccountMilestone.objects.create(
        account=account, definition=defs[0], due_date=today() - timedelta(days=40),
        reached_at=timezone.now() - timedelta(days=41),
    )  # fmt: skip
    AccountMilestone.objects.create(
        account=account, definition=defs[1], due_date=today() - timedelta(days=5)
    )
    AccountMilestone.objects.create(
        account=account, definition=defs[2], due_date=today() + timedelta(days=20)
    )
    page = text(page_of(logged_in, account))
    reached = (timezone.now() - timedelta(days=41)).strftime("%Y-%m-%d")
    assert f"Kick-off held {today() - timedelta(days=40):%Y-%m-%d} ✓ {reached}" in page
    assert f"Integration live {today() - timedelta(days=5):%Y-%m-%d} ✕ overdue" in page
    assert f"First report shared {today() + timedelta(days=20):%Y-%m-%d} not yet" in page


def test_no_milestones_explains_where_they_come_from(logged_in, account):
    assert "No success plan" in text(page_of(logged_in, account))


def test_contacts_with_persona_key_flag_and_last_seen(logged_in, account):
    ContactFactory(
        account=account, name="Ada Champion", title="VP Ops", persona=Persona.CHAMPION,
        is_key_contact=True, last_seen_at=timezone.now() - timedelta(days=2),
    )  # fmt: skip
    ContactFactory(account=account, name="Bob User", persona=Persona.END_USER)
    ContactFactory(
        account=account, name="Cy Admin", persona=Persona.ADMIN, is_active=False,
        last_seen_at=timezone.now() - timedelta(hours=3),
    )  # fmt: skip
    response = page_of(logged_in, account)
    page = text(response)
    assert [c.name for c in response.context["contacts"]] == [
        "Ada Champion", "Cy Admin", "Bob User",
    ]  # fmt: skip  # key contacts first
    assert re.search(r"Ada Champion VP Ops Champion ★ Key unmark 2\sdays ago", page), page
    assert "Bob User End user — mark key never" in page
    assert re.search(r"Cy Admin Admin — mark key 3\shours ago", page)
    html = response.content.decode()
    assert '<tr class="missing"><td>Cy Admin' in html  # left the customer: greyed


def test_no_contacts_explains_how_they_arrive(logged_in, account):
    assert "No contacts yet" in text(page_of(logged_in, account))


def _kinds(html: str) -> list[str]:
    return re.findall(r'<li class="t-(\w+)">', html)


def test_the_timeline_has_every_kind_of_activity_newest_first(logged_in, account, csm):
    now = timezone.now()
    NoteFactory(
        account=account, kind=NoteKind.CALL, body="Discussed renewal", author=csm,
        occurred_at=now - timedelta(hours=1),
    )  # fmt: skip
    Task.objects.create(
        account=account, assignee=csm, title="Send the QBR deck",
        created_at=now - timedelta(hours=2),
    )  # fmt: skip
    champion = ContactFactory(account=account, name="Ada Champion")
    SurveyResponseFactory(
        account=account, contact=champion, kind="nps", score=4,
        responded_at=now - timedelta(hours=3),
    )  # fmt: skip
    EscalationFactory(
        account=account, title="Sync failing for days", severity="critical",
        opened_at=now - timedelta(hours=4),
    )  # fmt: skip
    move_account(account, Stage.ESCALATION, reason="Critical ticket", by=csm,
                 at=now - timedelta(hours=5))  # fmt: skip
    playbook = Playbook.objects.create(
        name="Detractor follow-up", trigger_kind=TriggerKind.NPS_DETRACTOR
    )
    PlaybookRun.objects.create(
        playbook=playbook, account=account, occurrence_key="nps:1",
        trigger_kind=TriggerKind.NPS_DETRACTOR, occurred_at=now - timedelta(hours=6),
        status=RunStatus.SUCCEEDED, explanation="NPS 4 from Ada Champion",
        created_at=now - timedelta(hours=6),
    )  # fmt: skip
    change(account, "red", from_color="green", explanation="Red: NPS 4 from the champion",
           when=now - timedelta(hours=7))  # fmt: skip
    change(account, "green", explanation="Backfilled history", backfilled=True,
           when=now - timedelta(hours=8))  # fmt: skip
    NoteFactory(account=account, body="Oldest note", occurred_at=now - timedelta(days=30))

    response = page_of(logged_in, account)
    html = response.content.decode()
    assert _kinds(html) == [
        "note", "task", "survey", "escalation", "stage", "run", "health", "note",
    ]  # fmt: skip
    timeline = [(e["kind"], e["title"]) for e in response.context["timeline"]]
    assert timeline == [
        ("note", "Call"),
        ("task", "Send the QBR deck"),
        ("survey", "NPS answer"),
        ("escalation", "Sync failing for days"),
        ("stage", "Moved to escalation"),
        ("run", "Detractor follow-up"),
        ("health", "Health turned red"),
        ("note", "Note"),
    ]
    page = text(response)
    for shown in (
        "Discussed renewal", "csm", "Send the QBR deck", "Ada Champion",
        "Sync failing for days", "critical", "Critical ticket", "Detractor follow-up",
        "NPS 4 from Ada Champion", "Red: NPS 4 from the champion", "Oldest note",
    ):  # fmt: skip
        assert shown in page
    assert "Backfilled history" not in page
    times = [e["at"] for e in response.context["timeline"]]
    assert times == sorted(times, reverse=True)


def test_the_timeline_is_only_this_accounts(logged_in, account):
    NoteFactory(account=AccountFactory(), body="Someone else's note")
    page = text(page_of(logged_in, account))
    assert "Someone else's note" not in page
    assert "Nothing yet: notes, tasks" in page


def test_open_tasks_list_with_overdue_marker(logged_in, account, csm):
    Task.objects.create(account=account, assignee=csm, title="Overdue one",
                        due_date=today() - timedelta(days=1))  # fmt: skip
    Task.objects.create(account=account, title="Unassigned one")
    page = text(page_of(logged_in, account))
    assert f"Overdue one csm · due {today() - timedelta(days=1):%Y-%m-%d} (overdue)" in page
    assert "Unassigned one unassigned" in page


def test_hostile_text_is_escaped(logged_in, csm):
    account = AccountFactory(owner=csm, name="<script>alert('n')</script>")
    NoteFactory(account=account, body="<img src=x onerror=alert(1)>")
    ContactFactory(account=account, name="<b>bold</b>")
    set_health(account, "red", explanation="<iframe src=//evil>")
    html = page_of(logged_in, account).content.decode()
    for raw in ("<script>alert('n')", "<img src=x", "<b>bold</b>", "<iframe"):
        assert raw not in html


def test_an_unknown_account_is_a_404(logged_in):
    assert logged_in.get(reverse("account-360", args=[999999])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, account):
    response = page_of(client, account)
    assert response.status_code == 302 and reverse("login") in response["Location"]


def _fill(account, count, csm):
    """count notes, contacts, tasks, survey answers, milestones, snapshots and usage days."""
    template, _ = MilestoneTemplate.objects.get_or_create(name="T")
    start = account.contacts.count()
    for i in range(start, start + count):
        contact = ContactFactory(
            account=account, persona=Persona.ADMIN, is_key_contact=not i % 5,
            last_seen_at=timezone.now() - timedelta(days=i),
        )  # fmt: skip
        NoteFactory(account=account, author=csm, body=f"note {i}")
        Task.objects.create(account=account, assignee=csm, title=f"task {i}", due_date=today())
        SurveyResponseFactory(account=account, contact=contact, score=i % 11)
        definition = MilestoneDefinition.objects.create(
            template=template, name=f"m{i}", target_days=i + 1, rule="manual"
        )
        AccountMilestone.objects.create(
            account=account, definition=definition, due_date=today() - timedelta(days=i)
        )
        DailyAccountUsage.objects.create(
            account=account, date=today() - timedelta(days=i), event_count=i, active_contacts=1
        )
        change(account, ("red", "green")[i % 2], from_color=("green", "red")[i % 2],
               when=timezone.now() - timedelta(minutes=i))  # fmt: skip
        HealthSnapshot.objects.create(
            account=account, date=today() - timedelta(days=i), score=50 + i % 40, color="yellow"
        )


@pytest.mark.parametrize("role_fixture", ["csm", "viewer", "cs_admin"])
def test_under_15_queries_whatever_the_amount_of_activity(client, request, account, csm,
                                                          role_fixture):  # fmt: skip
    client.force_login(request.getfixturevalue(role_fixture))
    set_health(account, "yellow")
    move_account(account, Stage.ONBOARDING, by=csm)
    set_override(account, "red", "why", timezone.now() + timedelta(days=3), csm)
    _fill(account, 5, csm)
    url = reverse("account-360", args=[account.pk])
    small, response = count_queries(client, url)
    assert response.status_code == 200
    _fill(account, 45, csm)
    large, response = count_queries(client, url)
    assert len(response.context["contacts"]) == 50
    assert large == small
    assert large < 15
