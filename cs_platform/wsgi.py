"""WSGI entry point (gunicorn cs_platform.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings")

from cs_platform.env import exit_on_config_error  # noqa: E402

exit_on_config_error()
application = get_wsgi_application()
