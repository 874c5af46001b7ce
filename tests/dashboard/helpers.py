"""Small builders shared by the dashboard page tests (local on purpose: no factories edited)."""

import re
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from health.models import AccountHealth, HealthChange, HealthSnapshot

PASSWORD = "pw-for-tests-only"


def today():
    return timezone.localdate()


def at(day, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def set_health(account, color: str, score: float | None = None, **fields) -> AccountHealth:
    """The account's current score, written directly (the pages only read it)."""
    score = {"green": 85.0, "yellow": 55.0, "red": 20.0}[color] if score is None else score
    defaults = {
        "score": score,
        "color": color,
        "components": [],
        "explanation": f"{color.capitalize()} ({score:.0f}): test score.",
        "as_of": today(),
        "computed_at": timezone.now(),
        **fields,
    }
    health, _ = AccountHealth.objects.update_or_create(account=account, defaults=defaults)
    return health


def change(account, to_color, *, from_color="", explanation="", backfilled=False, when=None):
    return HealthChange.objects.create(
        account=account,
        changed_at=when or timezone.now(),
        from_color=from_color,
        to_color=to_color,
        from_score=None if not from_color else 80.0,
        to_score={"green": 85.0, "yellow": 55.0, "red": 20.0}[to_color],
        explanation=explanation or f"{to_color} because of a test",
        backfilled=backfilled,
    )


def snapshots(account, days: int, start_score: float = 80.0):
    for i in range(days):
        HealthSnapshot.objects.create(
            account=account,
            date=today() - timedelta(days=days - i),
            score=start_score - i,
            color="green" if start_score - i >= 70 else "yellow",
        )


def count_queries(client, url, **kwargs) -> tuple[int, object]:
    """(number of queries, response) of one GET, the response body fully read."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **kwargs)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    return len(ctx.captured_queries), response


def text(response) -> str:
    """The page with tags removed and whitespace collapsed: what a reader sees."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def external_refs(html: str) -> list[str]:
    """src=/href= attributes that point off the server (http, https or protocol-relative)."""
    return [html[m.start() : m.start() + 80] for m in EXTERNAL.finditer(html)]
