"""How API clients prove who they are: `Authorization: Bearer <token>`.

Every API request authenticates, so the lookup is kept cheap: one hand-written statement
fetches the token with its user (see cs_platform.api.rows), and each process remembers what
it found for ``TOKEN_CACHE_SECONDS``. Changes made through the models (revoking a token,
editing it, deactivating its user, changing the user's roles) clear what this process
remembers at once; other processes (web workers) see them within ``TOKEN_CACHE_SECONDS``.
"""

import copy
import threading
import time
from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import HTTP_HEADER_ENCODING
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from cs_platform import roles
from cs_platform.api.rows import Columns, Statement
from cs_platform.models import ApiToken, hash_token

# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# How long a process trusts what it read about a token (and its user and roles): the longest
# a revocation made elsewhere takes to reach it.
TOKEN_CACHE_SECONDS = 10.0
TOKEN_CACHE_SIZE = 1_000


@cache
def _token_statement() -> Statement:
    """The token and its user, without the password hash (loaded only if asked for)."""
    user_model = get_user_model()
    token = Columns(ApiToken, "t")
    user = Columns(user_model, "u", exclude=("password",))

    def build(connection, select):
        return (
            f"SELECT {select} FROM {token.table(connection)} INNER JOIN {user.table(connection)}"
            f" ON {user.col(connection, 'id')} = {token.col(connection, 'user_id')}"
            f" WHERE {token.col(connection, 'token_hash')} = %s"
        )

    return Statement([token, user], build)


class _Found:
    """What a process read about one token: field values (not instances, so that no request
    sees another's changes to its objects), the user's roles, and until when to trust it."""

    __slots__ = ("token", "user", "roles", "until")

    def __init__(self, token: list, user: list, held: frozenset, until: float):
        self.token, self.user, self.roles, self.until = token, user, held, until


_found: dict[str, _Found] = {}  # by token hash
_lock = threading.Lock()


def _remember(token_hash: str, found: _Found) -> None:
    with _lock:
        if len(_found) >= TOKEN_CACHE_SIZE:
            now = time.monotonic()
            for key in [k for k, v in _found.items() if v.until <= now]:
                del _found[key]
            if len(_found) >= TOKEN_CACHE_SIZE:
                _found.clear()
        _found[token_hash] = found


def forget_tokens(token_hash: str | None = None, user_ids=None) -> None:
    """Drop what this process remembers: one token, the tokens of some users, or (neither
    given) everything."""
    with _lock:
        if token_hash is None and user_ids is None:
            _found.clear()
            return
        if token_hash is not None:
            _found.pop(token_hash, None)
        if user_ids is not None:
            user_ids = set(user_ids)
            user_id_index = _token_statement().parts[0].attnames.index("user_id")
            for key in [k for k, v in _found.items() if v.token[user_id_index] in user_ids]:
                del _found[key]


def _instances(found: _Found) -> ApiToken:
    token_columns, user_columns = _token_statement().parts
    # Fresh objects for every request; JSON values (scopes) copied, not shared.
    values = [copy.deepcopy(v) if isinstance(v, list | dict) else v for v in found.token]
    token = token_columns.make(DEFAULT_DB_ALIAS, values)
    user = user_columns.make(DEFAULT_DB_ALIAS, list(found.user))
    # roles.user_roles() reads this instead of querying the user's groups again.
    user._cs_roles = set(found.roles)
    ApiToken._meta.get_field("user").set_cached_value(token, user)
    return token


def _lookup(token_hash: str) -> ApiToken | None:
    found = _found.get(token_hash)
    if found is not None and found.until > time.monotonic():
        return _instances(found)
    values = _token_statement().fetch_values([token_hash])
    if values is None:
        forget_tokens(token_hash)
        return None
    (token_values, user_values), _ = values
    token_columns, user_columns = _token_statement().parts
    user = user_columns.make(DEFAULT_DB_ALIAS, list(user_values))
    held = frozenset(roles.user_roles(user))  # no query for a superuser
    found = _Found(token_values, user_values, held, time.monotonic() + TOKEN_CACHE_SECONDS)
    _remember(token_hash, found)
    return _instances(found)


def _stamp_last_used(token: ApiToken, now) -> None:
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    found = _found.get(token.token_hash)
    if found is not None:
        index = _token_statement().parts[0].attnames.index("last_used_at")
        found.token = [*found.token[:index], now, *found.token[index + 1 :]]


def authenticate_token(raw: str) -> tuple:
    """(user, token) for a valid raw token, else AuthenticationFailed with the reason."""
    token = _lookup(hash_token(raw.strip()))
    if token is None:
        raise AuthenticationFailed("Invalid API token.")
    if token.revoked_at is not None:
        raise AuthenticationFailed("This API token has been revoked.")
    if not token.user.is_active:
        raise AuthenticationFailed("The user of this API token is inactive.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        _stamp_last_used(token, now)
    return token.user, token


# --- What clears the tokens this process remembers --------------------------------------


def _token_changed(sender, instance, **kwargs):
    forget_tokens(token_hash=instance.token_hash)


def _user_changed(sender, instance, **kwargs):
    forget_tokens(user_ids=[instance.pk])


def _groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if not action.startswith("post_"):
        return
    if not reverse:
        forget_tokens(user_ids=[instance.pk])
    elif pk_set is None:  # a group's users cleared: whose is not said
        forget_tokens()
    else:
        forget_tokens(user_ids=pk_set)


def _group_changed(sender, **kwargs):
    forget_tokens()


post_save.connect(_token_changed, sender=ApiToken, dispatch_uid="api-token-cache-token-saved")
post_delete.connect(_token_changed, sender=ApiToken, dispatch_uid="api-token-cache-token-gone")
post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="api-token-cache-user")
post_delete.connect(_user_changed, sender=get_user_model(), dispatch_uid="api-token-cache-ugone")
m2m_changed.connect(
    _groups_changed,
    sender=get_user_model().groups.through,
    dispatch_uid="api-token-cache-user-groups",
)
post_save.connect(_group_changed, sender=Group, dispatch_uid="api-token-cache-group")
post_delete.connect(_group_changed, sender=Group, dispatch_uid="api-token-cache-group-gone")


def authorization_header(request) -> bytes:
    """The Authorization header as bytes. DRF's get_authorization_header reads it through
    ``request.headers``, which builds a mapping of every header on each request."""
    value = request.META.get("HTTP_AUTHORIZATION", b"")
    return value.encode(HTTP_HEADER_ENCODING) if isinstance(value, str) else value


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = authorization_header(request).split()
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
