"""Server time of the dashboard's pages (issue 7: p95 under 200 ms, under 15 queries each).

Three benchmarks, one line per page, selected together with ``--only dashboard_pages``:

- ``dashboard_accounts_list``: ``GET /accounts/`` with filters, search, sort and page varied;
- ``dashboard_account_360``: ``GET /accounts/<pk>/``, a different account each request;
- ``dashboard_portfolio``: ``GET /`` (the CSM's own book; the admin's team scope).

Every page is requested through ``django.test.Client`` in this process (no network: the time is
the view's, with middleware, session, template), ``REQUESTS`` times as the CSM with the biggest
book (their own book: ``book=mine``, their accounts, ``scope=mine``) and as many as the admin
(team scope: every account). ``seconds`` is the p95 of all of them; each role's p50/p95 are
extra fields. Queries per page are counted with ``CaptureQueriesContext`` on an untimed pass
(the first ``COUNTED`` requests of each role, which also warm caches and templates); ``queries``
is the most any of them took.

Floor: the page's main rows alone, one raw SELECT built from the view's own queryset for the same
request (the list's 50 rows of that filter, sort and page; the 360's account row with owner and
journey; the portfolio's accounts-per-colour aggregation of that scope), timed the same way,
alternating with the requests.
"""

import random
import time
from collections import Counter

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count, Sum
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.choices import AccountStatus, TouchModel
from accounts.models import Account
from bench.data import log
from bench.database import vacuum_if_no_autovacuum
from bench.registry import Case, Context, benchmark, group
from bench.runner import peak_mib, percentile
from bench.services import private_queue
from cs_platform import roles
from dashboard import queries
from health.choices import Color
from health.models import AccountHealth
from health.scoring import recompute_all
from journeys.choices import Stage

REQUESTS = 50  # timed requests per role and page (--repeat does not change it)
COUNTED = 10  # untimed requests per role and page counted with CaptureQueriesContext
TARGET_P95 = 0.200
TARGET_QUERIES = 15
SEED = 7
SORT_KEYS = list(queries.SORTS)
PAGES = ("dashboard_accounts_list", "dashboard_account_360", "dashboard_portfolio")
group("dashboard_pages", PAGES)


def list_variants(rng: random.Random, count: int, choices: dict, pages: int, mine: bool):
    """``count`` query strings of the accounts list: a sort (either way), a page, and zero to
    two filters drawn from ``choices`` (field -> values); ``book=mine`` for a CSM."""
    out = []
    for _ in range(count):
        params = {}
        key = rng.choice(SORT_KEYS)
        params["sort"] = key if rng.random() < 0.6 else f"-{key}"
        for field in rng.sample(sorted(choices), rng.choice([0, 0, 1, 1, 2])):
            params[field] = rng.choice(choices[field])
        if rng.random() < 0.5:
            params["page"] = str(rng.randint(1, max(pages, 1)))
        if mine:
            params["book"] = "mine"
        out.append(params)
    return out


def summary(times: list[float]) -> tuple[float, float]:
    return round(percentile(times, 50), 4), round(percentile(times, 95), 4)


# What the pages read that scoring rewrites: every recompute upserts each account's row.
VACUUMED = ("health_accounthealth", "health_healthsnapshot", "health_healthchange",
            "accounts_account", "journeys_accountstage", "playbooks_task")  # fmt: skip


