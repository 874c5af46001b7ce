"""Fixtures of the playbooks tests: Celery runs tasks in the test process, and a local HTTP
receiver stands in for webhook and Slack endpoints."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cs_platform.celery import app


@pytest.fixture(autouse=True)
def eager_celery():
    """Tasks run in the test's own process and transaction; a retry runs again at once
    (Celery re-applies it only when eager exceptions are not propagated)."""
    before = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


class Receiver:
    """What a local endpoint received; ``codes`` are the answers to give, in order."""

    def __init__(self):
        self.requests: list[dict] = []
        self.codes: list[int] = []
        self.url = ""

    def json(self, index=-1):
        return json.loads(self.requests[index]["body"])


@pytest.fixture
def receiver(settings):
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
            code = state.codes.pop(0) if state.codes else 200
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"ok" if code < 300 else b"receiver failing")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    settings.PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    yield state
    server.shutdown()
    server.server_close()
