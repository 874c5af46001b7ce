"""Segment ingestion (POST /v1/batch) through real HTTP into the database, against a bare COPY.

The subject is a gunicorn server (2 sync workers) started for the benchmark on a free port of
127.0.0.1, against the bench database, fed by a few client threads; the floor is one PostgreSQL
``COPY`` of the same number of equivalent rows into the same table. Both are timed for the
same number of events, so ``ratio`` = subject seconds / floor seconds = COPY's events/s /
HTTP's events/s.

Every call writes new rows: message ids carry the call's number, and each call's events fall
on a day of their own, so no call rebuilds roll-ups over a previous call's events. The teardown
deletes every row the benchmark wrote and restores the roll-ups, contacts' first/last seen and
dirty marks it changed.

Payloads are built once, at setup, as templates (JSON bodies, COPY text) with placeholders for
the call number, the day and the current time; a call only substitutes them, so neither side is
billed for building its input.
"""

import base64
import csv
import io
import itertools
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.registry import Case, Context, benchmark

TOTAL_EVENTS = 20_000  # per timed call, for both subject and floor
CLIENT_THREADS = 4
SERVER_WORKERS = 2
SEED = 7
BASE_DIR = Path(__file__).resolve().parents[2]
COLUMNS = (
    "account_id", "contact_id", "name", "occurred_at", "properties", "message_id", "received_at"
)  # fmt: skip
# Placeholders in the templates, replaced by render() on every call.
CALL, DAY, NOW = "@call@", "@day@", "@now@"

# What Segment's libraries send beside the event (the server ignores most of it, but parses it).
LIBRARIES = [("analytics.js", "4.1.0"), ("analytics-node", "6.2.0"), ("analytics-python", "2.3.2")]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) {}/124.0"


@dataclass(frozen=True)
class Person:
    """A contact the events come from, with the account they act in."""

    contact_id: int
    user_id: str  # the contact's external_id (Segment userId)
    account_id: int
    group_id: str  # the account's external_id (Segment context.groupId)
    persona: str = ""


@dataclass(frozen=True)
class EventSpec:
    """One event, sent as a track message by the subject and COPY'd as a row by the floor."""

    index: int
    person: Person
    name: str
    time_of_day: str  # HH:MM:SS.ffffff, on the call's day
    properties: dict


def make_specs(
    people: Sequence[Person],
    count: int,
    names_for: Callable[[str], Sequence[tuple[str, float]]],
    seed: int = SEED,
) -> list[EventSpec]:
    """``count`` events of random people, named as their persona acts, at random times."""
    if not people:
        raise ValueError("no contacts to send events for")
    rng = random.Random(seed)
    specs = []
    for index in range(count):
        person = rng.choice(people)
        choices = names_for(person.persona)
        name = rng.choices([n for n, _ in choices], weights=[w for _, w in choices])[0]
        seconds = rng.randrange(24 * 3600 * 1_000_000)
        clock = (datetime(2000, 1, 1) + timedelta(microseconds=seconds)).strftime("%H:%M:%S.%f")
        properties = {
            "source": "web",
            "path": f"/app/{name.split('_')[0]}/{rng.randrange(1, 5000)}",
            "feature": name.split("_")[0],
            "duration_ms": rng.randrange(20, 20_000),
            "browser": rng.choice(BROWSERS),
            "beta": rng.random() < 0.1,
        }
        specs.append(EventSpec(index, person, name, clock, properties))
    return specs


def message_id(tag: str, side: str, index: int) -> str:
    return f"{tag}-{side}-{CALL}-{index:06d}"


def track_message(spec: EventSpec, tag: str) -> dict:
    """The message analytics.js/analytics-node would send for the event."""
    library, version = LIBRARIES[spec.index % len(LIBRARIES)]
    return {
        "type": "track",
        "messageId": message_id(tag, "http", spec.index),
        "event": spec.name,
        "userId": spec.person.user_id,
        "timestamp": f"{DAY}T{spec.time_of_day}Z",
        "properties": spec.properties,
        "context": {
            "groupId": spec.person.group_id,
            "library": {"name": library, "version": version},
            "ip": f"203.0.113.{spec.index % 250 + 1}",
            "userAgent": USER_AGENT.format(spec.properties["browser"]),
            "locale": "en-US",
        },
    }


