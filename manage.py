#!/usr/bin/env python
"""Django's command-line utility for the customer success platform."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings")
    from cs_platform.env import exit_on_config_error

    exit_on_config_error()
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        execute_from_command_line(sys.argv)
    except DatabaseError as exc:
        # An unreachable database, or one not migrated yet: say so in one line.
        if "--traceback" in sys.argv:
            raise
        from django.conf import settings

        db = settings.DATABASES["default"]
        where = f"{db.get('HOST')} / {db['NAME']}"
        sys.stderr.write(
            f"Database error ({where}; check DATABASE_URL): {str(exc).strip()}\n"
            "Run again with --traceback for details.\n"
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
