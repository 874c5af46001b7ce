"""What customers and CSMs said: NPS answers that follow the value an account gets, CSAT
after resolved escalations, and the CSMs' notes."""

import math
import random
from datetime import UTC, date, datetime, time, timedelta

from accounts.choices import NoteKind, Persona, SurveyKind, TouchModel
from accounts.models import Contact, Note, SurveyResponse
from demo import names
from journeys.models import Escalation

BATCH = 5000
NOTE_KINDS = [(NoteKind.CALL, 0.4), (NoteKind.MEETING, 0.3), (NoteKind.EMAIL, 0.2),
              (NoteKind.NOTE, 0.1)]  # fmt: skip


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time.min, UTC) + timedelta(
        seconds=rng.randrange(8 * 3600, 19 * 3600)
    )


def _day_while_customer(rng, account, start: date, now: datetime) -> date:
    """A day in the window on which the account was a customer (after start, before churn)."""
    first = max(start, account.contract_start)
    last = (account.churned_at or now).date()
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


def nps_score(rng: random.Random, value_ratio: float, story: str) -> int:
    """An answer from 0 to 10: twice the value is about two points more."""
    mean = (
        6.5
        + 2 * math.log2(max(value_ratio, 0.05))
        - (1.5 if story in {"leaving", "churned"} else 0)
    )
    return max(0, min(10, round(rng.gauss(mean, 1.5))))


def _nps(rng, account, people, value, story, start, now) -> list[SurveyResponse]:
    answers = []
    for person in rng.sample(people, k=min(len(people), rng.randint(1, 3))):
        score = nps_score(rng, value, story)
        category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
        answers.append(
            SurveyResponse(
                account=account, contact=person, kind=SurveyKind.NPS, score=score,
                comment=rng.choice(names.NPS_COMMENTS[category]) if rng.random() < 0.5 else "",
                responded_at=min(_at(_day_while_customer(rng, account, start, now), rng), now),
            )
        )  # fmt: skip
    return answers


def _notes(rng, account, start, now) -> list[Note]:
    notes = []
    for _ in range(rng.randint(0, 4)):
        values, weights = zip(*NOTE_KINDS, strict=True)
        kind = rng.choices(values, weights=weights)[0]
        day = _day_while_customer(rng, account, start, now)
        notes.append(
            Note(
                account=account, author=account.owner, kind=kind,
                body=rng.choice(names.NOTE_TEXTS[kind]), occurred_at=min(_at(day, rng), now),
            )
        )  # fmt: skip
    return notes


def write_surveys_and_notes(rng, accounts, values, stories, start, now) -> tuple[int, int]:
    """(surveys, notes) written; ``values`` and ``stories`` by account id."""
    contacts_by_account: dict[int, list[Contact]] = {}
    for contact in Contact.objects.filter(account__in=accounts).only("id", "account_id", "persona"):
        contacts_by_account.setdefault(contact.account_id, []).append(contact)
    surveys, notes = [], []
    for account in accounts:
        people = [
            c for c in contacts_by_account.get(account.pk, []) if c.persona != Persona.BILLING
        ]
        if people and rng.random() < 0.65:
            surveys += _nps(
                rng, account, people, values[account.pk], stories[account.pk], start, now
            )
        if account.touch_model != TouchModel.TECH:
            notes += _notes(rng, account, start, now)
    resolved = Escalation.objects.filter(account__in=accounts, resolved_at__isnull=False)
    for escalation in resolved.order_by("opened_at", "id"):  # feedback after resolution
        people = contacts_by_account.get(escalation.account_id, [])
        answered = escalation.resolved_at + timedelta(hours=rng.randint(2, 72))
        if people and rng.random() < 0.7 and answered <= now:
            surveys.append(
                SurveyResponse(
                    account_id=escalation.account_id, contact=rng.choice(people),
                    kind=SurveyKind.CSAT, score=rng.randint(2, 5), responded_at=answered,
                )
            )  # fmt: skip
    SurveyResponse.objects.bulk_create(surveys, batch_size=BATCH)
    Note.objects.bulk_create(notes, batch_size=BATCH)
    return len(surveys), len(notes)
