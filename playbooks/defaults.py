"""The playbooks a new installation (and the demo) starts with; loading them twice is harmless."""

from django.db import transaction

from playbooks.actions import clean_action
from playbooks.models import Playbook, PlaybookAction
from playbooks.triggers import clean_trigger


def _task(title, body="", due=3, priority="normal"):
    return ("create_task", {"title": title, "body": body, "due_in_days": due, "priority": priority})


DEFAULT_PLAYBOOKS = [
    {
        "name": "Green to yellow check-in",
        "description": "Health slipped from green to yellow: call before it turns red.",
        "trigger": ("health_color_changed", {"from_colors": ["green"], "to_colors": ["yellow"]}),
        "cooldown_days": 14,
        "actions": [
            _task(
                "Check in with {{ account.name }}",
                "Health is now {{ account.health_color }} ({{ account.health_score }}).",
                3,
                "high",
            )
        ],
    },
    {
        "name": "Key contact changed: re-onboard",
        "description": "A key contact left or was replaced: onboard the new stakeholder.",
        "trigger": ("key_contact_changed", {"changes": ["left", "replaced"]}),
        "cooldown_days": 30,
        "actions": [_task("Re-onboard the new stakeholder at {{ account.name }}", "", 7, "high")],
    },
    {
        "name": "Renewal within 90 days and not green",
        "description": "An at-risk renewal: plan the save now.",
        "trigger": ("renewal_within", {"days": 90}),
        "health_colors": ["yellow", "red"],
        "cooldown_days": 90,
        "actions": [
            _task(
                "Renewal risk: {{ account.name }} renews on {{ account.renewal_date }}",
                "",
                5,
                "urgent",
            )
        ],
    },
    {
        "name": "Onboarding milestone overdue",
        "description": "A success milestone is late while onboarding.",
        "trigger": ("milestone_overdue", {}),
        "stages": ["onboarding"],
        "cooldown_days": 7,
        "actions": [
            _task("Unblock {{ account.name }}: {{ trigger.milestone }} is overdue", "", 2, "high")
        ],
    },
    {
        "name": "3-year tenure checkpoint",
        "description": "Teams and goals turn over: refresh training and review goals.",
        "trigger": ("tenure_anniversary", {"months": 36}),
        "cooldown_days": 30,
        "actions": [_task("Refresh training and review goals with {{ account.name }}", "", 14)],
    },
    {
        "name": "Escalation resolved: ask for feedback",
        "description": "Ask how the escalation was handled.",
        "trigger": ("escalation_resolved", {}),
        "cooldown_days": 0,
        "actions": [_task("Ask {{ account.name }} how the escalation was handled", "", 2)],
    },
    {
        "name": "Milestone reached: congratulate",
        "description": "Celebrate the customer's milestone with them.",
        "trigger": ("milestone_reached", {}),
        "cooldown_days": 0,
        "actions": [
            _task("Congratulate {{ account.name }}: {{ trigger.milestone }}", "", 3),
            (
                "add_note",
                {"body": "Milestone reached: {{ trigger.milestone }}", "note_kind": "note"},
            ),
        ],
    },
]


@transaction.atomic
def install_default_playbooks(enabled: bool = True) -> list[Playbook]:
    """Create the default playbooks that do not exist yet (by name); returns those created."""
    created = []
    for spec in DEFAULT_PLAYBOOKS:
        if Playbook.objects.filter(name=spec["name"]).exists():
            continue
        kind, params = spec["trigger"]
        playbook = Playbook.objects.create(
            name=spec["name"],
            description=spec["description"],
            enabled=enabled,
            trigger_kind=kind,
            trigger_params=clean_trigger(kind, params),
            cooldown_days=spec["cooldown_days"],
            health_colors=spec.get("health_colors", []),
            stages=spec.get("stages", []),
        )
        PlaybookAction.objects.bulk_create(
            [
                PlaybookAction(playbook=playbook, position=i, kind=k, params=clean_action(k, p))
                for i, (k, p) in enumerate(spec["actions"])
            ]
        )
        created.append(playbook)
    return created
