"""API tokens: hashed at rest, scoped, revocable, with their last use."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from cs_platform import roles

TOKEN_PREFIX = "csp_"


class Scope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    INGEST = "ingest", "Ingest (Segment and event endpoints)"
    ADMIN = "admin", "Admin (everything)"


# The widest scopes a user of each role may give a token.
SCOPES_BY_ROLE = {
    roles.ADMIN: set(Scope.values),
    roles.CSM: {Scope.READ, Scope.WRITE},  # ingestion writes any account: admins' tokens
    roles.VIEWER: {Scope.READ},
}


class TokenError(ValueError):
    """A token cannot be issued as asked (unknown scope, or beyond the user's role)."""


def hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(raw.encode()).hexdigest()


def allowed_scopes(user) -> set[str]:
    return set().union(*(SCOPES_BY_ROLE[r] for r in roles.user_roles(user))) if user else set()


class ApiToken(models.Model):
    """A bearer token for REST and ingestion clients. Only its hash is stored."""

    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'Segment prod'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="Requests made with the token act as this user.",
    )
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell it apart."
    )
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, help_text="read, write, ingest, admin")
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides API_RATE_LIMIT_PER_MINUTE for this token."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user, name: str, scopes, rate_limit_per_minute=None) -> tuple["ApiToken", str]:
        """Create a token; returns it with the raw value, which is shown once and never stored."""
        scopes = sorted({s.strip() for s in scopes if s and s.strip()})
        if not scopes:
            raise TokenError("scopes: give at least one of read, write, ingest, admin")
        unknown = [s for s in scopes if s not in Scope.values]
        if unknown:
            raise TokenError(
                f"scopes: unknown {', '.join(unknown)}; use read, write, ingest, admin"
            )
        beyond = set(scopes) - allowed_scopes(user)
        if beyond:
            raise TokenError(
                f"scopes: {user.username}'s role does not allow {', '.join(sorted(beyond))}"
            )
        if not name.strip():
            raise TokenError("name: must not be empty")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name.strip(),
            prefix=raw[:12],
            token_hash=hash_token(raw),
            scopes=scopes,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
