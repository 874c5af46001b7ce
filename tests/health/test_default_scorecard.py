"""The default scorecard as the migrations leave it, and their respect for an admin's edits."""

import importlib
from datetime import date, timedelta

import pytest
from django.apps import apps

from health.models import Scorecard, ScorecardMeasure
from health.scoring import recompute
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
renewal_migration = importlib.import_module("health.migrations.0009_default_scorecard_renewal")


def measures(card):
    return [
        (m.kind, float(m.weight), m.params)
        for m in ScorecardMeasure.objects.filter(scorecard=card).order_by("position", "pk")
    ]


def test_the_default_counts_a_renewal_within_60_days():
    card = Scorecard.objects.get(is_default=True)
    assert measures(card)[-1] == ("days_to_renewal", 10.0, {"zero_at": 0, "full_at": 60})
    # The eleven of migration 0005 weigh 100 together.
    assert sum(weight for _, weight, _ in measures(card)) == 110.0
    # Published: its version, not the old one, scores accounts.
    assert card.current_version.definition["measures"][-1]["kind"] == "days_to_renewal"


def test_the_renewal_points_run_from_none_on_the_day_to_full_60_days_before():
    today = date.today()
    near = AccountFactory(renewal_date=today + timedelta(days=15))
    far = AccountFactory(renewal_date=today + timedelta(days=200))
    recompute([near.pk, far.pk])
    points = {}
    for account in (near, far):
        components = account.health.components
        renewal = next(c for c in components if c["measure"] == "days_to_renewal")
        points[account.pk] = renewal["points"]
    # 15 days of the 60: a quarter of the points; 200 days away: all of them.
    assert points[near.pk] == pytest.approx(25.0)
    assert points[far.pk] == pytest.approx(100.0)


def test_an_admins_edit_of_the_default_is_kept():
    card = Scorecard.objects.get(is_default=True)
    ScorecardMeasure.objects.filter(scorecard=card, kind="days_to_renewal").delete()
    ScorecardMeasure.objects.filter(scorecard=card, kind="nps").update(weight=20)
    before = measures(card)
    renewal_migration.update(apps, None)
    assert measures(card) == before
    # Exactly as migration 0005 left it: the renewal is added once.
    ScorecardMeasure.objects.filter(scorecard=card, kind="nps").update(weight=10)
    renewal_migration.update(apps, None)
    assert [kind for kind, *_ in measures(card)].count("days_to_renewal") == 1
