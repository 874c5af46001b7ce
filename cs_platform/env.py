"""Typed readers for settings that come from the environment.

Every reader records the variable's name in ``READ_VARIABLES`` so tooling (and a test of
docker-compose.yml) can tell which variables the settings understand. A bad value raises
``ConfigError`` naming the variable, which the entry points turn into a one-line message.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

READ_VARIABLES: set[str] = set()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


def _raw(name: str) -> str | None:
    READ_VARIABLES.add(name)
    return os.environ.get(name)


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value.strip()


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"expected a boolean (true/false, 1/0, yes/no), got {value!r}")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name)
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(name, f"must be at most {maximum}, got {number}")
    return number


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default).upper()
    if value not in choices:
        raise ConfigError(name, f"expected one of {', '.join(sorted(choices))}, got {value!r}")
    return value


def env_timezone(name: str, default: str) -> str:
    import zoneinfo

    value = env_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, f"unknown time zone {value!r} (e.g. UTC, Europe/Paris)") from None
    return value


def env_dir(name: str, default: str) -> Path:
    """A folder the process can write to, created if missing."""
    path = Path(env_str(name, default))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(name, f"cannot create folder {str(path)!r} ({exc.strerror})") from None
    return path


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str, *, schemes: set[str]) -> str:
    """A URL whose scheme must be one of ``schemes``; the scheme check catches typos early."""
    value = env_str(name, default)
    if not value:
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (parsing the port validates it)
    except ValueError as exc:
        raise ConfigError(name, f"is not a valid URL ({exc}): {value!r}") from None
    if "://" not in value or parts.scheme not in schemes:
        raise ConfigError(
            name,
            f"expected a URL starting with one of {', '.join(sorted(schemes))}://, got {value!r}",
        )
    return value


DATABASE_SCHEMES = {"postgres", "postgresql", "pgsql"}


def env_database(name: str, default: str, *, conn_max_age: int = 60) -> dict:
    """Parse a PostgreSQL URL into Django's DATABASES entry (the only database supported)."""
    url = env_url(name, default, schemes=DATABASE_SCHEMES)
    if not url:
        raise ConfigError(name, "must not be empty")
    try:
        config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    except (ValueError, KeyError) as exc:
        raise ConfigError(name, f"could not be parsed ({exc})") from None
    if not config.get("NAME"):
        raise ConfigError(name, "names no database (e.g. postgres://user@host:5432/dbname)")
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, with a health check that needs no round trip (see its module).
        config["ENGINE"] = "cs_platform.postgresql"
    return config


def exit_on_config_error() -> None:
    """Load the settings now; on a configuration mistake exit with one clear line, no traceback.

    Django would otherwise defer the error and later show a long traceback for what is a
    user's typo in an environment variable.
    """
    import importlib
    import sys

    module = os.environ.get("DJANGO_SETTINGS_MODULE", "cs_platform.settings")
    try:
        importlib.import_module(module)
    except ConfigError as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        raise SystemExit(2) from None
