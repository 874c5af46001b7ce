from django.apps import AppConfig
from django.db.models.signals import post_migrate


def publish_unpublished(sender, **kwargs):
    """Scorecards created by migrations get their first version once the schema is ready."""
    from health.models import Scorecard
    from health.scorecards import publish

    for scorecard in Scorecard.objects.filter(current_version__isnull=True):
        publish(scorecard)


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Health"

    def ready(self):
        from health import receivers  # noqa: F401  (connects the signal receivers)

        post_migrate.connect(publish_unpublished, sender=self, dispatch_uid="health-publish")
