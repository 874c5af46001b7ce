"""seed_demo's options and determinism: the same seed gives the same portfolio; clear errors
for bad options. (The shared year-long book is in test_seed_demo.py: its rows would be in the
way here.)"""

import hashlib
import io
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from accounts.models import Account, Contact, ContractChange, Event, SurveyResponse
from demo.portfolio import build_demo_portfolio
from journeys.models import Escalation, StageTransition

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


AS_OF = date(2026, 11, 25)
REPO = Path(__file__).resolve().parents[2]


def seed(*extra, accounts=5, days=30, seed=7):
    out = io.StringIO()
    call_command(
        "seed_demo", f"--accounts={accounts}", f"--days={days}", f"--seed={seed}",
        f"--as-of={AS_OF}", *extra, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def fingerprint() -> str:
    """A digest of the portfolio's content (not its primary keys)."""
    digest = hashlib.sha256()
    for model, fields in [
        (Account, ("external_id", "name", "plan", "arr", "licenses_purchased", "touch_model",
                   "owner__username", "contract_start", "renewal_date", "status", "churned_at",
                   "parent__external_id")),
        (Contact, ("external_id", "email", "persona", "is_key_contact", "last_seen_at")),
        (Event, ("message_id", "name", "occurred_at", "contact__external_id")),
        (SurveyResponse, ("account__external_id", "kind", "score", "responded_at")),
        (StageTransition, ("account__external_id", "from_stage", "to_stage", "moved_at")),
        (Escalation, ("account__external_id", "severity", "opened_at", "resolved_at")),
        (ContractChange, ("account__external_id", "changed_at", "arr_after", "renewal_date_after")),
    ]:  # fmt: skip
        for row in model.objects.order_by(*fields).values_list(*fields):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def build(seed):
    build_demo_portfolio(accounts=20, seed=seed, days=60, as_of=AS_OF, password_for=str)


def test_the_same_seed_gives_the_same_portfolio_and_another_seed_does_not():
    build(7)
    first = fingerprint()
    Account.objects.all().delete()
    build(7)
    assert fingerprint() == first
    Account.objects.all().delete()
    build(8)
    assert fingerprint() != first


def test_if_empty_leaves_an_existing_portfolio_alone():
    seed()
    before = Account.objects.aggregate(n=Count("id"), events=Count("events"))
    output = seed("--if-empty")
    assert "already has 5 accounts" in output
    assert Account.objects.aggregate(n=Count("id"), events=Count("events")) == before


def test_it_refuses_to_mix_the_demo_into_existing_data_and_resets_on_request():
    seed()
    with pytest.raises(CommandError, match="--reset"):
        seed()
    seed("--reset", accounts=6)
    assert Account.objects.count() == 6


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
