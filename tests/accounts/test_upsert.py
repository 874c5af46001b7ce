from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from accounts.choices import AccountStatus, Persona
from accounts.models import Account, Contact, DirtyAccount
from accounts.upsert import MAX_ITEMS, UpsertError, upsert_accounts, upsert_contacts
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def _statuses(results):
    return [result.status for result in results]


def _dirty_ids():
    return set(DirtyAccount.objects.values_list("account_id", flat=True))


# --- accounts -------------------------------------------------------------------------------


def test_it_creates_accounts_with_their_fields():
    owner = UserFactory(username="maya")
    [result] = upsert_accounts(
        [
            {
                "external_id": "acme",
                "name": "Acme",
                "arr": "1200.50",
                "currency": "eur",
                "owner": "maya",
                "renewal_date": "2027-01-31",
                "traits": {"region": "EMEA"},
            }
        ]
    )
    account = Account.objects.get(external_id="acme")
    assert (result.status, result.id, result.key) == ("created", account.pk, "acme")
    assert account.arr == Decimal("1200.50")
    assert account.currency == "EUR"
    assert account.owner == owner
    assert account.renewal_date == date(2027, 1, 31)
    assert account.traits == {"region": "EMEA"}


def test_it_updates_only_the_keys_given():
    account = AccountFactory(external_id="acme", plan="Growth", arr=Decimal("100"))
    [result] = upsert_accounts([{"external_id": "acme", "plan": "Enterprise"}])
    account.refresh_from_db()
    assert (result.status, result.id) == ("updated", account.pk)
    assert account.plan == "Enterprise"
    assert account.arr == Decimal("100")


def test_it_reports_unchanged_when_every_value_matches_and_writes_nothing():
    account = AccountFactory(external_id="acme", arr=Decimal("24000.00"), traits={"a": 1})
    before = account.updated_at
    results = upsert_accounts([{"external_id": "acme", "arr": 24000, "traits": {"a": 1}}])
    assert _statuses(results) == ["unchanged"]
    account.refresh_from_db()
    assert account.updated_at == before
    assert _dirty_ids() == set()


def test_it_merges_traits_into_the_stored_ones():
    account = AccountFactory(external_id="acme", traits={"region": "EMEA", "tier": "1"})
    upsert_accounts([{"external_id": "acme", "traits": {"tier": "2", "crm": "hubspot"}}])
    account.refresh_from_db()
    assert account.traits == {"region": "EMEA", "tier": "2", "crm": "hubspot"}


def test_it_stamps_updated_at_on_an_update():
    account = AccountFactory(external_id="acme", plan="Growth")
    before = account.updated_at
    upsert_accounts([{"external_id": "acme", "plan": "Scale"}])
    account.refresh_from_db()
    assert account.updated_at > before


def test_it_links_a_parent_given_later_in_the_same_batch():
    results = upsert_accounts(
        [
            {"external_id": "acme-emea", "name": "Acme EMEA", "parent": "acme"},
            {"external_id": "acme", "name": "Acme"},
        ]
    )
    assert _statuses(results) == ["created", "created"]
    child = Account.objects.get(external_id="acme-emea")
    assert child.parent.external_id == "acme"


def test_it_links_an_existing_account_to_a_new_parent():
    child = AccountFactory(external_id="acme-emea")
    results = upsert_accounts(
        [{"external_id": "acme-emea", "parent": "acme"}, {"external_id": "acme", "name": "Acme"}]
    )
    assert _statuses(results) == ["updated", "created"]
    child.refresh_from_db()
    assert child.parent.external_id == "acme"


def test_it_links_to_and_clears_an_existing_parent():
    parent = AccountFactory(external_id="acme")
    child = AccountFactory(external_id="acme-emea")
    upsert_accounts([{"external_id": "acme-emea", "parent": "acme"}])
    child.refresh_from_db()
    assert child.parent == parent
    upsert_accounts([{"external_id": "acme-emea", "parent": None}])
    child.refresh_from_db()
    assert child.parent is None


