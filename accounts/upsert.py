"""Create-or-update of accounts and contacts in bulk, with a result per item.

The bulk API, Segment identify/group and the CSV import all write customer data through here,
so every path validates alike and marks the same accounts for health recompute. The work is
set-based: items are validated in plain Python, references are resolved with one query per
kind, and rows are written with bulk_create/bulk_update, so a batch of 5,000 costs about as
many queries as a batch of 10.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, models, transaction
from django.db.models import Max, Q
from django.db.models.functions import Lower
from django.utils import timezone
from rest_framework import serializers

from accounts.choices import AccountStatus, ContractSource, Persona, TouchModel
from accounts.dirty import mark_dirty
from accounts.models import Account, Contact, ContractChange

MAX_ITEMS = 5000
BATCH_SIZE = 1000
NON_FIELD = "non_field_errors"
_MAX_INT = 2_147_483_647  # PositiveIntegerField's upper bound on every backend


def retry_on_conflict(upsert, *args, attempts: int = 3, **kwargs):
    """Run an upsert in its own transaction, again if a concurrent writer won a unique key.

    Two requests creating the same new external id at once: the loser's IntegrityError would
    be a 500; on the next pass the winner's row is committed and simply gets updated.
    """
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return upsert(*args, **kwargs)
        except IntegrityError:
            if attempt == attempts - 1:
                raise


class UpsertError(ValueError):
    """The request as a whole is unacceptable (not a list, too many items)."""


@dataclass
class ItemResult:
    index: int  # position in the input list
    status: str  # "created" | "updated" | "unchanged" | "rejected" | "skipped"
    id: int | None  # primary key when written/existing
    key: str  # external_id (or email for contacts without one)
    errors: dict[str, list[str]] = field(default_factory=dict)  # field -> reasons when rejected


def _text(max_length=255, **kwargs):
    return serializers.CharField(max_length=max_length, **kwargs)


def _optional_text(max_length=255):
    # None clears the value; the model stores "no value" as "" for these columns.
    return serializers.CharField(max_length=max_length, allow_blank=True, allow_null=True)


def _choice(choices):
    allowed = ", ".join(choices.values)
    return serializers.ChoiceField(
        choices.choices,
        error_messages={"invalid_choice": f'"{{input}}" is not one of: {allowed}.'},
    )


def _count(**kwargs):
    return serializers.IntegerField(min_value=0, max_value=_MAX_INT, **kwargs)


ACCOUNT_FIELDS = {
    "external_id": _text(),
    "name": _text(),
    "domain": _optional_text(),
    "parent": _text(allow_null=True),
    "industry": _optional_text(100),
    "employee_count": _count(allow_null=True),
    "plan": _optional_text(100),
    "arr": serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0),
    "currency": serializers.RegexField(
        r"^[A-Za-z]{3}$", error_messages={"invalid": "Must be a 3-letter ISO 4217 code."}
    ),
    "licenses_purchased": _count(),
    "touch_model": _choice(TouchModel),
    "owner": _text(allow_null=True),
    "contract_start": serializers.DateField(allow_null=True),
    "renewal_date": serializers.DateField(allow_null=True),
    "status": _choice(AccountStatus),
    "churned_at": serializers.DateTimeField(allow_null=True),
    "traits": serializers.DictField(),
}

CONTACT_FIELDS = {
    "external_id": _text(allow_blank=True),
    "email": serializers.EmailField(max_length=254, allow_blank=True),
    "account": _text(),
    "name": _optional_text(),
    "title": _optional_text(),
    "persona": _choice(Persona),
    "is_key_contact": serializers.BooleanField(),
    "is_active": serializers.BooleanField(),
    "first_seen_at": serializers.DateTimeField(allow_null=True),
    "last_seen_at": serializers.DateTimeField(allow_null=True),
    "traits": serializers.DictField(),
}

_NORMALISE = {"currency": str.upper, "email": str.lower}


@dataclass
class _Item:
    """One input item on its way through validation, resolution and writing."""

    result: ItemResult
    values: dict[str, Any]  # validated values, by item key
    obj: models.Model | None = None  # the row to write, once resolved
    changed: list[str] = field(default_factory=list)  # attributes that differ from the row
    # Contacts only: the (account id, email) the contact will have, and the account it leaves.
    target: tuple[int, str] | None = None
    previous_account_id: int | None = None
    # Accounts only: the ARR and renewal date before this item changed them.
    terms_before: tuple[Any, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.result.errors

    def reject(self, key: str, reason: str) -> None:
        self.result.errors.setdefault(key, []).append(reason)


def upsert_accounts(
    items: list[dict],
    *,
    all_or_nothing: bool = True,
    source: str = ContractSource.API,
    moments: dict[str, datetime] | None = None,
) -> list[ItemResult]:
    """Create or update accounts by external_id; only the keys present are changed.

    ``parent`` may name an existing account or another item of the batch, before or after
    this one. With ``all_or_nothing`` one rejected item means nothing is written. Every new
    account and every change of ARR or renewal date is recorded as a ContractChange from
    ``source`` (one bulk insert for the batch), dated now or, for an external_id in
    ``moments``, when the client says it happened (see ``_change_moments``).
    """
    batch = _validate(items, ACCOUNT_FIELDS, Account)
    for item in batch:
        item.result.key = item.values.get("external_id", "")
        if not item.result.key and not item.result.errors.keys() & {"external_id", NON_FIELD}:
            item.reject("external_id", "This field is required.")
    _reject_duplicates(batch, lambda item: ("external_id", item.result.key or None))

    with transaction.atomic():
        existing = _locked(Account.objects).in_bulk(
            _given(batch, "external_id", "parent"), field_name="external_id"
        )
        owners = _resolve_owners(_given(batch, "owner"))
        in_batch = {}  # external_id -> the (first) item that creates or updates it
        for item in batch:
            in_batch.setdefault(item.result.key, item)
        now = timezone.now()
        pending_parents = []  # (child, parent) items where the parent is created in this batch
        for item in batch:
            account = existing.get(item.result.key)
            item.result.id = account.pk if account else None
            if item.ok:
                parent = _build_account(item, account, existing, owners, in_batch, now)
                if parent is not None:
                    pending_parents.append((item, parent))
        _reject_orphans(pending_parents)

        accepted = _accepted(batch, all_or_nothing)
        created = _create(Account, accepted)
        for child, parent in pending_parents:
            if child.result.status in ("created", "updated"):
                child.obj.parent_id = parent.obj.pk
            if child.result.status == "created":
                child.changed = ["parent_id"]  # the parent had no id when the child was inserted
        _update(Account, accepted, now)
        _record_contract_changes(accepted, source, moments, now)
        mark_dirty(item.obj.pk for item in accepted if item.result.status != "unchanged")
    return _results(batch, created)


def upsert_contacts(items: list[dict], *, all_or_nothing: bool = True) -> list[ItemResult]:
    """Create or update contacts, matched by external_id, else by (account, email).

    A contact known only by email (no external_id yet) is adopted by an item that brings
    one, so a CSV-imported person and the same person identified by Segment stay one row.
    """
    batch = _validate(items, CONTACT_FIELDS, Contact)
    for item in batch:
        values = item.values
        item.result.key = values.get("external_id") or values.get("email", "")
        if item.result.errors.keys() & {"external_id", "email", NON_FIELD}:
            continue  # already rejected for what identifies it
        if not item.result.key:
            item.reject("external_id", "Give an external_id, an email, or both.")
        elif not values.get("external_id") and "account" not in values:
            item.reject("account", "Required to find a contact by email.")
    _reject_duplicates(batch, _contact_identity)

    with transaction.atomic():
        account_ids = dict(
            Account.objects.filter(external_id__in=_given(batch, "account")).values_list(
                "external_id", "pk"
            )
        )
        by_external_id = {
            contact.external_id: contact
            for contact in _locked(Contact.objects).filter(
                external_id__in=_given(batch, "external_id")
            )
        }
        for item in batch:
            _resolve_contact_account(item, account_ids, by_external_id)
        by_email = _contacts_by_email(item.target for item in batch if item.ok and item.target)
        now = timezone.now()
        claimed = {}  # contact pk or (account id, email) -> index of the item that claimed it
        for item in batch:
            if item.ok:
                _build_contact(item, by_email, claimed)

        accepted = _accepted(batch, all_or_nothing)
        created = _create(Contact, accepted)
        _update(Contact, accepted, now)
        mark_dirty(
            account_id
            for item in accepted
            if item.result.status != "unchanged"
            for account_id in (item.obj.account_id, item.previous_account_id)
        )
    return _results(batch, created)


def _locked(manager):
    """The rows an upsert reads to change, locked in id order with FOR NO KEY UPDATE.

    NO KEY UPDATE, not FOR UPDATE: an upsert changes no key, and FOR UPDATE also blocks the
    FOR KEY SHARE that PostgreSQL's foreign-key checks take, which a concurrent ingest takes
    at its commit, row by row in its events' order: its lock and ours then crossed in a
    deadlock (issue 14). Id order: two upserts of the same rows wait instead of crossing.
    """
    return manager.select_for_update(no_key=True).order_by("pk")


# --- validation -----------------------------------------------------------------------------


def _validate(items, fields, model) -> list[_Item]:
    if not isinstance(items, list):
        raise UpsertError("items must be a list")
    if len(items) > MAX_ITEMS:
        raise UpsertError(f"at most {MAX_ITEMS} items per request, got {len(items)}")
    return [_validate_item(index, raw, fields, model) for index, raw in enumerate(items)]


def _validate_item(index, raw, fields, model) -> _Item:
    item = _Item(ItemResult(index, "rejected", None, ""), {})
    if not isinstance(raw, dict):
        item.reject(NON_FIELD, f"Expected an object, got {type(raw).__name__}.")
        return item
    for key, value in raw.items():
        spec = fields.get(key)
        if spec is None:
            item.reject(key, f"Unknown field; allowed: {', '.join(fields)}.")
            continue
        try:
            # DRF would read 42 as "42"; a wrong type in JSON is a mistake worth reporting.
            if isinstance(spec, serializers.CharField) and not isinstance(value, str | None):
                raise serializers.ValidationError("Not a valid string.")
            value = spec.run_validation(value)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, list) else [exc.detail]
            item.result.errors[key] = [str(reason) for reason in detail]
            continue
        if _has_nul(value):
            item.reject(key, "Contains a NUL character (\\u0000), which cannot be stored.")
            continue
        if value is None and not model._meta.get_field(key).null:
            value = ""
        item.values[key] = _NORMALISE[key](value) if key in _NORMALISE else value
    return item


def _has_nul(value) -> bool:
    """PostgreSQL stores no NUL in text or JSON; say so instead of failing the whole batch."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _given(batch, *keys) -> set:
    """Every non-empty value the batch gives for these keys: what one query must look up."""
    return {item.values[key] for item in batch for key in keys if item.values.get(key)}


