"""python manage.py refresh_event_catalogue [--rebuild]: count new events into the catalogue
now (the worker does it every few minutes) and list the names with the suggested ones."""

import time

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.catalogue import rebuild_event_catalogue, refresh_event_catalogue, unsettled
from accounts.models import EventDefinition


class Command(BaseCommand):
    help = (
        "Fold the events received since the last refresh into the event catalogue (events "
        "of the last two minutes are waited for, unless --no-wait), recompute the "
        "retained-vs-churned suggestions, and list every name. --rebuild recounts from all "
        "events (after a backfill or deleting accounts)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild", action="store_true", help="Recount everything from the events."
        )
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="Do not wait for events received in the last two minutes (by default the "
            "command waits until they settle, then counts them too).",
        )

    def handle(self, *args, rebuild=False, no_wait=False, **options):
        count = rebuild_event_catalogue if rebuild else refresh_event_catalogue
        result = count()
        if result.get("skipped"):
            self.stdout.write("Another refresh is running; try again when it has finished.")
            return
        counted = result["events"]
        waiting, settles_at = unsettled()
        if waiting and not no_wait:
            # Events are counted two minutes after they arrive, once every transaction that
            # stored some of them has committed (a cursor must never pass an uncommitted id).
            pause = max(0.0, (settles_at - timezone.now()).total_seconds()) + 1
            self.stdout.write(
                f"{waiting} events received in the last two minutes settle at "
                f"{settles_at:%H:%M:%S} UTC; waiting {pause:.0f} s to count them."
            )
            time.sleep(pause)
            counted += refresh_event_catalogue()["events"]
            waiting = 0
        self.stdout.write(f"{counted} events counted.")
        if waiting:
            self.stdout.write(
                f"{waiting} events received in the last two minutes are not counted yet: run "
                f"this again after {settles_at:%H:%M:%S} UTC (without --no-wait it waits)."
            )
        rows = EventDefinition.objects.order_by("-account_count", "name")
        for d in rows:
            mark = " (key feature)" if d.key_feature else (" (suggested)" if d.suggested else "")
            shares = ""
            if d.usage_difference is not None:
                shares = (
                    f", used by {d.retained_share:.0%} of retained / {d.churned_share:.0%} "
                    "of churned accounts"
                )
            if d.mix_auc is not None:
                shares += f", retained share of events larger in {d.mix_auc:.0%} of pairs"
            self.stdout.write(f"  {d.name}: {d.account_count} accounts{shares}{mark}")
