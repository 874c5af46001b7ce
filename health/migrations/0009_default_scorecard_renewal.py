"""The default scorecard counts a renewal within 60 days (issue 13).

Most B2B customers leave at a renewal: the weeks before it are when the decision is made.
Days to renewal earns full points 60 days or more before the renewal, none on the day (weight
10). On four simulated portfolios replayed through the API (catalogue-suggested key features)
the default's AUC for churn within 60 days went from 0.74 to 0.79, 0.60 to 0.68 and 0.63 to
0.66 where churn came mostly at renewals, and from 0.854 to 0.846 where it came at any time. A renewal far away earns the full
points, as no escalation did before migration 0005; it is one measure of eleven, so an
account whose usage collapsed still reaches red.

Only a default scorecard still exactly as migration 0005 made it is changed: an admin's edits
are kept. Its new version is published after migrate (health.apps).
"""

from django.db import migrations

PEERS = {"benchmark": "peers", "peer_group": "plan", "zero_at": 5, "full_at": 50}
AFTER_0005 = [
    ("usage_frequency", 15, {}),
    ("event_rate", 15, PEERS),
    ("activity_change", 15, {}),
    ("feature_breadth", 10, {}),
    ("license_utilisation", 5, {}),
    ("nps", 10, {}),
    ("csat", 5, {}),
    ("open_escalations", 5, {}),
    ("key_contact_engagement", 10, {}),
    ("milestone_progress", 5, {}),
    ("csm_sentiment", 5, {}),
]
RENEWAL = ("days_to_renewal", 10, {"zero_at": 0, "full_at": 60})


def update(apps, schema_editor):
    Scorecard = apps.get_model("health", "Scorecard")
    Measure = apps.get_model("health", "ScorecardMeasure")
    card = Scorecard.objects.filter(is_default=True).first()
    if card is None:
        return
    current = [
        (m.kind, float(m.weight), m.params)
        for m in Measure.objects.filter(scorecard=card).order_by("position", "pk")
    ]
    if current != [(kind, float(weight), params) for kind, weight, params in AFTER_0005]:
        return
    kind, weight, params = RENEWAL
    Measure.objects.create(
        scorecard=card, kind=kind, weight=weight, params=params, position=len(current)
    )
    Scorecard.objects.filter(pk=card.pk).update(current_version=None)


class Migration(migrations.Migration):
    dependencies = [("health", "0008_learning_run")]
    operations = [migrations.RunPython(update, migrations.RunPython.noop)]