def _reject_duplicates(batch, identity) -> None:
    """Reject every item that names the same row as an earlier one: "duplicate of item N"."""
    first = {}
    for item in batch:
        key, ident = identity(item)
        if ident is None:
            continue
        if ident in first:
            item.reject(key, f"duplicate of item {first[ident]}")
        else:
            first[ident] = item.result.index


# --- accounts -------------------------------------------------------------------------------


def _resolve_owners(refs: set[str]) -> dict[str, int | str]:
    """Username or email (case-insensitive) -> user id, or the reason it names nobody."""
    if not refs:
        return {}
    lowered = {ref.lower() for ref in refs}
    users = (
        get_user_model()
        .objects.annotate(email_lower=Lower("email"))
        .filter(Q(username__in=refs) | Q(email_lower__in=lowered))
        .values_list("pk", "username", "email_lower")
    )
    by_username, by_email = {}, defaultdict(list)
    for pk, username, email in users:
        by_username[username] = pk
        by_email[email].append(pk)
    resolved = {}
    for ref in refs:
        matches = by_email[ref.lower()]
        if ref in by_username:
            resolved[ref] = by_username[ref]
        elif len(matches) == 1:
            resolved[ref] = matches[0]
        elif matches:
            resolved[ref] = f'Several users have the email "{ref}"; give the username.'
        else:
            resolved[ref] = f'No user with the username or email "{ref}".'
    return resolved


