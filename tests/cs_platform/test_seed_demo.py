"""seed_demo: a believable, deterministic portfolio; clear errors for bad options."""

import hashlib
import io
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min, Sum

from accounts.choices import AccountStatus, Persona, SurveyKind, TouchModel
from accounts.models import (
    Account,
    Contact,
    ContractChange,
    DailyAccountUsage,
    Event,
    Note,
    SurveyResponse,
)
from journeys.choices import Stage
from journeys.models import AccountStage, Escalation, StageTransition

pytestmark = pytest.mark.django_db
AS_OF = date(2026, 11, 25)
REPO = Path(__file__).resolve().parents[2]


def seed(*extra, accounts=80, days=60, seed=7):
    out = io.StringIO()
    call_command(
        "seed_demo", f"--accounts={accounts}", f"--days={days}", f"--seed={seed}",
        f"--as-of={AS_OF}", *extra, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def fingerprint() -> str:
    """A digest of the portfolio's content (not its primary keys)."""
    digest = hashlib.sha256()
    for row in Account.objects.order_by("external_id").values_list(
        "external_id", "name", "plan", "arr", "touch_model", "owner__username",
        "contract_start", "renewal_date", "status", "parent__external_id",
    ):  # fmt: skip
        digest.update(repr(row).encode())
    for row in Contact.objects.order_by("external_id").values_list(
        "external_id", "email", "persona", "is_key_contact", "last_seen_at"
    ):
        digest.update(repr(row).encode())
    for row in Event.objects.order_by("message_id").values_list(
        "message_id", "name", "occurred_at"
    ):
        digest.update(repr(row).encode())
    for model, fields in [
        (SurveyResponse, ("account__external_id", "kind", "score", "responded_at")),
        (StageTransition, ("account__external_id", "from_stage", "to_stage", "moved_at")),
        (Escalation, ("account__external_id", "severity", "opened_at", "resolved_at")),
        (ContractChange, ("account__external_id", "changed_at", "arr_after", "renewal_date_after")),
    ]:
        for row in model.objects.order_by(*fields).values_list(*fields):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def test_it_builds_a_believable_book_and_prints_the_logins():
    output = seed()
    assert Account.objects.count() == 80
    assert "Demo logins" in output
    for username in ("admin", "maya", "jonas", "viewer"):
        assert username in output
    # Printed passwords work.
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("("):
            assert authenticate(username=parts[0], password=parts[1]) is not None, parts[0]

    assert set(Contact.objects.values_list("persona", flat=True)) == set(Persona.values)
    assert set(Account.objects.values_list("touch_model", flat=True)) == set(TouchModel.values)
    assert len(set(Account.objects.values_list("plan", flat=True))) == 4
    assert Account.objects.values("owner").distinct().count() >= 3
    assert Account.objects.filter(status=AccountStatus.CHURNED).exists()
    assert Escalation.objects.exists()
    assert SurveyResponse.objects.filter(kind=SurveyKind.NPS).count() > 20
    assert Note.objects.exists()
    assert AccountStage.objects.count() == 80
    # A contract history that ends on each account's ARR and renewal date, with renewals
    # early and late, expansions and contractions.
    changes = ContractChange.objects.order_by("changed_at", "id")
    for account in Account.objects.all():
        last = changes.filter(account=account).last()
        assert (last.arr_after, last.renewal_date_after) == (account.arr, account.renewal_date)
    kinds = {c.kind for c in changes}
    assert {"created", "renewed"} <= kinds
    renewals = [c for c in changes if c.kind == "renewed"]
    assert any(c.changed_at.date() > c.renewal_date_before for c in renewals)  # late
    assert sum(c.changed_at.date() <= c.renewal_date_before for c in renewals) > len(renewals) / 2
    assert any(c.arr_after > c.arr_before for c in renewals)
    assert any(c.arr_after < c.arr_before for c in renewals)
    assert {Stage.ADOPTION, Stage.RENEWAL} <= set(
        AccountStage.objects.values_list("stage", flat=True)
    )
    # Renewals spread over the coming year.
    active = Account.objects.filter(status=AccountStatus.ACTIVE)
    span = active.aggregate(first=Min("renewal_date"), last=Max("renewal_date"))
    assert (span["last"] - span["first"]).days > 270
    assert span["first"] > AS_OF


def test_usage_has_a_weekly_rhythm_and_some_accounts_decline():
    seed(accounts=60, days=90)
    by_day = dict(
        DailyAccountUsage.objects.values_list("date").annotate(n=Sum("event_count")).order_by()
    )
    weekdays = [n for d, n in by_day.items() if d.weekday() < 5]
    weekends = [n for d, n in by_day.items() if d.weekday() >= 5]
    assert sum(weekends) / len(weekends) < 0.3 * sum(weekdays) / len(weekdays)
    assert sum(by_day.values()) == Event.objects.count()  # roll-ups match the raw events

    def usage(since, until):
        rows = DailyAccountUsage.objects.filter(date__gte=since, date__lte=until)
        return dict(rows.values_list("account_id").annotate(n=Sum("event_count")).order_by())

    early = usage(date(2026, 8, 28), date(2026, 9, 24))
    late = usage(date(2026, 10, 29), date(2026, 11, 25))
    active = Account.objects.filter(status=AccountStatus.ACTIVE).values_list("id", flat=True)
    declining = [a for a in active if early.get(a, 0) > 40 and late.get(a, 0) < 0.5 * early[a]]
    assert len(declining) >= 3
    # Churned accounts stop using the product when they churn.
    for account in Account.objects.filter(status=AccountStatus.CHURNED):
        last = Event.objects.filter(account=account).aggregate(m=Max("occurred_at"))["m"]
        assert last is None or last <= account.churned_at


def test_the_same_seed_gives_the_same_portfolio_and_another_seed_does_not():
    seed(accounts=40, days=30)
    first = fingerprint()
    seed("--reset", accounts=40, days=30)
    assert fingerprint() == first
    seed("--reset", accounts=40, days=30, seed=8)
    assert fingerprint() != first


def test_if_empty_leaves_an_existing_portfolio_alone():
    seed(accounts=30, days=30)
    before = Account.objects.aggregate(n=Count("id"), events=Count("events"))
    output = seed("--if-empty", accounts=30, days=30)
    assert "already has 30 accounts" in output
    assert Account.objects.aggregate(n=Count("id"), events=Count("events")) == before


def test_it_refuses_to_mix_the_demo_into_existing_data():
    seed(accounts=30, days=30)
    with pytest.raises(CommandError, match="--reset"):
        seed(accounts=30, days=30)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--accounts=abc", "--accounts must be a whole number from 1 to 100000, got 'abc'"),
        ("--accounts=0", "--accounts must be from 1 to 100000, got 0"),
        ("--days=5", "--days must be from 30 to 730, got 5"),
        ("--as-of=yesterday", "--as-of must be a date like 2026-01-31"),
    ],
)
def test_a_bad_option_is_named_in_the_error(option, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", option)
    assert not Account.objects.exists()


def test_a_bad_size_on_the_command_line_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--accounts", "lots"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "CS_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--accounts must be a whole number from 1 to 100000, got 'lots'" in result.stderr
    assert "Traceback" not in result.stderr