class Pages:
    """What the three page benchmarks share: users, clients, the requests and their floors."""

    def __init__(self, ctx: Context):
        User = get_user_model()
        self.ctx = ctx
        if not AccountHealth.objects.exists():
            log("dashboard_pages: no account is scored yet; recompute_all first")
            with private_queue("bench-pages"):  # colour changes queue playbook tasks
                recompute_all(ctx.as_of)
        vacuum_if_no_autovacuum(VACUUMED, "dashboard_pages")
        self.admin = User.objects.get(username="admin")
        csm_ids = [u.pk for u in User.objects.all() if roles.user_roles(u) == {roles.CSM}]
        books = Counter(
            Account.objects.filter(status=AccountStatus.ACTIVE, owner_id__in=csm_ids)
            .values_list("owner_id", flat=True)
            .order_by()
        )
        if not books:
            raise RuntimeError("dashboard_pages: no CSM owns an active account")
        self.csm = User.objects.get(pk=books.most_common(1)[0][0])
        self.clients = {}
        for role, user in (("csm", self.csm), ("admin", self.admin)):
            client = Client()
            client.force_login(user)  # once: logins are not measured
            self.clients[role] = client
        self.users = {"csm": self.csm, "admin": self.admin}
        rng = random.Random(SEED)
        active = Account.objects.filter(status=AccountStatus.ACTIVE)
        plans = sorted(set(active.values_list("plan", flat=True).order_by()) - {""})
        names = list(active.order_by("id").values_list("name", flat=True)[:200])
        choices = {
            "color": list(Color.values),
            "stage": list(Stage.values),
            "plan": plans or ["none"],
            "touch_model": list(TouchModel.values),
            "renewal_within_days": ["30", "90", "180"],
            "arr_min": ["10000", "50000", "100000"],
            "q": [n.split()[0][:4].lower() for n in names if n.split()] or ["a"],
        }
        n = REQUESTS + COUNTED
        self.requests = {}
        for role, mine in (("csm", True), ("admin", False)):
            scope = active.filter(owner=self.csm) if mine else active
            pages = -(-scope.count() // queries.PAGE_SIZE)
            ids = list(scope.order_by("id").values_list("id", flat=True))
            self.requests[("dashboard_accounts_list", role)] = [
                (reverse("accounts"), params)
                for params in list_variants(rng, n, choices, pages, mine)
            ]
            picks = [ids[i % len(ids)] for i in range(n)] if len(ids) < n else rng.sample(ids, n)
            self.requests[("dashboard_account_360", role)] = [
                (reverse("account-360", args=[pk]), {}) for pk in picks
            ]
            self.requests[("dashboard_portfolio", role)] = [
                (reverse("home"), {"scope": "mine" if mine else "team"})
            ] * n

    # --- floors: the page's main rows, one raw SELECT built from the view's queryset ---------

    def floor_sql(self, page: str, role: str, path: str, params: dict):
        user = self.users[role]
        if page == "dashboard_accounts_list":
            data = QueryDict(mutable=True)
            data.update(params)
            _, accounts = queries.account_list(data, user)
            rows = Paginator(accounts, queries.PAGE_SIZE).get_page(params.get("page"))
            if not rows.object_list:  # an empty page is sliced [0:0], which Django won't run
                return accounts[: queries.PAGE_SIZE].query.sql_with_params()
            return rows.object_list.query.sql_with_params()
        if page == "dashboard_account_360":
            pk = int(path.rstrip("/").rsplit("/", 1)[1])
            qs = Account.objects.select_related("owner", "journey").filter(pk=pk)
            return qs.query.sql_with_params()
        accounts = Account.objects.filter(status=AccountStatus.ACTIVE)
        if params.get("scope") == "mine":
            accounts = accounts.filter(owner=user)
        qs = accounts.values("health__color").annotate(n=Count("id"), arr=Sum("arr"))
        return qs.query.sql_with_params()

    def get(self, role: str, path: str, params: dict):
        response = self.clients[role].get(path, params)
        if response.status_code != 200:
            raise RuntimeError(
                f"GET {path}?{params} as {role} answered {response.status_code}: "
                f"{response.content[:300]!r}"
            )
        return response

    def case(self, page: str) -> Case:
        def custom(repeat: int) -> dict:
            counted = {}
            for role in ("csm", "admin"):
                counts = []
                for path, params in self.requests[(page, role)][:COUNTED]:
                    with CaptureQueriesContext(connection) as captured:
                        self.get(role, path, params)
                    counts.append(len(captured))
                counted[role] = counts
            times = {"csm": [], "admin": []}
            floors = []
            for index in range(COUNTED, COUNTED + REQUESTS):
                for role in ("csm", "admin"):
                    path, params = self.requests[(page, role)][index]
                    sql, sql_params = self.floor_sql(page, role, path, params)
                    started = time.perf_counter()
                    with connection.cursor() as cursor:
                        cursor.execute(sql, sql_params)
                        cursor.fetchall()
                    floors.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    self.get(role, path, params)
                    times[role].append(time.perf_counter() - started)
            every = times["csm"] + times["admin"]
            p50, p95 = summary(every)
            queries_max = max(counted["csm"] + counted["admin"])
            path, params = self.requests[(page, "admin")][0]
            fields = {
                "seconds": p95,
                "floor_seconds": percentile(floors, 95),
                "peak_mib": round(peak_mib(lambda: self.get("admin", path, params)), 3),
                "repeat": len(every),
                "p50": p50,
                "p95": p95,
                "max": round(max(every), 4),
                "queries": queries_max,
                "floor_p50": round(percentile(floors, 50), 6),
                "floor_p95": round(percentile(floors, 95), 6),
                "csm": self.csm.username,
                "csm_accounts": Account.objects.filter(
                    status=AccountStatus.ACTIVE, owner=self.csm
                ).count(),
            }
            for role in ("csm", "admin"):
                role_p50, role_p95 = summary(times[role])
                fields[f"{role}_p50"] = role_p50
                fields[f"{role}_p95"] = role_p95
                fields[f"{role}_queries"] = max(counted[role])
                fields[f"{role}_queries_min"] = min(counted[role])
            fields.update(
                requests=len(every),
                target_p95=TARGET_P95,
                target_queries=TARGET_QUERIES,
                p95_vs_target=round(p95 / TARGET_P95, 3),
                meets_target=p95 < TARGET_P95 and queries_max < TARGET_QUERIES,
            )
            return fields

        return Case(custom=custom)


_SHARED: dict = {}


def shared(ctx: Context) -> Pages:
    if _SHARED.get("ctx") != ctx:
        _SHARED.update(ctx=ctx, pages=Pages(ctx))
    return _SHARED["pages"]


@benchmark("dashboard_accounts_list")
def dashboard_accounts_list(ctx: Context) -> Case:
    return shared(ctx).case("dashboard_accounts_list")


@benchmark("dashboard_account_360")
def dashboard_account_360(ctx: Context) -> Case:
    return shared(ctx).case("dashboard_account_360")


@benchmark("dashboard_portfolio")
def dashboard_portfolio(ctx: Context) -> Case:
    return shared(ctx).case("dashboard_portfolio")
