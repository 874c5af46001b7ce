from cs_platform.roles import ADMIN, CSM, user_roles


def roles(request):
    """Expose the user's role to templates (e.g. to show admin-only links)."""
    user_role_names = user_roles(request.user) if hasattr(request, "user") else set()
    return {
        "user_roles": user_role_names,
        "is_cs_admin": ADMIN in user_role_names,
        "is_csm": CSM in user_role_names,
    }
