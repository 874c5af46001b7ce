from django.contrib import messages
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cs_platform.forms import TokenForm
from cs_platform.models import ApiToken, TokenError
from cs_platform.roles import ADMIN, role_required


@require_GET
def healthz(request):
    """Liveness and database reachability, for docker-compose and load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@role_required(ADMIN)
def token_list(request):
    """Admins issue and revoke API tokens; a new token is shown once, right after creation."""
    form = TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            token, new_token = ApiToken.issue(
                data["user"], data["name"], data["scopes"], data["rate_limit_per_minute"]
            )
        except TokenError as exc:
            field, _, reason = str(exc).partition(": ")
            form.add_error(field if field in form.fields else None, reason)
        else:
            messages.success(request, f"Token {token.name!r} created. Copy it now.")
            form = TokenForm()
    tokens = ApiToken.objects.select_related("user").order_by("revoked_at", "-created_at")
    return render(
        request, "cs_platform/tokens.html", {"form": form, "tokens": tokens, "new_token": new_token}
    )


@require_POST
@role_required(ADMIN)
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk)
    token.revoke()
    messages.success(request, f"Token {token.name!r} revoked.")
    return redirect("token-list")
