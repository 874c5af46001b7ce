"""Tenure: every N years a customer's team and goals have likely changed; mark a checkpoint.

Found set-based: the accounts whose contract anniversary is today and whose tenure is a
multiple of N years. Each checkpoint is recorded once and announced for playbooks.
"""

from datetime import date

from django.db import transaction
from django.db.models import F
from django.db.models.functions import ExtractDay, ExtractMonth, ExtractYear

from accounts.choices import AccountStatus
from accounts.models import Account
from journeys.models import TenureCheckpoint
from journeys.signals import tenure_checkpoint


def record_checkpoints(today: date, every_years: int) -> list[int]:
    """Checkpoints due today; returns the ids of those newly recorded."""
    if every_years < 1:
        raise ValueError("every_years must be at least 1")
    # 29 February contracts have their anniversary on 28 February in other years.
    leap_day_today = today.month == 2 and today.day == 28 and not _is_leap(today.year)
    days = [today.day, 29] if leap_day_today else [today.day]
    due = (
        Account.objects.filter(status=AccountStatus.ACTIVE, contract_start__lt=today)
        .annotate(
            y=ExtractYear("contract_start"),
            m=ExtractMonth("contract_start"),
            d=ExtractDay("contract_start"),
        )
        .filter(m=today.month, d__in=days)
        .annotate(years=today.year - F("y"))
        .values_list("id", "years")
    )
    candidates = {a: y for a, y in due if y > 0 and y % every_years == 0}
    with transaction.atomic():
        seen = set(
            TenureCheckpoint.objects.filter(due_on=today, account_id__in=candidates).values_list(
                "account_id", flat=True
            )
        )
        new = {a: y for a, y in candidates.items() if a not in seen}
        TenureCheckpoint.objects.bulk_create(
            [TenureCheckpoint(account_id=a, due_on=today, years=y) for a, y in new.items()],
            ignore_conflicts=True,
        )
        fresh = list(
            TenureCheckpoint.objects.filter(due_on=today, account_id__in=new).values_list(
                "id", flat=True
            )
        )
        if fresh:
            transaction.on_commit(
                lambda: tenure_checkpoint.send(sender=TenureCheckpoint, checkpoint_ids=fresh)
            )
    return fresh


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
