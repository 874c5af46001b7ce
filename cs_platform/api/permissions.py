"""Who may call an endpoint: a token needs the endpoint's scope, a browser session a role."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from cs_platform import roles
from cs_platform.models import ApiToken, Scope, allowed_scopes

# What a signed-in person may do through the API with their session, by role.
SESSION_SCOPES = {
    roles.ADMIN: set(Scope.values),
    roles.CSM: {Scope.READ, Scope.WRITE},
    roles.VIEWER: {Scope.READ},
}


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
        granted = set().union(*(SESSION_SCOPES[r] for r in roles.user_roles(request.user)))
        return bool(granted & needed)
