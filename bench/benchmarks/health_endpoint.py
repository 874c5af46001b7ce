"""``GET /api/v1/accounts/{id}/health`` under concurrent load over real HTTP, against a trivial
Django JSON view on the same server in the same run (issue 3: at least 0.6 of its rate).

The setup starts gunicorn (as ingest_http's: 2 sync workers, not the gthread workers of
``make run``'s gunicorn.conf.py, on 127.0.0.1, against the bench database) with
``DJANGO_SETTINGS_MODULE=bench.server_settings``:
the app's settings and URLs plus ``/bench/trivial``, a view returning ``{"ok": true}`` without
database, cache or authentication. A read-scoped API token is issued for the demo admin.

Each timed call makes ``REQUESTS`` GETs from ``CLIENT_THREADS`` threads, each thread with its
own ``http.client`` connection (kept alive when the server allows; gunicorn's sync workers
close it after every response, as in production). The subject cycles through the scored
accounts; the floor asks the trivial view as often. Both must answer 200 every time.

``seconds``/``floor_seconds`` are the wall times of one call, so ``ratio`` = trivial rps /
health rps; ``rps_ratio`` = health rps / trivial rps (the issue's "at least 0.6"). The line
also carries ``rps``, ``floor_rps`` and ``queries_per_request``, counted in this process with
CaptureQueriesContext for two different accounts (``queries_constant`` says they were equal).
"""

import http.client
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.choices import AccountStatus
from bench.benchmarks.ingest_http import SERVER_WORKERS, Server
from bench.data import log
from bench.registry import Case, Context, benchmark
from bench.services import private_queue
from cs_platform.models import ApiToken, Scope
from health.models import AccountHealth
from health.scoring import recompute_all

REQUESTS = 1_200  # per timed call, for both subject and floor
CLIENT_THREADS = 4
SEED = 11
HEALTH_PATH = "/api/v1/accounts/{}/health"
TRIVIAL_PATH = "/bench/trivial"


class Load:
    """GETs a list of paths from a few threads, each with a connection of its own."""

    def __init__(self, port: int, headers: dict, threads: int = CLIENT_THREADS):
        self.port = port
        self.headers = headers
        self.threads = threads
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="bench-load")

    def _connection(self) -> http.client.HTTPConnection:
        if not hasattr(self.local, "conn"):
            self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return self.local.conn

    def _get_all(self, paths: list[str]) -> int:
        conn = self._connection()
        for path in paths:
            try:
                conn.request("GET", path, headers=self.headers)
                response = conn.getresponse()
            except (http.client.HTTPException, ConnectionError):
                conn.close()  # a connection the server dropped: once more on a fresh one
                conn.request("GET", path, headers=self.headers)
                response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
            if response.will_close:
                conn.close()  # http.client reconnects on the next request
        return len(paths)

    def get(self, paths: list[str]) -> int:
        slices = [paths[i :: self.threads] for i in range(self.threads)]
        return sum(self.pool.map(self._get_all, slices))

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def count_queries(client: Client, path: str, headers: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, **headers)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]}")
    return len(queries)


@benchmark("health_endpoint_http")
def health_endpoint_http(ctx: Context) -> Case:
    if not AccountHealth.objects.exists():
        log("health_endpoint_http: no account is scored yet; recompute_all first")
        with private_queue("bench-endpoint"):  # colour changes queue playbook tasks
            recompute_all(ctx.as_of)
    ids = list(
        AccountHealth.objects.filter(account__status=AccountStatus.ACTIVE)
        .order_by("account_id")
        .values_list("account_id", flat=True)
    )
    random.Random(SEED).shuffle(ids)
    health_paths = [HEALTH_PATH.format(ids[i % len(ids)]) for i in range(REQUESTS)]
    trivial_paths = [TRIVIAL_PATH] * REQUESTS

    admin = get_user_model().objects.get(username="admin")
    token, raw = ApiToken.issue(
        admin, "bench health_endpoint_http", [Scope.READ], rate_limit_per_minute=100_000_000
    )
    headers = {"Authorization": f"Bearer {raw}", "Accept": "application/json"}

    # Queries per request, in this process: the first request also stamps the token's
    # last_used_at (once a minute), so it is a warm-up; then two different accounts.
    client, meta = Client(), {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    count_queries(client, HEALTH_PATH.format(ids[0]), meta)
    queries = [count_queries(client, HEALTH_PATH.format(i), meta) for i in ids[1:3] or ids[:1]]

    server = Server(env={"DJANGO_SETTINGS_MODULE": "bench.server_settings"})
    try:
        server.wait_ready()
    except BaseException:
        token.delete()
        raise
    load = Load(server.port, headers)

    def run(paths):
        def call():
            try:
                return load.get(paths)
            except Exception as exc:
                raise RuntimeError(f"{exc}\ngunicorn's log ends:\n{server.log_tail()}") from exc

        return call

    def extra(result: dict) -> dict:
        rps = REQUESTS / result["seconds"]
        floor_rps = REQUESTS / result["floor_seconds"]
        return {
            "rps": round(rps, 1),
            "floor_rps": round(floor_rps, 1),
            "rps_ratio": round(rps / floor_rps, 3),
            "requests": REQUESTS,
            "client_threads": CLIENT_THREADS,
            "server_workers": SERVER_WORKERS,
            "queries_per_request": queries[0],
            "queries_constant": len(set(queries)) == 1,
        }

    def teardown():
        try:
            load.close()
        finally:
            server.stop()
            token.delete()

    return Case(subject=run(health_paths), floor=run(trivial_paths), extra=extra, teardown=teardown)