def _build_account(item, account, existing, owners, in_batch, now) -> _Item | None:
    """Resolve the item into ``item.obj``; return the batch item of a parent yet to be created."""
    values = dict(item.values)
    if account is None:
        if "name" not in values:
            item.reject("name", "Required for a new account.")
        account = Account()
    pending_parent = None
    if "owner" in values:
        owner = values.pop("owner")
        values["owner_id"] = owners[owner] if owner else None
        if isinstance(values["owner_id"], str):  # the reason the owner is unknown
            item.reject("owner", values["owner_id"])
    if "parent" in values:
        ref = values.pop("parent")
        parent = existing.get(ref)
        if ref == item.result.key:
            item.reject("parent", "An account cannot be its own parent.")
        elif parent is not None or ref is None:
            values["parent_id"] = parent.pk if parent else None
        elif ref in in_batch:
            pending_parent = in_batch[ref]
        else:
            item.reject("parent", f'No account with the external_id "{ref}".')

    status = values.get("status", account.status)
    if status == AccountStatus.CHURNED:
        values["churned_at"] = values.get("churned_at") or account.churned_at or now
    elif values.get("churned_at"):
        item.reject("churned_at", "An active account has no churn date; set status to churned.")
    else:
        values["churned_at"] = None
    start = values.get("contract_start", account.contract_start)
    renewal = values.get("renewal_date", account.renewal_date)
    if start and renewal and renewal < start:
        item.reject("renewal_date", f"The renewal date precedes the contract start ({start}).")

    if item.ok:
        item.obj = account
        if account.pk is not None:
            item.terms_before = (account.arr, account.renewal_date)
        item.changed = _assign(account, values)
        if pending_parent:
            item.changed.append("parent_id")  # set once the parent has been created
    return pending_parent


