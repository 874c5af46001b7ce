"""The reads behind the dashboard pages: a fixed, small number of queries per page.

Every page aggregates in SQL (counts, sums, one UNION for a whole timeline) instead of
looping over accounts, so a 10,000-account portfolio costs the same queries as ten.
"""

from datetime import timedelta

import django_filters
from django.db.models import CharField, Count, F, Q, Sum, Value
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from accounts.api.filters import AccountFilter
from accounts.choices import AccountStatus, NoteKind
from accounts.models import Account, DailyAccountUsage, Note, SurveyResponse
from health.choices import Color
from health.models import AccountHealth, HealthChange, HealthSnapshot
from journeys.choices import Stage
from journeys.models import AccountMilestone, Escalation, StageTransition
from playbooks.choices import TaskStatus
from playbooks.models import PlaybookRun, Task

PAGE_SIZE = 50
AT_RISK_DAYS = 90
# Sortable columns of the accounts list: ?sort=name, ?sort=-arr ...
SORTS = {
    "name": "name",
    "plan": "plan",
    "arr": "arr",
    "touch": "touch_model",
    "owner": "owner__username",
    "stage": "journey__stage",
    "renewal": "renewal_date",
    "score": "health__score",
}


class AccountListFilter(AccountFilter):
    """The API's account filters plus the list's search, book and sort."""

    q = django_filters.CharFilter(method="search", label="Search name or domain")
    book = django_filters.ChoiceFilter(
        choices=[("mine", "My book"), ("team", "Team")], method="filter_book", empty_label=None
    )
    sort = django_filters.ChoiceFilter(
        choices=[(k, k) for k in SORTS] + [(f"-{k}", f"-{k}") for k in SORTS],
        method="noop",
        empty_label=None,
    )

    class Meta(AccountFilter.Meta):
        fields = [*AccountFilter.Meta.fields, "q", "book", "sort"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))

    def filter_book(self, queryset, name, value):
        return queryset.filter(owner=self.request.user) if value == "mine" else queryset

    def noop(self, queryset, name, value):
        return queryset


def account_list(params, user):
    """(filterset, ordered queryset) for the accounts list and its CSV export."""
    data = params.copy()
    data.setdefault("status", AccountStatus.ACTIVE)
    request = type("R", (), {"user": user})()
    filterset = AccountListFilter(
        data, queryset=Account.objects.select_related("owner", "journey", "health"), request=request
    )
    if not filterset.is_valid():
        return filterset, Account.objects.none()
    sort = filterset.form.cleaned_data.get("sort") or "name"
    column = SORTS[sort.lstrip("-")]
    order = (
        F(column).desc(nulls_last=True) if sort.startswith("-") else F(column).asc(nulls_last=True)
    )
    return filterset, filterset.qs.order_by(order, "id")


def portfolio(user, scope: str) -> dict:
    """The home page's numbers: colours, at-risk renewals, stages, changes, tasks."""
    today = timezone.localdate()
    accounts = Account.objects.filter(status=AccountStatus.ACTIVE)
    if scope == "mine":
        accounts = accounts.filter(owner=user)
    by_color = {
        row["health__color"] or "": row
        for row in accounts.values("health__color").annotate(n=Count("id"), arr=Sum("arr"))
    }
    colors = [
        {
            "color": value,
            "label": label,
            "count": by_color.get(value, {}).get("n", 0),
            "arr": by_color.get(value, {}).get("arr") or 0,
        }
        for value, label in [*Color.choices, ("", "Not scored yet")]
    ]
    at_risk = (
        accounts.filter(
            renewal_date__gte=today, renewal_date__lte=today + timedelta(days=AT_RISK_DAYS)
        )
        .exclude(health__color=Color.GREEN)
        .select_related("health", "owner")
        .order_by("renewal_date", "id")
    )
    stages = list(
        accounts.values("journey__stage").annotate(n=Count("id")).order_by("journey__stage")
    )
    changes = (
        HealthChange.objects.filter(account__in=accounts)
        .select_related("account")
        .order_by("-changed_at", "-id")[:10]
    )
    tasks = (
        Task.objects.filter(assignee=user, status=TaskStatus.OPEN)
        .filter(Q(due_date__lte=today + timedelta(days=7)) | Q(due_date__isnull=True))
        .select_related("account")
        .order_by(F("due_date").asc(nulls_last=True), "id")[:10]
    )
    return {
        "colors": colors,
        "total": sum(c["count"] for c in colors),
        "at_risk": list(at_risk[:15]),
        "stages": stages,
        "changes": list(changes),
        "tasks": list(tasks),
        "today": today,
    }


