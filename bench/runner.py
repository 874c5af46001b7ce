"""Timing and memory measurement of a subject beside its floor, and the JSON result line.

No Django import here: the measurement logic is tested on fake callables.
"""

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence

MIB = 1024 * 1024


def time_pair(
    subject: Callable, floor: Callable, repeat: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[list[float], list[float]]:
    """Seconds per call of each, after one warm-up call of each (connections, caches, templates).

    Subject and floor alternate so drift on the machine (other load, thermal) hits both alike.
    """
    subject()
    floor()
    subject_times, floor_times = [], []
    for _ in range(repeat):
        for fn, times in ((floor, floor_times), (subject, subject_times)):
            gc.collect()  # don't bill one call for garbage the previous one left
            started = clock()
            fn()
            times.append(clock() - started)
    return subject_times, floor_times


def peak_mib(fn: Callable) -> float:
    """Peak Python heap growth during one call, in MiB (tracemalloc: C-level buffers of the
    database driver are not seen). A separate call because tracing slows everything down."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return max(peak - before, 0) / MIB


def measure(
    name: str,
    subject: Callable,
    floor: Callable,
    *,
    size: int,
    days: int,
    repeat: int,
    db: str,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    subject_times, floor_times = time_pair(subject, floor, repeat, clock)
    seconds = statistics.median(subject_times)
    floor_seconds = statistics.median(floor_times)
    return {
        "name": name,
        "size": size,
        "days": days,
        "seconds": round(seconds, 6),
        "floor_seconds": round(floor_seconds, 6),
        # None rather than a division by zero for a floor too fast for the clock.
        "ratio": round(seconds / floor_seconds, 3) if floor_seconds > 0 else None,
        "peak_mib": round(peak_mib(subject), 3),
        "floor_peak_mib": round(peak_mib(floor), 3),
        "repeat": repeat,
        "db": db,
    }


# The fields every result line starts with, in this order (custom results too).
STANDARD_FIELDS = (
    "name", "size", "days", "seconds", "floor_seconds", "ratio", "peak_mib", "floor_peak_mib",
    "repeat", "db",
)  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def custom_result(name: str, fields: dict, *, size: int, days: int, repeat: int, db: str) -> dict:
    """The result line of a benchmark that measured itself (Case.custom).

    ``fields`` must give ``seconds`` and ``floor_seconds``; ``ratio`` is computed from them
    unless given, ``peak_mib``/``floor_peak_mib`` are null unless given, ``repeat`` defaults to
    the run's. Any other field follows the standard ones.
    """
    missing = [key for key in ("seconds", "floor_seconds") if fields.get(key) is None]
    if missing:
        raise ValueError(f"{name}: a custom result needs {' and '.join(missing)}")
    seconds, floor_seconds = float(fields["seconds"]), float(fields["floor_seconds"])
    result = {
        "name": name,
        "size": size,
        "days": days,
        "seconds": round(seconds, 6),
        "floor_seconds": round(floor_seconds, 6),
        "ratio": fields.get(
            "ratio", round(seconds / floor_seconds, 3) if floor_seconds > 0 else None
        ),
        "peak_mib": fields.get("peak_mib"),
        "floor_peak_mib": fields.get("floor_peak_mib"),
        "repeat": fields.get("repeat", repeat),
        "db": db,
    }
    result.update((k, v) for k, v in fields.items() if k not in STANDARD_FIELDS)
    return result


def run_case(
    name: str,
    case,
    *,
    size: int,
    days: int,
    repeat: int,
    db: str,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Measure a registry.Case (timed pair or custom), add its extra fields, then tear down."""
    try:
        if case.custom is not None:
            result = custom_result(
                name, case.custom(repeat), size=size, days=days, repeat=repeat, db=db
            )
        else:
            result = measure(
                name,
                case.subject,
                case.floor,
                size=size,
                days=days,
                repeat=repeat,
                db=db,
                clock=clock,
            )
        if case.extra is not None:
            extra = case.extra(dict(result))
            clash = sorted(set(extra) & set(result))
            if clash:
                raise ValueError(f"{name}: extra fields would overwrite {', '.join(clash)}")
            result.update(extra)
    finally:
        if case.teardown is not None:
            case.teardown()
    return result


def result_line(result: dict) -> str:
    return json.dumps(result, sort_keys=False)
