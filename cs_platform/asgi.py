"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings")

from cs_platform.env import exit_on_config_error  # noqa: E402

exit_on_config_error()
application = get_asgi_application()
