"""gunicorn's settings for `make run` (Procfile) and docker-compose, read from the environment.

A fixed pool of WEB_WORKERS processes with WEB_THREADS threads each: every thread keeps at
most one database connection (DB_CONN_MAX_AGE), so the web server never holds more than
WEB_WORKERS x WEB_THREADS connections, however many clients arrive at once (the rest wait in
the listen queue). Django's runserver opens a thread per request instead, and with persistent
connections ran a PostgreSQL server out of connections under four busy clients.
"""

from cs_platform.env import env_int, env_str

bind = f"{env_str('WEB_HOST', '127.0.0.1')}:{env_int('WEB_PORT', 8000, minimum=1, maximum=65535)}"
workers = env_int("WEB_WORKERS", 2, minimum=1, maximum=64)
threads = env_int("WEB_THREADS", 4, minimum=1, maximum=64)
worker_class = "gthread"
# A slow report must not be killed as a hung worker; a truly stuck one still is.
timeout = 120
accesslog = "-"


def post_worker_init(worker):
    """Load every URL's views (pandas, scikit-learn, the charts) before the first request:
    measured on the demo, a fresh worker's first page took 4.1 s, the next 0.06 s."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
