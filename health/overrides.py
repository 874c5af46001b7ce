"""Manual overrides of the computed colour: set, end, and read the active ones.

An override never changes the computed score or its history; it is shown next to it and
ends by itself at its expiry. Every override stays stored as the audit of who said what.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from health.choices import Color
from health.models import CsmSentiment, HealthOverride


@transaction.atomic
def set_override(account, color: str, reason: str, expires_at: datetime, by) -> HealthOverride:
    now = timezone.now()
    if color not in Color.values:
        raise ValidationError({"color": f"Choose one of {', '.join(Color.values)}."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the computed colour is wrong."})
    if expires_at <= now:
        raise ValidationError({"expires_at": "Must be in the future: an override always ends."})
    # The one open override of the account (expired or not) is closed as replaced.
    HealthOverride.objects.select_for_update().filter(
        account=account, ended_at__isnull=True
    ).update(ended_at=now, ended_by=by, end_reason="replaced")
    return HealthOverride.objects.create(
        account=account, color=color, reason=reason.strip(), expires_at=expires_at, created_by=by
    )


def end_override(account, by) -> int:
    now = timezone.now()
    return HealthOverride.objects.filter(
        account=account, ended_at__isnull=True, expires_at__gt=now
    ).update(ended_at=now, ended_by=by, end_reason="cancelled")


def active_overrides(account_ids, now=None) -> dict[int, HealthOverride]:
    """The override in force per account: open and not past its expiry (one query)."""
    now = now or timezone.now()
    return {
        o.account_id: o
        for o in HealthOverride.objects.filter(
            account_id__in=list(account_ids), ended_at__isnull=True, expires_at__gt=now
        ).select_related("created_by")
    }


def record_sentiment(account, sentiment: int, note: str, by) -> CsmSentiment:
    if sentiment not in range(1, 6):
        raise ValidationError({"sentiment": "Must be from 1 (very negative) to 5 (very positive)."})
    return CsmSentiment.objects.create(account=account, sentiment=sentiment, note=note, set_by=by)