def _change_moments(items, moments: dict | None, now) -> dict:
    """When each item's contract change happened (account pk -> moment): the client's moment
    (a Segment group call's timestamp: a replayed history dates each renewal and ARR change
    when it was made) held between the account's latest recorded change and now; items
    without one are left out (dated now). An older message arriving late is dated after the
    changes already recorded, so the history's latest change is always the current terms."""
    given = {
        item.obj.pk: moments[item.result.key]
        for item in items
        if moments and item.result.key in moments
    }
    updated = [
        item.obj.pk for item in items if item.obj.pk in given and item.result.status == "updated"
    ]
    latest = dict(
        ContractChange.objects.filter(account_id__in=updated)
        .values("account_id")
        .annotate(at=Max("changed_at"))
        .values_list("account_id", "at")
        if updated
        else []
    )
    return {pk: min(max(at, latest.get(pk, at)), now) for pk, at in given.items()}


def _record_contract_changes(accepted, source, moments: dict | None, now) -> None:
    """One ContractChange per new account and per change of ARR or renewal date: one insert
    (and, for client moments of updated accounts, one query for their latest change)."""
    changing = []
    for item in accepted:
        if item.result.status == "created":
            changing.append((item, (None, None)))
        elif item.result.status == "updated" and {"arr", "renewal_date"} & set(item.changed):
            changing.append((item, item.terms_before))
    at = _change_moments([item for item, _ in changing], moments, now)
    changes = [
        ContractChange(
            account_id=item.obj.pk,
            changed_at=at.get(item.obj.pk, now),
            arr_before=before[0],
            arr_after=item.obj.arr,
            renewal_date_before=before[1],
            renewal_date_after=item.obj.renewal_date,
            source=source,
        )
        for item, before in changing
    ]
    ContractChange.objects.bulk_create(changes, batch_size=BATCH_SIZE)


def _reject_orphans(pending_parents) -> None:
    """A child whose new parent was rejected cannot be written either (nor can its children)."""
    children = defaultdict(list)
    for child, parent in pending_parents:
        children[parent.result.index].append((child, parent))
    queue = [parent for _, parent in pending_parents if not parent.ok]
    while queue:
        for child, parent in children.pop(queue.pop().result.index, []):
            if child.ok:
                child.reject("parent", f"The parent (item {parent.result.index}) was rejected.")
                queue.append(child)


# --- contacts -------------------------------------------------------------------------------


