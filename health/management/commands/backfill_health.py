"""Rebuild daily health history, e.g. after importing past usage: backfill_health --days 120."""

from django.core.management.base import BaseCommand, CommandError

from health.scoring import backfill

MAX_DAYS = 3650


class Command(BaseCommand):
    help = (
        "Score every account as of each of the last N days (oldest first), rebuilding the "
        "daily snapshots and the colour changes of those days; then score today."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90, help="Days to rebuild (default 90).")

    def handle(self, *args, days, verbosity=1, **options):
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be from 1 to {MAX_DAYS}, not {days}.")

        def progress(day, done, total):
            if verbosity and (done == total or done % 10 == 0):
                self.stdout.write(f"  {day}: {done}/{total} days scored")

        result = backfill(days, progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rebuilt {result['days']} days: {result['snapshots']} snapshots, "
                f"{result['changes']} colour changes; today {result['today']['scored']} "
                "accounts scored."
            )
        )
