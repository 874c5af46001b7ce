"""Rebuilding history as of past days: backfill() and the backfill_health command."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.choices import Persona
from health.models import AccountHealth, HealthChange, HealthSnapshot, Scorecard
from tests.factories import AccountFactory, ContactFactory
from tests.health.test_scoring import AS_OF, active_on, at, only_scorecard, rollup

pytestmark = pytest.mark.django_db


def test_backfill_rebuilds_daily_snapshots_and_the_day_the_colour_changed(
    django_capture_on_commit_callbacks,
):
    only_scorecard(
        [("usage_frequency", 1, {"benchmarks": {"admin": 4, "champion": 0}, "window_days": 28})]
    )
    account = AccountFactory(contract_start=AS_OF - timedelta(days=400))
    admin = ContactFactory(account=account, persona=Persona.ADMIN)
    # Weekly logins until 30 days ago, then silence: the account turns red within the window.
    active_on(admin, [AS_OF - timedelta(days=d) for d in range(30, 100, 7)])
    rollup()
    # A change stored earlier for a rebuilt day is replaced, not duplicated.
    HealthChange.objects.create(
        account=account,
        changed_at=at(AS_OF - timedelta(days=20)),
        from_color="green",
        to_color="red",
        to_score=0,
        explanation="stale",
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        from health.scoring import backfill

        result = backfill(40, end=AS_OF)

    assert result["days"] == 40 and result["snapshots"] == 40
    dates = list(HealthSnapshot.objects.filter(account=account).values_list("date", flat=True))
    assert len(dates) == 41  # 40 past days and today
    assert min(dates) == AS_OF - timedelta(days=40) and max(dates) == AS_OF
    changes = list(HealthChange.objects.filter(account=account).order_by("changed_at"))
    rebuilt = [c for c in changes if c.backfilled]
    assert [(c.from_color, c.to_color) for c in rebuilt][0] == ("", "green")
    assert rebuilt[-1].to_color == "red"
    assert "stale" not in [c.explanation for c in changes]
    # Each day was scored as of its own end: red once the last login left the 28-day window.
    red_day = rebuilt[-1].changed_at.date()
    assert (AS_OF - timedelta(days=30)) + timedelta(days=21) <= red_day
    assert AccountHealth.objects.get(account=account).color == "red"
    # Backfilled changes are never announced; today's live score may be (it is not a change).
    assert not any("health_changed" in repr(c) for c in callbacks[:-1])


def test_backfill_command_output_and_bad_days(capsys):
    AccountFactory()
    call_command("backfill_health", "--days", "3")
    out = capsys.readouterr().out
    assert "Rebuilt 3 days" in out
    with pytest.raises(CommandError, match="--days must be from 1 to 3650, not 0"):
        call_command("backfill_health", "--days", "0")


def test_admin_refuses_a_bad_scorecard_and_publishes_a_good_one(client, cs_admin):
    client.force_login(cs_admin)
    url = reverse("admin:health_scorecard_add")
    form = {
        "name": "Admin-made",
        "priority": 5,
        "enabled": "on",
        "plans": "[]",
        "touch_models": "[]",
        "industries": "[]",
        "stages": "[]",
        "green_min": 40,
        "yellow_min": 60,
        "hysteresis": 3,
        "measures-TOTAL_FORMS": 1,
        "measures-INITIAL_FORMS": 0,
        "measures-0-position": 0,
        "measures-0-kind": "nps",
        "measures-0-weight": 1,
        "measures-0-params": '{"lookback_days": 5000}',
    }
    response = client.post(url, form)
    assert response.status_code == 200
    assert "Bands overlap" in response.content.decode()
    assert not Scorecard.objects.filter(name="Admin-made").exists()

    form.update(green_min=70, yellow_min=40)
    response = client.post(url, form)
    assert response.status_code == 200
    assert "measures[0].params.lookback_days: Must be at most 1095" in response.content.decode()

    form["measures-0-params"] = '{"lookback_days": 90}'
    response = client.post(url, form)
    assert response.status_code == 302
    card = Scorecard.objects.get(name="Admin-made")
    assert card.current_version.number == 1
    assert card.current_version.definition["measures"][0]["params"]["lookback_days"] == 90