def batch_templates(specs: Sequence[EventSpec], batch_size: int, tag: str) -> list[bytes]:
    """The JSON bodies of POST /v1/batch, ``batch_size`` track messages each."""
    if batch_size < 1 or len(specs) % batch_size:
        raise ValueError(f"{len(specs)} events do not split into batches of {batch_size}")
    bodies = []
    for start in range(0, len(specs), batch_size):
        batch = [track_message(spec, tag) for spec in specs[start : start + batch_size]]
        bodies.append(json.dumps({"batch": batch, "sentAt": NOW}).encode())
    return bodies


def copy_rows(specs: Sequence[EventSpec], tag: str) -> list[tuple]:
    """The floor's rows, as the ingest stores them (columns in COLUMNS order), with placeholders."""
    return [
        (
            spec.person.account_id,
            spec.person.contact_id,
            spec.name,
            f"{DAY} {spec.time_of_day}+00:00",
            json.dumps(spec.properties),
            message_id(tag, "copy", spec.index),
            NOW,
        )
        for spec in specs
    ]


def csv_template(rows: Iterable[tuple]) -> bytes:
    """The rows as the input of ``COPY ... FROM STDIN WITH (FORMAT csv)``."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def render(template: bytes, call: int, day: date, now: str) -> bytes:
    """A template with the call number, the day of its events and the current time filled in."""
    return (
        template.replace(CALL.encode(), str(call).encode())
        .replace(DAY.encode(), day.isoformat().encode())
        .replace(NOW.encode(), now.encode())
    )


def call_day(ctx: Context, call: int, *, newest: bool) -> date:
    """Each call's events on a day of their own inside the generated window.

    The subject takes the newer half of the window (newest first), the floor the older half,
    so one never lands on a day the other wrote to until the halves are used up.
    """
    half = max(ctx.days // 2, 1)
    offset = call % half
    return ctx.as_of - timedelta(days=offset) if newest else ctx.start + timedelta(days=offset)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(base: dict) -> dict:
    env = dict(base)
    env.update(
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        EMBEDDED_SERVICES="true",
        API_RATE_LIMIT_PER_MINUTE="100000000",
    )
    return env


class Server:
    """gunicorn cs_platform.wsgi on 127.0.0.1, against the bench process's database."""

    def __init__(self, workers: int = SERVER_WORKERS, env: dict | None = None):
        """``env`` adds to (or overrides) the server's environment, e.g. a settings module."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "cs_platform.wsgi:application",
                # No config file: gunicorn would read the repository's gunicorn.conf.py
                # (make run's gthread workers of 4 threads, an access log) from the working
                # directory. The benchmarks are measured on sync workers: with that file the
                # health endpoint's ratio was 1.97 / 1.83 against 1.73 / 1.75 without it, and
                # ingest_http_batch_100's 4.78 / 4.10 against 3.96 / 3.71 (same run, Redis).
                "--config", os.devnull, "--worker-class", "sync",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                "--timeout", "300", "--log-level", "warning",
            ],
            cwd=BASE_DIR,
            env={**server_environment(os.environ), **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{tail}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz in {timeout:.0f}s:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Sender:
    """Posts rendered batches from a few threads, each with its own HTTP session."""

    def __init__(self, url: str, write_key: str, batch_size: int, threads: int = CLIENT_THREADS):
        self.url = url
        self.batch_size = batch_size
        self.headers = {
            "Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode(),
            "Content-Type": "application/json",
        }
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="bench-ingest")

    def _session(self):
        import requests

        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def post(self, body: bytes) -> int:
        response = self._session().post(self.url, data=body, headers=self.headers, timeout=300)
        if response.status_code != 200:
            raise RuntimeError(
                f"POST {self.url} answered {response.status_code}: {response.text[:500]}"
            )
        result = response.json()
        if (result["accepted"], result["duplicates"], result["rejected"]) != (
            self.batch_size,
            0,
            0,
        ):
            problems = [r for r in result["results"] if r["status"] != "accepted"][:3]
            raise RuntimeError(
                f"POST {self.url}: {result['accepted']} of {self.batch_size} accepted, "
                f"{result['duplicates']} duplicates, {result['rejected']} rejected: {problems}"
            )
        return result["accepted"]

    def send(self, bodies: Iterable[bytes]) -> int:
        return sum(self.pool.map(self.post, bodies))

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def now_text() -> str:
    return datetime.now(UTC).isoformat()


def ingest_case(ctx: Context, batch_size: int) -> Case:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import Contact, DirtyAccount, Event
    from accounts.usage import rebuild_daily_usage
    from cs_platform.models import ApiToken, Scope
    from demo.simulation import EVENTS_BY_PERSONA

    people = [
        Person(*row)
        for row in Contact.objects.filter(is_active=True, account__external_id__gt="")
        .exclude(external_id="")
        .order_by("id")
        .values_list("id", "external_id", "account_id", "account__external_id", "persona")
    ]
    fallback = sorted({n for names in EVENTS_BY_PERSONA.values() for n, _ in names})
    specs = make_specs(
        people,
        TOTAL_EVENTS,
        lambda persona: EVENTS_BY_PERSONA.get(persona) or [(n, 1) for n in fallback],
    )
    # No underscore (a LIKE wildcard) in the tag: the teardown deletes by prefix.
    tag = f"bench-ingest-{batch_size}-{uuid.uuid4().hex[:12]}"
    templates = batch_templates(specs, batch_size, tag)
    rows = copy_rows(specs, tag)
    table = connection.ops.quote_name(Event._meta.db_table)
    copy_sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)"
    copy_template = csv_template(rows)

    # What the subject changes besides events, to put back afterwards.
    touched_contacts = {s.person.contact_id for s in specs}
    touched_accounts = sorted({s.person.account_id for s in specs})
    seen_before = {
        pk: (first, last)
        for pk, first, last in Contact.objects.filter(pk__in=touched_contacts).values_list(
            "id", "first_seen_at", "last_seen_at"
        )
    }
    dirty_before = set(DirtyAccount.objects.values_list("account_id", flat=True))
    admin = get_user_model().objects.get(username="admin")  # Admin role in the demo data
    token, raw = ApiToken.issue(
        admin, f"bench {tag}", [Scope.INGEST], rate_limit_per_minute=100_000_000
    )

    # What the server queues (health drains, playbook scans, with the bench database's ids)
    # goes to a queue of its own, deleted in the teardown: on the default queue a developer's
    # worker would run it against their own database.
    from bench.services import discard_queue

    queue = f"bench-ingest-{uuid.uuid4().hex[:10]}"
    server = Server(env={"CELERY_TASK_DEFAULT_QUEUE": queue})
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        discard_queue(queue)
        token.delete()
        raise
    sender = Sender(f"{server.url}/v1/batch", raw, batch_size)
    subject_calls, floor_calls = itertools.count(), itertools.count()
    days_written: set[date] = set()

    def subject():
        call = next(subject_calls)
        day = call_day(ctx, call, newest=True)
        days_written.add(day)
        now = datetime.now(UTC).isoformat()
        try:
            accepted = sender.send(render(body, call, day, now) for body in templates)
        except Exception as exc:
            raise RuntimeError(f"{exc}\ngunicorn's log ends:\n{server.log_tail()}") from exc
        if accepted != TOTAL_EVENTS:
            raise RuntimeError(f"{accepted} of {TOTAL_EVENTS} events accepted")
        return accepted

    def floor():
        call = next(floor_calls)
        day = call_day(ctx, call, newest=False)
        days_written.add(day)
        with connection.cursor() as cursor:
            data = io.BytesIO(render(copy_template, call, day, now_text()))
            cursor.copy_expert(copy_sql, data)
            return cursor.rowcount

    def teardown():
        try:
            sender.close()
        finally:
            server.stop()
            discard_queue(queue)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE message_id LIKE %s", [f"{tag}-%"])
        for day in sorted(days_written):
            rebuild_daily_usage(day, day, touched_accounts)
        changed = []
        for person in Contact.objects.filter(pk__in=touched_contacts).only(
            "id", "first_seen_at", "last_seen_at"
        ):
            before = seen_before[person.pk]
            if (person.first_seen_at, person.last_seen_at) != before:
                person.first_seen_at, person.last_seen_at = before
                changed.append(person)
        Contact.objects.bulk_update(changed, ["first_seen_at", "last_seen_at"], batch_size=1000)
        DirtyAccount.objects.filter(account_id__in=touched_accounts).exclude(
            account_id__in=dirty_before
        ).delete()
        token.delete()

    return Case(subject=subject, floor=floor, teardown=teardown)


@benchmark("ingest_http_batch_100")
def ingest_http_batch_100(ctx: Context) -> Case:
    return ingest_case(ctx, 100)


@benchmark("ingest_http_batch_500")
def ingest_http_batch_500(ctx: Context) -> Case:
    return ingest_case(ctx, 500)
