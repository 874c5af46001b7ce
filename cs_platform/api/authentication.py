"""How API clients prove who they are: `Authorization: Bearer <token>`."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from cs_platform.models import ApiToken, hash_token

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def authenticate_token(raw: str) -> tuple:
    """(user, token) for a valid raw token, else AuthenticationFailed with the reason."""
    token = (
        ApiToken.objects.select_related("user").filter(token_hash=hash_token(raw.strip())).first()
    )
    if token is None:
        raise AuthenticationFailed("Invalid API token.")
    if token.revoked_at is not None:
        raise AuthenticationFailed("This API token has been revoked.")
    if not token.user.is_active:
        raise AuthenticationFailed("The user of this API token is inactive.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token.user, token


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header: use 'Bearer <token>'.")
        return authenticate_token(parts[1].decode("latin-1"))

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI schema."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (scopes: read, write, ingest, admin).",
        }
