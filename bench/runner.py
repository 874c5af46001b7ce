"""Timing and memory measurement of a subject beside its floor, and the JSON result line.

No Django import here: the measurement logic is tested on fake callables.
"""

import gc
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable

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


def result_line(result: dict) -> str:
    return json.dumps(result, sort_keys=False)
