"""The benchmark registry: ``@benchmark(name)`` on a setup function.

A setup function receives the run's ``Context`` and returns a ``Case`` (or a plain
``(subject, floor)`` pair). The subject is the code under test; the floor is the bare-database
baseline for the same work, timed in the same run so the ratio means something on any machine.
"""

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Context:
    """What the generated data looks like, for benchmarks to aim at."""

    size: int  # accounts
    days: int  # days of usage events, ending at as_of
    as_of: date
    start: date  # first day with events
    keep: bool = False  # --keep-db: data a benchmark adds may stay for the next run
    db: str = "postgresql"  # the result lines' "db" field


class SkipBenchmark(Exception):  # noqa: N818 (it is a signal, not an error)
    """Raised by a setup whose prerequisites are missing (e.g. no Redis broker): the run logs
    the reason on stderr, prints no result line for it and goes on with the next benchmark."""


@dataclass(frozen=True)
class Case:
    """What a setup returns.

    Usually ``subject`` and ``floor``, timed by the runner. A benchmark that cannot be timed
    as "call it, stop the clock" (a latency that ends in another process) gives ``custom``
    instead: called once with the run's ``repeat``, it measures both sides itself and returns
    the result fields, at least ``seconds`` and ``floor_seconds`` (see runner.custom_result).
    ``extra``, called with the finished result, returns more fields for the line (fields the
    line already has are refused). ``teardown`` runs last, whatever happened. ``data``: the
    Context of the data the case runs on when it is not the run's (the year dataset,
    ``bench.year``), for the line's ``size`` and ``days``.
    """

    subject: Callable[[], object] | None = None
    floor: Callable[[], object] | None = None
    teardown: Callable[[], object] | None = None
    extra: Callable[[dict], dict] | None = None
    custom: Callable[[int], dict] | None = None
    data: Context | None = None

    def __post_init__(self):
        if self.custom is None and (self.subject is None or self.floor is None):
            raise ValueError("a Case needs a subject and a floor, or custom")
        if self.custom is not None and (self.subject is not None or self.floor is not None):
            raise ValueError("a custom Case measures itself: give no subject or floor")


Setup = Callable[[Context], "Case | tuple"]
BENCHMARKS: dict[str, Setup] = {}
# A name --only accepts for several benchmarks (e.g. dashboard_pages: one line per page).
GROUPS: dict[str, tuple[str, ...]] = {}


def group(name: str, members) -> None:
    """Let ``--only name`` select ``members`` (benchmark names), in that order."""
    if name in BENCHMARKS or (name in GROUPS and GROUPS[name] != tuple(members)):
        raise ValueError(f"group {name!r} clashes with another benchmark or group")
    GROUPS[name] = tuple(members)


def expand(names, groups=None) -> list[str]:
    """--only's names with groups replaced by their members; duplicates dropped, order kept."""
    groups = GROUPS if groups is None else groups
    out = []
    for name in names:
        out += groups.get(name, (name,))
    return list(dict.fromkeys(out))


# Benchmarks that bring data of their own (the year dataset): a run of only these does not
# generate the bench data.
OWN_DATA: set[str] = set()


def benchmark(name: str, *, own_data: bool = False):
    def register(setup: Setup) -> Setup:
        if name in BENCHMARKS or name in GROUPS:
            raise ValueError(f"benchmark {name!r} is registered twice")
        BENCHMARKS[name] = setup
        if own_data:
            OWN_DATA.add(name)
        return setup

    return register


def as_case(value) -> Case:
    if isinstance(value, Case):
        return value
    subject, floor = value
    return Case(subject, floor)


def discover(package=None, on_error=None) -> dict[str, Setup]:
    """Import every module of bench.benchmarks so their decorators run.

    A module that fails to import (say, it names something another change just moved) does not
    stop the others: ``on_error(module_name, exception)`` is told, and its benchmarks are
    simply not registered. Without ``on_error`` the error propagates.
    """
    if package is None:
        from bench import benchmarks as package

    for module in pkgutil.iter_modules(package.__path__):
        name = f"{package.__name__}.{module.name}"
        try:
            importlib.import_module(name)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(name, exc)
    return BENCHMARKS