def _contact_identity(item):
    external_id, email = item.values.get("external_id"), item.values.get("email")
    if external_id:
        return "external_id", ("id", external_id)
    return "email", ("email", item.values.get("account"), email) if email else None


def _resolve_contact_account(item, account_ids, by_external_id) -> None:
    """Find the item's account and its contact by external_id; note what email to look up."""
    if not item.ok:
        return
    contact = by_external_id.get(item.values.get("external_id"))
    if contact:
        item.result.id = contact.pk
    if "account" in item.values:
        account_id = account_ids.get(item.values["account"])
        if account_id is None:
            item.reject("account", f'No account with the external_id "{item.values["account"]}".')
            return
    elif contact:
        account_id = contact.account_id
    else:
        item.reject("account", "Required for a new contact.")
        return
    item.obj = contact
    item.values["account_id"] = account_id
    email = item.values.get("email", contact.email.lower() if contact else "")
    if email:
        item.target = (account_id, email)


def _contacts_by_email(targets) -> dict[tuple[int, str], Contact]:
    targets = set(targets)
    if not targets:
        return {}
    rows = (
        _locked(Contact.objects)
        .annotate(email_lower=Lower("email"))
        .filter(
            account_id__in={account_id for account_id, _ in targets},
            email_lower__in={email for _, email in targets},
        )
    )
    return {(row.account_id, row.email_lower): row for row in rows}


def _build_contact(item, by_email, claimed) -> None:
    contact = item.obj
    holder = by_email.get(item.target)
    if contact is None and holder is not None:
        if item.values.get("external_id") and holder.external_id:
            item.reject(
                "email",
                f"Another contact at this account has this email "
                f'(external_id "{holder.external_id}").',
            )
            return
        contact = holder  # found by email, or adopted by the external_id it now brings
        item.result.id = contact.pk
    elif holder is not None and holder.pk != contact.pk:
        item.reject("email", "Another contact at this account has this email.")
        return
    # Two items must not write the same row, nor give two rows the same email at one account.
    claims = [(_contact_identity(item)[0], contact and contact.pk), ("email", item.target)]
    for key, claim in claims:
        if claim is not None and claimed.setdefault(claim, item.result.index) != item.result.index:
            item.reject(key, f"duplicate of item {claimed[claim]}")
            return
    if contact is None:
        contact = Contact()
    item.previous_account_id = contact.account_id if contact.pk else None
    values = {k: v for k, v in item.values.items() if k != "account"}
    item.obj = contact
    item.changed = _assign(contact, values)


# --- writing --------------------------------------------------------------------------------


def _assign(obj, values) -> list[str]:
    """Set attributes (traits are merged); return the names of those whose value changed."""
    changed = []
    for attr, value in values.items():
        if attr == "traits":
            value = {**obj.traits, **value}
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed.append(attr)
    return changed


def _accepted(batch, all_or_nothing) -> list[_Item]:
    """The items to write, each with its status; none when one rejection blocks the batch."""
    accepted = [item for item in batch if item.ok]
    if all_or_nothing and len(accepted) < len(batch):
        for item in accepted:
            item.result.status = "skipped"
        return []
    for item in accepted:
        if item.obj.pk is None:
            item.result.status, item.changed = "created", []
        else:
            item.result.status = "updated" if item.changed else "unchanged"
    return accepted


def _create(model, accepted) -> list[_Item]:
    created = [item for item in accepted if item.result.status == "created"]
    model.objects.bulk_create([item.obj for item in created], batch_size=BATCH_SIZE)
    return created


def _update(model, accepted, now) -> None:
    """bulk_update the changed attributes, then stamp updated_at (auto_now skips bulk_update).

    The stamp is one plain UPDATE: as a bulk_update field it would cost a CASE branch per row.
    """
    rows = [item.obj for item in accepted if item.changed]
    if rows:
        fields = sorted({attr for item in accepted for attr in item.changed})
        model.objects.bulk_update(rows, fields, batch_size=BATCH_SIZE)
        model.objects.filter(pk__in=[row.pk for row in rows]).update(updated_at=now)


def _results(batch, created) -> list[ItemResult]:
    for item in created:
        item.result.id = item.obj.pk
    return [item.result for item in batch]
