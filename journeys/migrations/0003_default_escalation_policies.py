"""Default response deadlines per severity; admins change them in the Django admin."""

from django.db import migrations

DEFAULTS = [
    ("critical", 4, True),
    ("high", 24, True),
    ("medium", 72, False),
    ("low", 120, False),
]


def create(apps, schema_editor):
    Policy = apps.get_model("journeys", "EscalationPolicy")
    for severity, hours, moves in DEFAULTS:
        Policy.objects.get_or_create(
            severity=severity,
            defaults={"response_hours": hours, "moves_to_escalation_stage": moves},
        )


def remove(apps, schema_editor):
    apps.get_model("journeys", "EscalationPolicy").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("journeys", "0002_escalation_policy")]

    operations = [migrations.RunPython(create, remove)]
