"""Every demo account's contract from its start: the ContractChange rows the accounts app
would have recorded (source ``demo``), ending on the account's ARR and renewal date."""

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from accounts.choices import ContractSource
from accounts.models import ContractChange
from demo.simulation import add_years

BATCH = 5000


def _at(day, rng: random.Random, start_hour: int, end_hour: int) -> datetime:
    seconds = rng.randrange(start_hour * 3600, end_hour * 3600)
    return datetime.combine(day, time.min, UTC) + timedelta(seconds=seconds)


def _contract_events(rng, account, now) -> list[tuple]:
    """(day, renewal date renewed or None for a mid-term change, ARR ratio), in order."""
    events = []
    due = add_years(account.contract_start, 1)
    while due < account.renewal_date:
        late = rng.random() < 0.2
        day = due + timedelta(days=rng.randint(1, 25) if late else -rng.randint(0, 45))
        if day >= account.renewal_date or day >= now.date():  # signed early after all
            day = due - timedelta(days=rng.randint(1, 20))
        roll, ratio = rng.random(), 1
        if roll < 0.3:  # grew into a bigger plan or more seats
            ratio = rng.uniform(1.1, 1.4)
        elif roll < 0.4:  # renewed with fewer seats
            ratio = rng.uniform(0.75, 0.95)
        events.append((day, due, ratio))
        # Some customers buy more seats in the middle of a contract year.
        mid = due + timedelta(days=rng.randint(90, 270))
        if rng.random() < 0.15 and mid < account.renewal_date:
            events.append((mid, None, rng.uniform(1.05, 1.25)))
        due = add_years(due, 1)
    return [e for e in sorted(events, key=lambda e: e[0]) if e[0] < now.date()]


def write_contract_history(rng, accounts, now) -> int:
    """Every account's contract from its start: yearly renewals (mostly early, some late),
    expansions and contractions at renewal and mid-term, ending on today's ARR and renewal date;
    a churned account's last renewal date is the day it left, never renewed.
    """
    changes = []
    for account in accounts:
        events = _contract_events(rng, account, now)
        arr = Decimal(account.arr)
        for *_, ratio in events:
            arr = arr / Decimal(ratio)
        arr = max(Decimal(round(arr, -2)), Decimal(100))
        renewal = add_years(account.contract_start, 1)
        changes.append(
            ContractChange(
                account=account,
                changed_at=datetime.combine(account.contract_start, time(9), UTC),
                arr_after=arr,
                renewal_date_after=renewal,
                source=ContractSource.DEMO,
            )
        )
        for index, (day, renewed, ratio) in enumerate(events):
            after = (
                Decimal(account.arr)
                if index == len(events) - 1
                else max(Decimal(round(arr * Decimal(ratio), -2)), Decimal(100))
            )
            next_renewal = add_years(renewed, 1) if renewed else renewal
            if after == arr and next_renewal == renewal:
                continue
            changes.append(
                ContractChange(
                    account=account,
                    changed_at=_at(day, rng, 9, 18),
                    arr_before=arr,
                    arr_after=after,
                    renewal_date_before=renewal,
                    renewal_date_after=next_renewal,
                    source=ContractSource.DEMO,
                )
            )
            arr, renewal = after, next_renewal
    ContractChange.objects.bulk_create(changes, batch_size=BATCH)
    return len(changes)
