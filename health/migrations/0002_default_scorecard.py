"""The default scorecard every installation starts with; admins edit it or add their own.

Its first version is published after migrate (health.apps), by the same code as any edit.
"""

from django.db import migrations

MEASURES = [
    ("usage_frequency", 25),
    ("license_utilisation", 10),
    ("feature_breadth", 10),
    ("usage_trend", 10),
    ("nps", 10),
    ("csat", 5),
    ("open_escalations", 10),
    ("key_contact_engagement", 10),
    ("milestone_progress", 5),
    ("days_to_renewal", 5),
    ("csm_sentiment", 5),
]


def create(apps, schema_editor):
    Scorecard = apps.get_model("health", "Scorecard")
    Measure = apps.get_model("health", "ScorecardMeasure")
    if Scorecard.objects.filter(is_default=True).exists():
        return
    card = Scorecard.objects.create(
        name="Default",
        description="Scores every account no other scorecard matches.",
        priority=1000,
        is_default=True,
    )
    Measure.objects.bulk_create(
        [
            Measure(scorecard=card, kind=kind, weight=weight, params={}, position=i)
            for i, (kind, weight) in enumerate(MEASURES)
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("health", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