def test_it_finds_an_owner_by_email_ignoring_case():
    owner = UserFactory(username="maya", email="Maya@Example.com")
    upsert_accounts([{"external_id": "acme", "name": "Acme", "owner": "maya@example.COM"}])
    assert Account.objects.get(external_id="acme").owner == owner


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ({"owner": "nobody"}, "owner", 'No user with the username or email "nobody".'),
        ({"parent": "ghost"}, "parent", 'No account with the external_id "ghost".'),
        ({"parent": "acme"}, "parent", "An account cannot be its own parent."),
        ({"colour": "red"}, "colour", "Unknown field; allowed: external_id, name, domain"),
        ({"arr": "-5"}, "arr", "Ensure this value is greater than or equal to 0."),
        ({"arr": "lots"}, "arr", "A valid number is required."),
        ({"employee_count": "12.5"}, "employee_count", "A valid integer is required."),
        ({"name": 42}, "name", "Not a valid string."),
        ({"currency": "EURO"}, "currency", "Must be a 3-letter ISO 4217 code."),
        ({"touch_model": "medium"}, "touch_model", '"medium" is not one of: high, low, tech.'),
        ({"contract_start": "31/01/2026"}, "contract_start", "Date has wrong format."),
        ({"traits": ["a"]}, "traits", 'Expected a dictionary of items but got type "list".'),
        (
            {"contract_start": "2026-05-01", "renewal_date": "2026-04-01"},
            "renewal_date",
            "The renewal date precedes the contract start",
        ),
        (
            {"churned_at": "2026-03-01T00:00:00Z"},
            "churned_at",
            "An active account has no churn date",
        ),
    ],
)
def test_it_rejects_a_bad_item_naming_the_field(item, field, reason):
    [result] = upsert_accounts([{"external_id": "acme", "name": "Acme", **item}])
    assert result.status == "rejected"
    assert list(result.errors) == [field]
    assert result.errors[field][0].startswith(reason)
    assert not Account.objects.exists()


def test_it_requires_an_external_id_and_a_name_for_a_new_account():
    results = upsert_accounts([{"name": "Acme"}, {"external_id": "acme"}, "acme"])
    assert [result.errors for result in results] == [
        {"external_id": ["This field is required."]},
        {"name": ["Required for a new account."]},
        {"non_field_errors": ["Expected an object, got str."]},
    ]


def test_churning_without_a_date_churns_now_and_reactivating_clears_the_date():
    account = AccountFactory(external_id="acme")
    upsert_accounts([{"external_id": "acme", "status": "churned"}])
    account.refresh_from_db()
    assert account.status == AccountStatus.CHURNED
    assert account.churned_at is not None
    # Churned again with no date given: the first churn date stands.
    assert _statuses(upsert_accounts([{"external_id": "acme", "status": "churned"}])) == [
        "unchanged"
    ]
    upsert_accounts([{"external_id": "acme", "status": "active"}])
    account.refresh_from_db()
    assert (account.status, account.churned_at) == (AccountStatus.ACTIVE, None)


def test_it_keeps_a_given_churn_date():
    upsert_accounts(
        [
            {
                "external_id": "acme",
                "name": "Acme",
                "status": "churned",
                "churned_at": "2026-02-01T10:00:00Z",
            }
        ]
    )
    assert Account.objects.get().churned_at == datetime(2026, 2, 1, 10, tzinfo=UTC)


def test_it_rejects_the_later_of_two_items_with_the_same_key():
    results = upsert_accounts(
        [{"external_id": "acme", "name": "A"}, {"external_id": "acme", "name": "B"}],
        all_or_nothing=False,
    )
    assert _statuses(results) == ["created", "rejected"]
    assert results[1].errors == {"external_id": ["duplicate of item 0"]}
    assert Account.objects.get().name == "A"


def test_all_or_nothing_writes_nothing_when_one_item_is_rejected():
    AccountFactory(external_id="old", plan="Growth")
    results = upsert_accounts(
        [
            {"external_id": "new", "name": "New"},
            {"external_id": "old", "plan": "Scale"},
            {"external_id": "bad", "name": "Bad", "arr": "-1"},
        ]
    )
    assert _statuses(results) == ["skipped", "skipped", "rejected"]
    assert results[0].id is None
    assert results[1].id == Account.objects.get(external_id="old").pk
    assert list(Account.objects.values_list("external_id", "plan")) == [("old", "Growth")]
    assert _dirty_ids() == set()


