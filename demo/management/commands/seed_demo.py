"""python manage.py seed_demo: load a believable demo portfolio and print the demo logins."""

import argparse
import secrets
import time
from datetime import date, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import (
    Account,
    DailyAccountUsage,
    DailyContactUsage,
    DailyFeatureUsage,
    Event,
)
from demo.history import build_history
from demo.portfolio import build_demo_portfolio
from demo.users import ensure_demo_users
from health.models import HealthSnapshot
from playbooks.defaults import install_default_playbooks

MAX_ACCOUNTS = 100_000


def _bounded_int(option: str, low: int, high: int):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} must be a whole number from {low} to {high}, got {value!r}"
            ) from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{option} must be from {low} to {high}, got {number}")
        return number

    return parse


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--as-of must be a date like 2026-01-31, got {value!r}"
        ) from None


def _delete_accounts() -> None:
    """Every account and all data about them. The big tables first, each with one DELETE:
    deleting accounts alone would first set the contact of every event to NULL."""
    for model in (Event, DailyFeatureUsage, DailyContactUsage, DailyAccountUsage, HealthSnapshot):
        model.objects.all().delete()
    Account.objects.all().delete()


def _random_password(username: str) -> str:
    return secrets.token_urlsafe(9)


class Command(BaseCommand):
    help = "Load a demo portfolio (accounts, contacts, usage, surveys, journeys) and demo users."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accounts",
            type=_bounded_int("--accounts", 1, MAX_ACCOUNTS),
            default=settings.DEMO_ACCOUNTS,
            help="How many accounts (default %(default)s).",
        )
        parser.add_argument(
            "--seed", type=_bounded_int("--seed", 0, 2**31 - 1), default=42, help="Random seed."
        )
        parser.add_argument(
            "--days",
            type=_bounded_int("--days", 30, 730),
            default=365,
            help="Days of usage history up to --as-of (default %(default)s); customers who "
            "churned within them stay, with their history.",
        )
        parser.add_argument(
            "--as-of", type=_iso_date, default=None, help="Last day of the history (default today)."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (but say so) when the database already has accounts.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete every account (and all data about them) first.",
        )
        parser.add_argument(
            "--passwords-only",
            action="store_true",
            help="Only (re)create the demo users with new passwords and print them.",
        )

    def handle(self, *args, **opts):
        if opts["passwords_only"]:
            with transaction.atomic():
                self._print_logins(ensure_demo_users(_random_password))
            return
        existing = Account.objects.count()
        if existing and opts["if_empty"]:
            self.stdout.write(
                f"The database already has {existing} accounts; not loading the demo portfolio. "
                "New demo passwords: python manage.py seed_demo --passwords-only"
            )
            return
        if existing and not opts["reset"]:
            raise CommandError(
                f"The database already has {existing} accounts. Use --reset to replace them "
                "with the demo portfolio, or --if-empty to leave them alone."
            )
        started = time.monotonic()
        as_of = opts["as_of"] or timezone.now().date()
        with transaction.atomic():
            if opts["reset"]:
                _delete_accounts()
            counts, logins = build_demo_portfolio(
                accounts=opts["accounts"],
                seed=opts["seed"],
                days=opts["days"],
                as_of=as_of,
                password_for=_random_password,
            )
        # Default playbooks, and the health history that trends and validation read.
        install_default_playbooks(enabled=True)
        history = build_history(as_of, as_of - timedelta(days=opts["days"] - 1))
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo portfolio loaded in {time.monotonic() - started:.1f}s: "
                f"{counts.accounts} accounts ({counts.churned} churned within the "
                f"{opts['days']} days), {counts.contacts} contacts, {counts.events} events, "
                f"{counts.surveys} survey responses, {counts.notes} notes, "
                f"{counts.escalations} escalations, {counts.transitions} stage moves, "
                f"{counts.milestones} milestones; {history['snapshots']} health scores on "
                f"{history['days']} days (monthly, recent, and before each churn), "
                f"{history['changes']} colour changes."
            )
        )
        self._print_logins(logins)

    def _print_logins(self, logins):
        width = max(len(name) for name, *_ in logins)
        self.stdout.write("")
        self.stdout.write("Demo logins (shown once; reset with: seed_demo --passwords-only)")
        for username, role, password in logins:
            self.stdout.write(f"  {username:<{width}}  {password}  ({role})")
        self.stdout.write("")
