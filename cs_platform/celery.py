"""The Celery application: one for web, worker and beat; tasks are discovered per app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings")

from cs_platform.env import exit_on_config_error  # noqa: E402

exit_on_config_error()

app = Celery("cs_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
