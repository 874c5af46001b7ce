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
    db: str  # "postgresql" or "sqlite"


@dataclass(frozen=True)
class Case:
    subject: Callable[[], object]
    floor: Callable[[], object]
    teardown: Callable[[], object] | None = None  # runs after both are measured


Setup = Callable[[Context], "Case | tuple"]
BENCHMARKS: dict[str, Setup] = {}


def benchmark(name: str):
    def register(setup: Setup) -> Setup:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is registered twice")
        BENCHMARKS[name] = setup
        return setup

    return register


def as_case(value) -> Case:
    if isinstance(value, Case):
        return value
    subject, floor = value
    return Case(subject, floor)


def discover() -> dict[str, Setup]:
    """Import every module of bench.benchmarks so their decorators run."""
    from bench import benchmarks

    for module in pkgutil.iter_modules(benchmarks.__path__):
        importlib.import_module(f"{benchmarks.__name__}.{module.name}")
    return BENCHMARKS
