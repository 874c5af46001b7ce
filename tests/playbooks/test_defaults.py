"""The default playbooks load once, validate, and fire like any other."""

import pytest
from django.core.management import call_command

from playbooks.defaults import DEFAULT_PLAYBOOKS, install_default_playbooks
from playbooks.engine import evaluate
from playbooks.models import Playbook, Task
from playbooks.occurrences import health_occurrences
from tests.factories import AccountFactory
from tests.playbooks.factories import AccountHealthFactory, HealthChangeFactory

pytestmark = pytest.mark.django_db


def test_the_defaults_load_once():
    assert len(install_default_playbooks()) == len(DEFAULT_PLAYBOOKS) == 7
    call_command("load_default_playbooks")
    assert Playbook.objects.filter(enabled=True).count() == 7


def test_the_green_to_yellow_default_makes_a_task_for_the_owner(
    csm, django_capture_on_commit_callbacks
):
    install_default_playbooks()
    account = AccountFactory(name="Acme", owner=csm)
    AccountHealthFactory(account=account, color="yellow", score=52)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(health_occurrences([HealthChangeFactory(account=account).pk]))
    task = Task.objects.get()
    assert (task.title, task.assignee, task.priority) == ("Check in with Acme", csm, "high")
    assert task.body.startswith("Health is now yellow (52).")
