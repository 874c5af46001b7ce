"""`make run`'s web server holds a bounded number of database connections under load.

Django's runserver opens a thread per request and each kept its connection: four busy
clients once ran PostgreSQL out of its 100 connections. The Procfile's web command (gunicorn
with gunicorn.conf.py) is started here exactly as `make run` starts it, and hit by 200
concurrent requests.
"""

import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.integration.test_celery_worker import REPO, _database_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS, THREADS = 2, 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _procfile_web_command() -> str:
    line = next(
        line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    return line.removeprefix("web:").strip()


def _connections_to_test_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def web_server(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": "memory://",
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "true",  # as `make run`: static files from the apps, no manifest
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "EMBEDDED_SERVICES": "true",
        "WEB_PORT": str(port),
        "WEB_WORKERS": str(WORKERS),
        "WEB_THREADS": str(THREADS),
        "CS_VAR_DIR": str(tmp_path),
        "PATH": f"{Path(REPO, '.venv', 'bin')}:{os.environ['PATH']}",
    }
    log = open(tmp_path / "web.log", "w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        _procfile_web_command(), shell=True, cwd=REPO, env=env, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while _get_or_none(f"{base}/healthz") != 200:
        assert process.poll() is None, "gunicorn died:\n" + _read(log)
        assert time.monotonic() < deadline, "gunicorn did not answer in 60 s:\n" + _read(log)
        time.sleep(0.3)
    yield base, log
    os.killpg(process.pid, 15)
    process.wait(timeout=30)
    log.close()


def _get_or_none(url: str) -> int | None:
    try:
        return _get(url)
    except OSError:
        return None


def _read(log) -> str:
    log.seek(0)
    return log.read()[-4000:]


def test_the_procfile_serves_with_a_fixed_pool_of_workers_and_threads():
    command = _procfile_web_command()
    assert "gunicorn" in command and "runserver" not in command
    config = (REPO / "gunicorn.conf.py").read_text()
    assert re.search(r"^worker_class = \"gthread\"$", config, re.M)


def test_two_hundred_concurrent_requests_stay_within_the_connection_bound(web_server):
    base, log = web_server
    # Pages and endpoints that read the database: health check, login page, an API 401.
    urls = [f"{base}/healthz", f"{base}/login/", f"{base}/api/v1/accounts/"] * 67
    urls = urls[:200]
    seen, done = [], threading.Event()

    def watch():
        try:
            while not done.is_set():
                seen.append(_connections_to_test_database())
                time.sleep(0.02)
        finally:
            connection.close()  # this thread's own connection

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=200) as pool:
            statuses = list(pool.map(_get, urls))
    finally:
        done.set()
        watcher.join()

    assert [s for s in statuses if s >= 500] == [], _read(log)
    assert set(statuses) <= {200, 401, 403}, sorted(set(statuses))
    # Every thread of every worker may hold one connection, and no more.
    assert 0 < max(seen) <= WORKERS * THREADS, (max(seen), _read(log))
