"""Settings of the bench's gunicorn for health_endpoint_http: the app's, plus a trivial view.

``DJANGO_SETTINGS_MODULE=bench.server_settings``: everything as cs_platform.settings (so the
same middleware, database and cache), only the URLconf adds ``/bench/trivial``.
"""

from cs_platform.settings import *  # noqa: F403

ROOT_URLCONF = "bench.server_urls"
