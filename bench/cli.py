"""``python -m bench``: generate data in the bench database, run benchmarks, print JSON lines.

stdout carries only the result lines (one JSON object each); everything else goes to stderr.
"""

import argparse
import contextlib
import os
import secrets
import sys
from collections.abc import MutableMapping

from bench.database import bench_database, url_of

DEFAULT_SIZE = 300
DEFAULT_REPEAT = 5


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive whole number, got {value!r}"
        ) from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def parse_args(argv=None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the benchmarks beside their floors on generated data; "
        "print one JSON line per benchmark.",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        help=f"accounts to generate (default: $BENCH_SIZE, else {DEFAULT_SIZE})",
    )
    parser.add_argument(
        "--only", nargs="+", action="extend", default=[], metavar="NAME", help="run only these"
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=DEFAULT_REPEAT,
        help=f"timed runs per callable; the median is reported (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="reuse the bench database if it holds data of the same size",
    )
    args = parser.parse_args(argv)
    if args.size is None:
        raw = os.environ.get("BENCH_SIZE", "").strip()
        try:
            args.size = positive_int(raw) if raw else DEFAULT_SIZE
        except argparse.ArgumentTypeError as exc:
            parser.error(f"BENCH_SIZE: {exc}")
    return parser, args


def configure_environment(env: MutableMapping[str, str]) -> None:
    """Local-only defaults for the settings (the bench database is set apart, see main)."""
    env.setdefault("DJANGO_SETTINGS_MODULE", "cs_platform.settings")
    # DEBUG off: with it on Django keeps every query in memory, skewing time and peak memory.
    env.setdefault("DEBUG", "false")
    if not env.get("SECRET_KEY", "").strip():
        env["SECRET_KEY"] = secrets.token_urlsafe(48)  # throwaway: only this process signs
    hosts = [h.strip() for h in env.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    if "testserver" not in hosts:  # the host django.test.Client sends
        env["ALLOWED_HOSTS"] = ",".join([*hosts, "testserver"])
    # The test client speaks plain HTTP; a redirect to HTTPS would be timed instead of the page.
    env["SECURE_SSL_REDIRECT"] = "false"
    # One process on one machine: the embedded servers when no URL names real ones.
    env.setdefault("EMBEDDED_SERVICES", "true")


def use_bench_database(env: MutableMapping[str, str]):
    """Point this process and its children (``DATABASE_URL``) at the bench database beside
    the settings' own: ``DATABASE_URL``'s, else the default database of the settings, which
    are then loaded here and their entry renamed before any connection is made."""
    source = env.get("DATABASE_URL", "").strip()
    if not source:
        from django.conf import settings

        from cs_platform.env import exit_on_config_error

        exit_on_config_error()
        default = settings.DATABASES["default"]
        target = bench_database(url_of(default))
        default["NAME"] = target.name
    else:
        target = bench_database(source)
    env["DATABASE_URL"] = target.url
    return target


def serve_static_without_manifest() -> None:
    """Let pages render in a checkout that never ran collectstatic.

    With DEBUG off, {% static %} looks names up in collectstatic's manifest and fails without
    one. The plain storage builds the same URLs from the name alone, a cost as small as the
    manifest's dict lookup, so page timings stay representative.
    """
    import warnings

    from django.conf import settings
    from django.test.utils import override_settings

    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}).enable()
    # WhiteNoise warns that STATIC_ROOT is missing, for the same reason.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)


def main(argv=None) -> int:
    parser, args = parse_args(argv)
    configure_environment(os.environ)
    try:
        target = use_bench_database(os.environ)
    except ValueError as exc:
        parser.error(f"DATABASE_URL: {exc}")

    # Anything a benchmark or Django prints goes to stderr: stdout is for result lines only.
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        import django

        from cs_platform.env import exit_on_config_error

        exit_on_config_error()
        django.setup()
        serve_static_without_manifest()

        from bench.data import log
        from bench.registry import discover

        benchmarks = discover(
            on_error=lambda module, exc: log(
                f"warning: cannot import {module}, its benchmarks are left out: "
                f"{type(exc).__name__}: {exc}"
            )
        )
        from bench.registry import GROUPS, OWN_DATA, expand

        names = expand(args.only)
        unknown = sorted(set(names) - set(benchmarks))
        if unknown:
            parser.error(
                f"argument --only: unknown benchmark {', '.join(unknown)} "
                f"(known: {', '.join([*benchmarks, *GROUPS])})"
            )
        names = names or list(benchmarks)

        from django.conf import settings
        from django.db import Error as DjangoDatabaseError
        from psycopg2 import Error as PsycopgError

        from bench.data import prepare

        if settings.DEBUG:
            log("warning: DEBUG is on; Django records every query, inflating time and memory")
        try:
            ctx = prepare(target, args.size, args.keep_db, generate=not OWN_DATA.issuperset(names))
        except (DjangoDatabaseError, PsycopgError) as exc:
            log(f"cannot prepare the bench database {target.name}: {exc}".strip())
            return 1
        run(benchmarks, names, ctx, args.repeat, out)
    return 0


def run(benchmarks, names, ctx, repeat, out) -> None:
    from bench.data import log
    from bench.registry import SkipBenchmark, as_case
    from bench.runner import result_line, run_case

    for name in names:
        try:
            case = as_case(benchmarks[name](ctx))
        except SkipBenchmark as exc:
            log(f"{name}: skipped: {exc}")
            continue
        if case.custom is not None:
            log(f"{name}: measuring (it times itself)")
        else:
            log(f"{name}: measuring ({repeat} runs each of subject and floor)")
        data = case.data or ctx
        result = run_case(name, case, size=data.size, days=data.days, repeat=repeat, db=ctx.db)
        print(result_line(result), file=out, flush=True)
