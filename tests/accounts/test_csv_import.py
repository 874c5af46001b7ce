import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from accounts.csv_import import CsvError, import_accounts_csv, import_contacts_csv
from accounts.models import Account, Contact, DirtyAccount
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db

ACCOUNTS = """\
external_id,name,plan,arr,owner,parent,traits.region
acme,Acme,Enterprise,120000,maya,,EMEA
acme-de,Acme Germany,,5000.50,,acme,DACH
globex,Globex,Growth,24000,,,
"""


def _csv(text: str) -> bytes:
    return text.encode()


def test_it_imports_accounts_and_counts_what_happened():
    UserFactory(username="maya")
    AccountFactory(external_id="globex", name="Globex", plan="Growth", arr=Decimal("24000"))
    result = import_accounts_csv(_csv(ACCOUNTS))
    assert result.counts == {
        "created": 2,
        "updated": 0,
        "unchanged": 1,
        "rejected": 0,
        "skipped": 0,
    }
    assert [(r.line, r.status, r.key) for r in result.lines] == [
        (2, "created", "acme"),
        (3, "created", "acme-de"),
        (4, "unchanged", "globex"),
    ]
    acme = Account.objects.get(external_id="acme")
    assert (acme.plan, acme.owner.username, acme.traits) == (
        "Enterprise",
        "maya",
        {"region": "EMEA"},
    )
    germany = Account.objects.get(external_id="acme-de")
    assert (germany.parent, germany.arr, germany.plan) == (acme, Decimal("5000.50"), "")
    assert set(DirtyAccount.objects.values_list("account_id", flat=True)) == {acme.pk, germany.pk}


def test_an_empty_cell_leaves_the_stored_value_alone():
    AccountFactory(external_id="acme", plan="Growth", arr=Decimal("100"))
    import_accounts_csv(_csv("external_id,plan,arr\nacme,,250\n"))
    assert Account.objects.values_list("plan", "arr").get() == ("Growth", Decimal("250"))


def test_it_imports_contacts():
    AccountFactory(external_id="acme")
    ContactFactory(external_id="", email="bob@acme.example", account__external_id="other")
    data = _csv(
        "external_id,email,account,name,persona,is_key_contact,traits.team\n"
        "u1,Ann@Acme.example,acme,Ann,champion,true,Ops\n"
        ",bob@acme.example,other,Bob,,,\n"
    )
    result = import_contacts_csv(io.BytesIO(data))
    assert [(r.status, r.key) for r in result.lines] == [
        ("created", "u1"),
        ("updated", "bob@acme.example"),
    ]
    ann = Contact.objects.get(external_id="u1")
    assert (ann.email, ann.persona, ann.is_key_contact, ann.traits) == (
        "ann@acme.example",
        "champion",
        True,
        {"team": "Ops"},
    )


def test_it_reads_a_file_with_a_byte_order_mark():
    result = import_accounts_csv(b"\xef\xbb\xbfexternal_id,name\nacme,Acm\xc3\xa9\n")
    assert result.counts["created"] == 1
    assert Account.objects.get().name == "Acmé"


def test_a_file_that_is_not_utf8_names_the_line():
    latin1 = "external_id,name\nacme,Acme\nmuller,Müller\n".encode("latin-1")
    with pytest.raises(CsvError, match=r"^line 3: the file is not UTF-8 \(byte 0xfc\)"):
        import_accounts_csv(latin1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: line 1 must name the columns"),
        (
            "external_id,name,colour,mrr\n",
            "line 1: unknown columns: colour, mrr; allowed: external_id, name, domain, parent,",
        ),
        ("external_id,name,name\n", "line 1: columns named more than once: name"),
        ("external_id,,name\n", "line 1: column 2 has no name"),
        ("name,plan\n", "line 1: the header needs a column external_id"),
        ("external_id,name\nacme,Acme,extra\n", "line 2: 3 values, but the header names 2"),
    ],
)
def test_a_file_with_wrong_columns_is_refused(text, message):
    with pytest.raises(CsvError) as excinfo:
        import_accounts_csv(_csv(text))
    assert str(excinfo.value).startswith(message)
    assert not Account.objects.exists()


