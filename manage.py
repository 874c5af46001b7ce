#!/usr/bin/env python
"""Django's command-line utility for the customer success platform."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings")
    from cs_platform.env import exit_on_config_error

    exit_on_config_error()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