def account_health(account) -> tuple[AccountHealth | None, list]:
    health = (
        AccountHealth.objects.select_related("scorecard_version")
        .filter(account_id=account.pk)
        .first()
    )
    since = timezone.localdate() - timedelta(days=90)
    trend = list(
        HealthSnapshot.objects.filter(account=account, date__gte=since)
        .order_by("date")
        .values_list("date", "score", "color")
    )
    return health, trend


def usage_series(account, days: int = 90) -> list:
    since = timezone.localdate() - timedelta(days=days)
    return list(
        DailyAccountUsage.objects.filter(account=account, date__gte=since)
        .order_by("date")
        .values_list("date", "event_count", "active_contacts")
    )


def milestones(account) -> list:
    return list(
        AccountMilestone.objects.filter(account=account)
        .select_related("definition")
        .order_by("due_date", "id")
    )


def _entries(queryset, kind: str, at: str, title, body, who=None):
    """One source of the timeline, shaped to the common columns of the UNION."""
    text = CharField()
    # Each part without its model's default ordering: a UNION orders only as a whole.
    return (
        queryset.order_by()
        .annotate(
            t_kind=Value(kind, output_field=text),
            t_at=F(at),
            t_title=Cast(title, text) if not isinstance(title, Value) else title,
            t_body=Cast(body, text) if not isinstance(body, Value) else body,
            t_who=Coalesce(Cast(who, text), Value("", output_field=text))
            if who
            else Value("", text),
            t_id=F("id"),
        )
        .values_list("t_kind", "t_at", "t_title", "t_body", "t_who", "t_id")
    )


def timeline(account, limit: int = 60) -> list[dict]:
    """Notes, calls, tasks, survey answers, escalations, stage moves and playbook runs of the
    account, newest first, in ONE query (a UNION ALL of the sources)."""
    text = CharField()
    empty = Value("", output_field=text)
    parts = [
        _entries(Note.objects.filter(account=account), "note", "occurred_at", F("kind"), F("body"),
                 F("author__username")),
        _entries(Task.objects.filter(account=account), "task", "created_at", F("title"),
                 F("status"), F("assignee__username")),
        _entries(SurveyResponse.objects.filter(account=account), "survey", "responded_at",
                 F("kind"), Cast("score", text), F("contact__name")),
        _entries(Escalation.objects.filter(account=account), "escalation", "opened_at",
                 F("title"), F("severity"), F("owner__username")),
        _entries(StageTransition.objects.filter(account=account), "stage", "moved_at",
                 F("to_stage"), F("reason"), F("moved_by__username")),
        _entries(PlaybookRun.objects.filter(account=account), "run", "created_at",
                 F("playbook__name"), F("explanation"), empty),
        _entries(HealthChange.objects.filter(account=account, backfilled=False), "health",
                 "changed_at", F("to_color"), F("explanation"), empty),
    ]  # fmt: skip
    first, *rest = parts
    rows = first.union(*rest, all=True).order_by("-t_at")[:limit]
    return [
        {"kind": kind, "at": at, "title": _title(kind, title), "body": body, "who": who, "id": pk}
        for kind, at, title, body, who, pk in rows
    ]


# Stored values shown as words: "call" -> "Call", "nps" -> "NPS answer", "open" task ...
TITLES = {
    "note": dict(NoteKind.choices),
    "survey": {"nps": "NPS answer", "csat": "CSAT answer"},
    "stage": {k: f"Moved to {v.lower()}" for k, v in Stage.choices},
    "health": {k: f"Health turned {v.lower()}" for k, v in Color.choices},
}


def _title(kind: str, value: str) -> str:
    return TITLES.get(kind, {}).get(value, value)


def open_tasks(account) -> list:
    return list(
        Task.objects.filter(account=account, status=TaskStatus.OPEN)
        .select_related("assignee")
        .order_by(F("due_date").asc(nulls_last=True), "id")
    )


def open_escalations(account) -> list:
    return list(Escalation.objects.filter(account=account, resolved_at__isnull=True))
