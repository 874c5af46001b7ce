"""Who may call an endpoint, and on which accounts.

A token needs the endpoint's scope, and can do no more than its user's role allows; a browser
session has its role's scopes. On top of that a CSM changes only the accounts of their own
book (and what belongs to them); everyone reads everything; admins change anything.
"""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import Account
from cs_platform import roles
from cs_platform.models import ApiToken, Scope, allowed_scopes

# Writes to configuration that acts on every account (scorecards, playbooks): admin scope.
ADMIN_WRITES = {m: {Scope.ADMIN} for m in ("POST", "PUT", "PATCH", "DELETE")}


def required_scopes(request, view) -> set[str]:
    """A view may set ``scopes_by_method = {"POST": {"ingest"}}``; default: read or write."""
    declared = getattr(view, "scopes_by_method", {})
    if request.method in declared:
        return set(declared[request.method])
    return {Scope.READ} if request.method in SAFE_METHODS else {Scope.WRITE}


class HasScope(BasePermission):
    message = "This token or role does not allow this request."

    def has_permission(self, request, view):
        needed = required_scopes(request, view)
        if isinstance(request.auth, ApiToken):
            # A token can do no more than its user's current role allows: demoting the user
            # narrows every token they issued.
            role_allows = allowed_scopes(request.auth.user)
            ok = any(request.auth.has_scope(s) and s in role_allows for s in needed)
            if not ok:
                self.message = f"This token lacks the {' or '.join(sorted(needed))} scope."
            return ok
        if not request.user or not request.user.is_authenticated:
            return False
        return bool(allowed_scopes(request.user) & needed)

    def has_object_permission(self, request, view, obj):
        if request.method not in SAFE_METHODS:
            # Objects that belong to no account (scorecards, playbooks) are guarded by their
            # views, which admit admins only.
            account = obj if isinstance(obj, Account) else getattr(obj, "account", None)
            check_book(request.user, account)
        return True


def is_admin(user) -> bool:
    return roles.ADMIN in roles.user_roles(user)


def check_book(user, account) -> None:
    """Refuse a change to an account outside a CSM's book (admins may change any)."""
    if account is not None and not is_admin(user) and account.owner_id != user.pk:
        raise PermissionDenied(
            f"{account.name} is not in your book: ask its owner or an admin to change it."
        )


def require_admin(user, what: str) -> None:
    if not is_admin(user):
        raise PermissionDenied(f"Only admins {what}.")
