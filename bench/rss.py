"""``python -m bench.rss module:function [arg ...]``: one call in a fresh process, its max RSS.

The runner's ``peak_mib`` is tracemalloc's: the Python heap only, without what numpy, pandas
or the database driver allocate in C. A process's resident memory is what a worker's limit
is about, and its high-water mark covers the whole process lifetime, so the call is made in
a process of its own (the bench process has generated data and run other benchmarks
before). The child inherits the bench process's environment, so the same database.

Prints one JSON object on stdout: ``max_rss_mib`` (peak resident memory of the process,
Django and the app imported, the call made), ``baseline_rss_mib`` (the same before the call)
and ``seconds`` (the call's wall time).
"""

import contextlib
import importlib
import json
import resource
import sys
import time

MIB = 1024 * 1024


def max_rss_mib() -> float:
    """The process's peak resident memory so far, in MiB.

    Linux's VmHWM belongs to the process's own address space. ``ru_maxrss`` is not used where
    VmHWM exists: Linux carries it over ``execve``, so a child of a big process (the bench
    process, forked to start this one) would report its parent's size.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / MIB  # kB
    except OSError:
        pass
    # Elsewhere: ru_maxrss (KiB on Linux, bytes on macOS; the bench targets Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB


def main(argv: list[str]) -> int:
    if not argv or ":" not in argv[0]:
        print("usage: python -m bench.rss module:function [arg ...]", file=sys.stderr)
        return 2
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        import django

        from cs_platform.env import exit_on_config_error

        exit_on_config_error()
        django.setup()
        module_name, _, attribute = argv[0].partition(":")
        function = getattr(importlib.import_module(module_name), attribute)
        baseline = max_rss_mib()
        started = time.perf_counter()
        function(*argv[1:])
        seconds = time.perf_counter() - started
    report = {
        "max_rss_mib": round(max_rss_mib(), 1),
        "baseline_rss_mib": round(baseline, 1),
        "seconds": round(seconds, 3),
    }
    print(json.dumps(report), file=out, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