def test_it_writes_the_valid_items_when_not_all_or_nothing():
    results = upsert_accounts(
        [{"external_id": "good", "name": "Good"}, {"external_id": "bad", "name": "Bad", "arr": -1}],
        all_or_nothing=False,
    )
    assert _statuses(results) == ["created", "rejected"]
    assert list(Account.objects.values_list("external_id", flat=True)) == ["good"]


def test_a_child_of_a_rejected_new_parent_is_rejected_too():
    results = upsert_accounts(
        [
            {"external_id": "grandchild", "name": "G", "parent": "child"},
            {"external_id": "child", "name": "C", "parent": "root"},
            {"external_id": "root", "name": "R", "arr": "-1"},
            {"external_id": "other", "name": "O"},
        ],
        all_or_nothing=False,
    )
    assert _statuses(results) == ["rejected", "rejected", "rejected", "created"]
    assert results[0].errors == {"parent": ["The parent (item 1) was rejected."]}
    assert results[1].errors == {"parent": ["The parent (item 2) was rejected."]}


def test_it_refuses_more_than_the_maximum_number_of_items():
    items = [{"external_id": f"a{i}", "name": "A"} for i in range(MAX_ITEMS + 1)]
    with pytest.raises(UpsertError, match=f"at most 5000 items per request, got {MAX_ITEMS + 1}"):
        upsert_accounts(items)


def test_it_marks_every_written_account_dirty():
    unchanged = AccountFactory(external_id="same", plan="Growth")
    updated = AccountFactory(external_id="old", plan="Growth")
    results = upsert_accounts(
        [
            {"external_id": "same", "plan": "Growth"},
            {"external_id": "old", "plan": "Scale"},
            {"external_id": "new", "name": "New"},
        ]
    )
    assert _dirty_ids() == {updated.pk, results[2].id}
    assert unchanged.pk not in _dirty_ids()


@pytest.mark.postgres  # SQLite caps Django's insert batches at 999 parameters
@pytest.mark.parametrize("n", [10, 1000])
def test_the_query_count_does_not_grow_with_the_batch(n, django_assert_max_num_queries):
    UserFactory(username="maya")
    existing = AccountFactory.create_batch(n)
    contacts = ContactFactory.create_batch(n, account=existing[0])
    accounts = [{"external_id": a.external_id, "plan": "Scale", "owner": "maya"} for a in existing]
    accounts += [
        {"external_id": f"new-{i}", "name": f"New {i}", "parent": f"new-{(i + 1) % n}"}
        for i in range(n)
    ]
    people = [{"external_id": c.external_id, "persona": "admin"} for c in contacts]
    people += [
        {"email": f"p{i}@acme.example", "account": existing[i].external_id} for i in range(n)
    ]

    with django_assert_max_num_queries(10):
        results = upsert_accounts(accounts)
    with django_assert_max_num_queries(10):
        results += upsert_contacts(people)
    assert {result.status for result in results} == {"created", "updated"}


# --- contacts -------------------------------------------------------------------------------


def test_it_creates_a_contact_with_a_lowercased_email():
    account = AccountFactory(external_id="acme")
    [result] = upsert_contacts(
        [
            {
                "external_id": "u1",
                "email": "Ann@Acme.Example",
                "account": "acme",
                "persona": "champion",
                "is_key_contact": True,
                "last_seen_at": "2026-03-01T09:00:00Z",
            }
        ]
    )
    contact = Contact.objects.get()
    assert (result.status, result.id, result.key) == ("created", contact.pk, "u1")
    assert contact.account == account
    assert contact.email == "ann@acme.example"
    assert (contact.persona, contact.is_key_contact) == (Persona.CHAMPION, True)


def test_it_matches_a_contact_by_external_id():
    contact = ContactFactory(external_id="u1", title="")
    [result] = upsert_contacts([{"external_id": "u1", "title": "CTO", "traits": {"team": "x"}}])
    contact.refresh_from_db()
    assert (result.status, result.id) == ("updated", contact.pk)
    assert (contact.title, contact.traits) == ("CTO", {"team": "x"})


