"""manage.py refresh_event_catalogue: counts now, lists names with suggestions and choices."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.catalogue import describe_event
from accounts.choices import AccountStatus
from tests.accounts.test_catalogue import ingest, track
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def run(*args) -> list[str]:
    out = StringIO()
    call_command("refresh_event_catalogue", *args, stdout=out)
    return out.getvalue().splitlines()


def four_and_four(now):
    """Four retained accounts and four that churned ten days ago."""
    retained = [AccountFactory(name=f"R{i}") for i in range(4)]
    churned = [
        AccountFactory(
            name=f"C{i}", status=AccountStatus.CHURNED, churned_at=now - timedelta(days=10)
        )
        for i in range(4)
    ]
    return retained, churned


@pytest.mark.parametrize("args", [(), ("--rebuild",)])
def test_it_counts_and_lists_each_name_with_its_suggestion(args):
    now = timezone.now()
    retained, churned = four_and_four(now)
    messages = [track(a, "report_shared", now - timedelta(days=3)) for a in retained]
    messages += [track(a, "report_shared", now - timedelta(days=20)) for a in retained]
    messages += [track(a, "login", now - timedelta(days=3)) for a in retained]
    messages += [track(a, "login", now - timedelta(days=15)) for a in churned]
    ingest(*messages, received_at=now - timedelta(hours=1))

    lines = run(*args)

    # report_shared (first seen before the churn): 4/4 retained against 0/4 churned; pooled
    # 1/2, standard error sqrt(1/4 * (1/4 + 1/4)) = 0.354, z = 1 / 0.354 = 2.83: suggested.
    # Shares of events: retained 2/3 report_shared, 1/3 login; churned all login, so the
    # retained share is the larger in every pair for report_shared and in none for login.
    assert lines == [
        "16 events counted.",
        "  login: 8 accounts, used by 100% of retained / 100% of churned accounts, retained "
        "share of events larger in 0% of pairs",
        "  report_shared: 4 accounts, used by 100% of retained / 0% of churned accounts, "
        "retained share of events larger in 100% of pairs (suggested)",
    ]
    describe_event("login", key_feature=True)
    assert run()[1:] == [
        "  login: 8 accounts, used by 100% of retained / 100% of churned accounts, retained "
        "share of events larger in 0% of pairs (key feature)",
        lines[2],
    ]


def test_measures_count_the_suggested_names_until_an_admin_chooses():
    from django.conf import settings

    from accounts.catalogue import suggested_feature_names
    from health.measures import key_features

    # Nothing compared yet: the configured fallback.
    assert key_features([]) == list(settings.CORE_FEATURES)
    now = timezone.now()
    retained, churned = four_and_four(now)
    messages = [track(a, name, now - timedelta(days=d)) for a in retained for d in (3, 20)
                for name in ("report_shared", "export_run")]  # fmt: skip
    messages += [track(a, "login", now - timedelta(days=15)) for a in churned]
    ingest(*messages, received_at=now - timedelta(hours=1))
    run()
    # Both 4/4 against 0/4 (z = 2.83, as above); login 0/4 retained: not suggested.
    assert suggested_feature_names() == ["export_run", "report_shared"]
    assert key_features([]) == ["export_run", "report_shared"]
    describe_event("login", key_feature=True)  # an admin's choice replaces the suggestions
    assert key_features([]) == ["login"]
    assert key_features(["custom"]) == ["custom"]  # a measure's own names come first


def test_events_of_the_last_two_minutes_are_waited_for_or_said_to_wait():
    from accounts.catalogue import SETTLE

    now = timezone.now()
    account = AccountFactory()
    ingest(track(account, "report_shared", now - timedelta(days=1)), received_at=now - SETTLE * 2)
    recent = now - SETTLE + timedelta(seconds=1)  # settles a second from now
    ingest(track(account, "report_shared", now), track(account, "login", now), received_at=recent)

    lines = run("--no-wait")
    assert lines[0] == "1 events counted."
    assert lines[1].startswith("2 events received in the last two minutes are not counted yet")
    assert f"after {recent + SETTLE:%H:%M:%S} UTC" in lines[1]

    lines = run()  # waits the second, then counts them
    assert lines[0].startswith("2 events received in the last two minutes settle at")
    assert lines[1] == "2 events counted."