def test_the_contact_header_needs_an_external_id_or_an_email():
    with pytest.raises(CsvError, match="the header needs a column external_id or email"):
        import_contacts_csv(_csv("account,name\nacme,Ann\n"))


def test_bad_rows_are_reported_by_line_and_nothing_is_imported():
    data = _csv(
        "external_id,name,arr\n"
        "acme,Acme,100\n"
        '"globex","Globex\nInc",-5\n'  # a quoted cell spans lines 3-4: the row is line 3
        "\n"
        "initech,Initech,lots\n"
        "acme,Acme again,1\n"
    )
    result = import_accounts_csv(data)
    assert result.errors == [
        "line 3: arr: Ensure this value is greater than or equal to 0.",
        "line 6: arr: A valid number is required.",
        "line 7: external_id: duplicate of line 2",
    ]
    assert result.counts["skipped"] == 1
    assert result.failed
    assert not Account.objects.exists()


def test_valid_only_imports_the_good_rows_and_reports_the_bad():
    result = import_accounts_csv(
        _csv("external_id,name,touch_model\nacme,Acme,high\nglobex,Globex,medium\n"),
        valid_only=True,
    )
    assert [r.status for r in result.lines] == ["created", "rejected"]
    assert result.errors == ['line 3: touch_model: "medium" is not one of: high, low, tech.']
    assert not result.failed
    assert list(Account.objects.values_list("external_id", flat=True)) == ["acme"]


def test_a_dry_run_reports_what_would_happen_and_writes_nothing():
    AccountFactory(external_id="acme", plan="Growth")
    result = import_accounts_csv(
        _csv("external_id,name,plan\nacme,,Scale\nglobex,Globex,Growth\n"), dry_run=True
    )
    assert [(r.status, r.id) for r in result.lines] == [
        ("updated", Account.objects.get().pk),
        ("created", None),
    ]
    assert list(Account.objects.values_list("external_id", "plan")) == [("acme", "Growth")]
    assert not DirtyAccount.objects.exists()


# --- the commands ---------------------------------------------------------------------------


def _run(command, path, *args):
    out = io.StringIO()
    call_command(command, str(path), *args, stdout=out)
    return out.getvalue()


def test_import_accounts_prints_a_summary(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("external_id,name\nacme,Acme\nglobex,Globex\n")
    assert _run("import_accounts", path) == f"{path}: 2 created\n"
    assert Account.objects.count() == 2


def test_import_contacts_with_a_bad_row_fails_and_prints_the_line(tmp_path):
    AccountFactory(external_id="acme")
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,account,persona\nann@acme.example,acme,admin\nbob@acme.example,acme,boss\n"
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 row was rejected, nothing imported; fix them"):
        call_command("import_contacts", str(path), stdout=out)
    assert out.getvalue().splitlines() == [
        f"{path}: 1 rejected, 1 skipped",
        'line 3: persona: "boss" is not one of: admin, end_user, champion, '
        "executive_sponsor, billing.",
    ]
    assert not Contact.objects.exists()


def test_import_contacts_valid_only_imports_the_good_rows(tmp_path):
    AccountFactory(external_id="acme")
    path = tmp_path / "contacts.csv"
    path.write_text(
        "email,account,persona\nann@acme.example,acme,admin\nbob@acme.example,acme,boss\n"
    )
    output = _run("import_contacts", path, "--valid-only")
    assert output.startswith(f"{path}: 1 created, 1 rejected\nline 3: persona:")
    assert list(Contact.objects.values_list("email", flat=True)) == ["ann@acme.example"]


def test_import_accounts_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("external_id,name\nacme,Acme\n")
    assert _run("import_accounts", path, "--dry-run") == (
        f"{path}: 1 created (dry run: nothing was written)\n"
    )
    assert not Account.objects.exists()


def test_import_accounts_names_a_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(CommandError, match=f"no such file: {missing}"):
        call_command("import_accounts", str(missing))


def test_import_accounts_reports_a_bad_file_in_one_line(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes("external_id,name\nmuller,Müller\n".encode("latin-1"))
    with pytest.raises(CommandError, match=f"^{path}: line 2: the file is not UTF-8"):
        call_command("import_accounts", str(path))
