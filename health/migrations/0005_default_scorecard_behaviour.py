"""The default scorecard without false zeros and floors (issue 13).

- usage frequency expects admins and champions on 12 of 28 days (the measure's new default;
  at 4 days every account earned full points and it never moved);
- key-feature rate per active user (as a percentile among the accounts of the same plan) and
  the change of activity (last 4 weeks against the 8
  before) carry usage; key features come from the event catalogue, and a measure whose events
  never occur says "no data" instead of scoring zero;
- open escalations only lower a score (left out when none is open);
- license utilisation keeps a small weight, days to renewal goes (a renewal far away is not
  health).

Only a default scorecard still exactly as migration 0002 made it is changed: an admin's edits
are kept. Its new version is published after migrate (health.apps).
"""

from django.db import migrations

ORIGINAL = [
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
# event_rate earns its points against the account's plan: none at the 5th percentile of the
# day's active accounts of its plan, full at the median (health/peers.py).
PEERS = {"benchmark": "peers", "peer_group": "plan", "zero_at": 5, "full_at": 50}
MEASURES = [
    ("usage_frequency", 15),
    ("event_rate", 15, PEERS),
    ("activity_change", 15),
    ("feature_breadth", 10),
    ("license_utilisation", 5),
    ("nps", 10),
    ("csat", 5),
    ("open_escalations", 5),
    ("key_contact_engagement", 10),
    ("milestone_progress", 5),
    ("csm_sentiment", 5),
]


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
    if current != [(kind, float(weight), {}) for kind, weight in ORIGINAL]:
        return
    Measure.objects.filter(scorecard=card).delete()
    Measure.objects.bulk_create(
        [
            Measure(
                scorecard=card, kind=kind, weight=weight, params=rest[0] if rest else {}, position=i
            )
            for i, (kind, weight, *rest) in enumerate(MEASURES)
        ]
    )
    Scorecard.objects.filter(pk=card.pk).update(current_version=None)


class Migration(migrations.Migration):
    dependencies = [("health", "0004_components_as_json_text")]
    operations = [migrations.RunPython(update, migrations.RunPython.noop)]