def test_it_matches_a_contact_by_account_and_email_ignoring_case():
    contact = ContactFactory(external_id="", email="ann@acme.example", account__external_id="acme")
    results = upsert_contacts([{"email": "ANN@acme.example", "account": "acme", "name": "Ann"}])
    assert (results[0].status, results[0].id, results[0].key) == (
        "updated",
        contact.pk,
        "ann@acme.example",
    )
    assert Contact.objects.get().name == "Ann"


def test_an_external_id_adopts_the_contact_known_by_email():
    contact = ContactFactory(external_id="", email="ann@acme.example", account__external_id="acme")
    [result] = upsert_contacts(
        [{"external_id": "u1", "email": "ann@acme.example", "account": "acme"}]
    )
    contact.refresh_from_db()
    assert (result.status, result.id, contact.external_id) == ("updated", contact.pk, "u1")


def test_it_refuses_an_email_held_by_another_contact_at_the_account():
    ContactFactory(external_id="u1", email="ann@acme.example", account__external_id="acme")
    [result] = upsert_contacts(
        [{"external_id": "u2", "email": "ann@acme.example", "account": "acme"}]
    )
    assert result.errors == {
        "email": ['Another contact at this account has this email (external_id "u1").']
    }


def test_moving_a_contact_marks_both_accounts_dirty():
    contact = ContactFactory(external_id="u1", account__external_id="old")
    new = AccountFactory(external_id="new")
    [result] = upsert_contacts([{"external_id": "u1", "account": "new"}])
    assert result.status == "updated"
    assert _dirty_ids() == {contact.account_id, new.pk}


@pytest.mark.parametrize(
    ("item", "field", "reason"),
    [
        ({"persona": "boss"}, "persona", '"boss" is not one of: admin, end_user, champion'),
        ({"account": "ghost"}, "account", 'No account with the external_id "ghost".'),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"is_active": "maybe"}, "is_active", "Must be a valid boolean."),
        ({"first_seen_at": "yesterday"}, "first_seen_at", "Datetime has wrong format."),
        ({"company": "Acme"}, "company", "Unknown field; allowed: external_id, email, account"),
    ],
)
def test_it_rejects_a_bad_contact_naming_the_field(item, field, reason):
    AccountFactory(external_id="acme")
    [result] = upsert_contacts([{"external_id": "u1", "account": "acme", **item}])
    assert result.status == "rejected"
    assert list(result.errors) == [field]
    assert result.errors[field][0].startswith(reason)


def test_a_contact_needs_an_identity_and_a_new_one_an_account():
    results = upsert_contacts(
        [{"name": "Ann"}, {"email": "ann@acme.example"}, {"external_id": "u9"}]
    )
    assert [result.errors for result in results] == [
        {"external_id": ["Give an external_id, an email, or both."]},
        {"account": ["Required to find a contact by email."]},
        {"account": ["Required for a new contact."]},
    ]


def test_two_items_for_one_contact_are_duplicates():
    ContactFactory(external_id="u1", email="ann@acme.example", account__external_id="acme")
    AccountFactory(external_id="other")
    results = upsert_contacts(
        [
            {"external_id": "u1", "name": "Ann"},
            {"email": "ann@acme.example", "account": "acme", "name": "Annie"},
            {"external_id": "u2", "email": "bob@other.example", "account": "other"},
            {"external_id": "u3", "email": "BOB@other.example", "account": "other"},
            {"external_id": "u1", "title": "CTO"},
        ],
        all_or_nothing=False,
    )
    assert _statuses(results) == ["updated", "rejected", "created", "rejected", "rejected"]
    assert results[1].errors == {"email": ["duplicate of item 0"]}
    assert results[3].errors == {"email": ["duplicate of item 2"]}
    assert results[4].errors == {"external_id": ["duplicate of item 0"]}


def test_contacts_are_all_or_nothing_by_default():
    AccountFactory(external_id="acme")
    results = upsert_contacts(
        [{"external_id": "u1", "account": "acme"}, {"external_id": "u2", "persona": "boss"}]
    )
    assert _statuses(results) == ["skipped", "rejected"]
    assert not Contact.objects.exists()
    assert _dirty_ids() == set()
