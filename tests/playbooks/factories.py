"""factory-boy factories for playbooks and for the health rows playbooks react to."""

from datetime import UTC, date, datetime

import factory

from health.models import AccountHealth, HealthChange, HealthSnapshot
from playbooks.choices import ActionKind, TriggerKind
from playbooks.models import Playbook, PlaybookAction
from tests.factories import AccountFactory

T0 = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)


class PlaybookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Playbook

    name = factory.Sequence(lambda n: f"Playbook {n}")
    enabled = True
    trigger_kind = TriggerKind.HEALTH_COLOR_CHANGED
    trigger_params = factory.LazyFunction(
        lambda: {"from_colors": ["green"], "to_colors": ["yellow"]}
    )
    cooldown_days = 7


class PlaybookActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlaybookAction

    playbook = factory.SubFactory(PlaybookFactory)
    position = factory.Sequence(lambda n: n)
    kind = ActionKind.CREATE_TASK
    params = factory.LazyFunction(
        lambda: {"title": "Check in with {{ account.name }}", "due_in_days": 3, "priority": "high"}
    )


class AccountHealthFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountHealth

    account = factory.SubFactory(AccountFactory)
    score = 80.0
    color = "green"
    explanation = "Green (80)"
    as_of = date(2026, 3, 2)
    computed_at = T0


class HealthSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthSnapshot

    account = factory.SubFactory(AccountFactory)
    date = date(2026, 3, 2)
    score = 80.0
    color = "green"


class HealthChangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthChange

    account = factory.SubFactory(AccountFactory)
    changed_at = T0
    from_color = "green"
    to_color = "yellow"
    from_score = 74.0
    to_score = 52.0
    drivers = factory.LazyFunction(
        lambda: [
            {"measure": "weekly_active_admins", "text": "weekly active admins fell from 4 to 1"}
        ]
    )
    explanation = "Yellow (52): weekly active admins fell from 4 to 1; NPS 5 from the champion"
