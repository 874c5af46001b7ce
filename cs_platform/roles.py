"""The three roles of the product, as Django groups, and how to ask a user about them.

Admin: everything (scorecards, playbooks, users, tokens). CSM: works their book, reads the
rest. Viewer: read-only. Groups are created by a migration; their permissions are synced
after every migrate so that models added later are covered too.
"""

from django.contrib.auth.models import Group, Permission

ADMIN = "Admin"
CSM = "CSM"
VIEWER = "Viewer"
ALL_ROLES = (ADMIN, CSM, VIEWER)

APP_LABELS = ("accounts", "journeys", "health", "playbooks")
# Apps whose models only the Admin role may see or touch (API tokens).
ADMIN_ONLY_APP_LABELS = ("cs_platform",)

# Models a CSM may create and edit (their day-to-day work); everything else is read-only.
CSM_EDITABLE_MODELS = {
    "accounts": {"contact", "note", "surveyresponse"},
    "journeys": {"stagetransition", "accountstage", "escalation", "handoff", "accountmilestone"},
    "health": {"healthoverride", "csmsentiment"},
    "playbooks": {"task"},
}


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    if user.is_superuser:
        return {ADMIN}
    # Cached on the user object: templates and views ask more than once per request.
    if not hasattr(user, "_cs_roles"):
        user._cs_roles = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    return user._cs_roles


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def sync_role_permissions() -> None:
    """Give each role group the model permissions it stands for (idempotent)."""
    perms = Permission.objects.filter(
        content_type__app_label__in=APP_LABELS + ADMIN_ONLY_APP_LABELS
    ).select_related("content_type")
    admin, viewer, csm = [], [], []
    for perm in perms:
        if perm.content_type.app_label in ADMIN_ONLY_APP_LABELS:
            admin.append(perm)
            continue
        action = perm.codename.split("_", 1)[0]
        model = perm.content_type.model
        admin.append(perm)
        if action == "view":
            viewer.append(perm)
            csm.append(perm)
        elif action in {"add", "change"} and model in CSM_EDITABLE_MODELS.get(
            perm.content_type.app_label, set()
        ):
            csm.append(perm)
    for name, wanted in ((ADMIN, admin), (CSM, csm), (VIEWER, viewer)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(wanted)


def role_required(*allowed: str):
    """View decorator: log in first; then only users holding one of ``allowed`` get in (403)."""
    from functools import wraps

    from django.contrib.auth.views import redirect_to_login
    from django.core.exceptions import PermissionDenied

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *allowed):
                raise PermissionDenied(f"This page is for: {', '.join(allowed)}.")
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator
