"""Matching: conditions (account fields and the triggering contact's persona), exactly once,
cooldowns counted, explanations kept, and a query count that does not grow with accounts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from journeys.stages import move_account
from playbooks import scans
from playbooks.engine import evaluate
from playbooks.models import PlaybookRun, Task
from playbooks.occurrences import health_occurrences
from tests.factories import AccountFactory, ContactFactory, SurveyResponseFactory
from tests.playbooks.factories import (
    T0,
    AccountHealthFactory,
    HealthChangeFactory,
    PlaybookActionFactory,
    PlaybookFactory,
)

pytestmark = pytest.mark.django_db


def fire(*changes):
    return evaluate(health_occurrences([c.pk for c in changes]))


@pytest.mark.parametrize(
    ("conditions", "account_fields", "fires"),
    [
        ({"plans": ["Growth"]}, {"plan": "Growth"}, True),
        ({"plans": ["Enterprise"]}, {"plan": "Growth"}, False),
        ({"touch_models": ["high"]}, {"touch_model": "high"}, True),
        ({"touch_models": ["high"]}, {"touch_model": "tech"}, False),
        ({"industries": ["Retail"]}, {"industry": "Retail"}, True),
        ({"industries": ["Retail"]}, {"industry": "Banking"}, False),
        ({"arr_min": Decimal(10000), "arr_max": Decimal(50000)}, {"arr": Decimal(24000)}, True),
        ({"arr_min": Decimal(30000)}, {"arr": Decimal(24000)}, False),
        ({"employees_min": 100, "employees_max": 500}, {"employee_count": 250}, True),
        ({"employees_max": 100}, {"employee_count": 250}, False),
    ],
)
def test_account_conditions_decide(conditions, account_fields, fires):
    playbook = PlaybookFactory(**conditions)
    change = HealthChangeFactory(account=AccountFactory(**account_fields))
    fire(change)
    assert PlaybookRun.objects.filter(playbook=playbook).exists() is fires


def test_owner_stage_and_health_colour_conditions(make_user):
    maya = make_user("maya")
    playbook = PlaybookFactory(stages=["renewal"], health_colors=["yellow"])
    playbook.owners.set([maya])
    good = AccountFactory(owner=maya)
    move_account(good, "renewal")
    AccountHealthFactory(account=good, color="yellow")
    wrong_owner = AccountFactory()
    move_account(wrong_owner, "renewal")
    AccountHealthFactory(account=wrong_owner, color="yellow")
    wrong_stage = AccountFactory(owner=maya)
    move_account(wrong_stage, "adoption")
    AccountHealthFactory(account=wrong_stage, color="yellow")
    wrong_colour = AccountFactory(owner=maya)
    move_account(wrong_colour, "renewal")
    AccountHealthFactory(account=wrong_colour, color="red")
    fire(*[HealthChangeFactory(account=a) for a in (good, wrong_owner, wrong_stage, wrong_colour)])
    assert list(PlaybookRun.objects.values_list("account", flat=True)) == [good.pk]


def test_the_persona_condition_looks_at_the_contact_who_caused_it():
    playbook = PlaybookFactory(trigger_kind="nps_detractor", trigger_params={}, personas=["admin"])
    admin = ContactFactory(persona="admin")
    user = ContactFactory(persona="end_user")
    from_admin = SurveyResponseFactory(
        account=admin.account, contact=admin, score=3, responded_at=T0
    )
    SurveyResponseFactory(account=user.account, contact=user, score=3, responded_at=T0)
    scans.scan_new_rows(T0)
    assert [r.occurrence_key for r in playbook.runs.all()] == [f"nps:{from_admin.pk}"]


def test_the_same_occurrence_twice_makes_one_run():
    PlaybookFactory()
    change = HealthChangeFactory()
    first = fire(change)
    again = fire(change)
    assert len(first.fired) == 1 and again.fired == [] and again.repeated == 1
    assert PlaybookRun.objects.count() == 1


def test_a_duplicate_inside_one_batch_makes_one_run():
    PlaybookFactory()
    change = HealthChangeFactory()
    occurrences = health_occurrences([change.pk])
    evaluate(occurrences + occurrences)
    assert PlaybookRun.objects.count() == 1


def test_the_cooldown_suppresses_and_counts_a_second_match_on_the_account():
    playbook = PlaybookFactory(cooldown_days=7)
    account = AccountFactory()
    first = HealthChangeFactory(account=account, changed_at=T0)
    second = HealthChangeFactory(account=account, changed_at=T0 + timedelta(days=2))
    later = HealthChangeFactory(account=account, changed_at=T0 + timedelta(days=8))
    other = HealthChangeFactory(changed_at=T0 + timedelta(days=2))
    assert len(fire(first).fired) == 1
    result = fire(second, other)
    assert result.suppressed == 1 and len(result.fired) == 1
    assert len(fire(later).fired) == 1
    statuses = dict(playbook.runs.values_list("occurrence_key", "status"))
    assert statuses[f"health:{second.pk}"] == "suppressed"
    assert statuses[f"health:{later.pk}"] == "succeeded"  # no actions: nothing left to do
    assert playbook.runs.filter(status="suppressed").count() == 1


def test_two_matches_in_one_batch_respect_the_cooldown():
    PlaybookFactory(cooldown_days=1)
    account = AccountFactory()
    result = fire(
        HealthChangeFactory(account=account, changed_at=T0),
        HealthChangeFactory(account=account, changed_at=T0 + timedelta(hours=3)),
    )
    assert (len(result.fired), result.suppressed) == (1, 1)


def test_the_run_explains_why_and_its_task_repeats_it(django_capture_on_commit_callbacks, csm):
    action = PlaybookActionFactory(
        params={
            "title": "Check in with {{ account.name }}",
            "body": "Owner: {{ account.owner }}",
            "priority": "high",
        }
    )
    account = AccountFactory(name="Acme", owner=csm)
    with django_capture_on_commit_callbacks(execute=True):
        fire(HealthChangeFactory(account=account))
    run = PlaybookRun.objects.get(playbook=action.playbook)
    assert run.explanation == (
        "health went green -> yellow at 2026-03-02 14:02; Yellow (52): weekly active admins "
        "fell from 4 to 1; NPS 5 from the champion"
    )
    task = Task.objects.get()
    assert (task.title, task.assignee, task.created_by_run, task.priority) == (
        "Check in with Acme",
        csm,
        run,
        "high",
    )
    assert task.body == f"Owner: Casey Manager\n\nWhy: {run.explanation}"
    assert run.status == "succeeded"


def _queries_for(n_accounts: int) -> int:
    changes = [HealthChangeFactory(account=AccountFactory()) for _ in range(n_accounts)]
    occurrences = health_occurrences([c.pk for c in changes])
    with CaptureQueriesContext(connection) as queries:
        result = evaluate(occurrences, dispatch=False)
    assert len(result.fired) == n_accounts * 3
    return len(queries)


def test_evaluation_queries_do_not_grow_with_the_number_of_accounts():
    for i in range(3):  # three playbooks, each with one action and a condition
        PlaybookActionFactory(playbook=PlaybookFactory(plans=["Growth"], name=f"P{i}"))
    small = _queries_for(5)
    PlaybookRun.objects.all().delete()
    assert _queries_for(50) == small
    assert small <= 14
