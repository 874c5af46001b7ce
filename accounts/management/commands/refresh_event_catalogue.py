"""python manage.py refresh_event_catalogue [--rebuild]: count new events into the catalogue
now (the worker does it every few minutes) and list the names with the suggested ones."""

from django.core.management.base import BaseCommand

from accounts.catalogue import rebuild_event_catalogue, refresh_event_catalogue
from accounts.models import EventDefinition


class Command(BaseCommand):
    help = (
        "Fold the events received since the last refresh into the event catalogue (events "
        "of the last two minutes wait for the next run), recompute the retained-vs-churned "
        "suggestions, and list every name. --rebuild recounts from all events (after a "
        "backfill or deleting accounts)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Recount everything from the events."
        )

    def handle(self, *args, rebuild=False, **options):
        result = rebuild_event_catalogue() if rebuild else refresh_event_catalogue()
        if result.get("skipped"):
            self.stdout.write("Another refresh is running; try again when it has finished.")
            return
        self.stdout.write(f"{result['events']} events counted.")
        rows = EventDefinition.objects.order_by("-account_count", "name")
        for d in rows:
            mark = " (key feature)" if d.key_feature else (" (suggested)" if d.suggested else "")
            shares = ""
            if d.usage_difference is not None:
                shares = (
                    f", used by {d.retained_share:.0%} of retained / {d.churned_share:.0%} "
                    "of churned accounts"
                )
            self.stdout.write(f"  {d.name}: {d.account_count} accounts{shares}{mark}")
