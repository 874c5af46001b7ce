"""The raw events of a chunk of customers, drawn from their usage chances with numpy.

A person is active on a day with their ``usage_chance``; an active day has one event plus a
Poisson number more (their persona's mean); each event is a key event with the day's
``key_share``, then one of the persona's key or other events by weight; it happens at a
uniform time between 08:00 and 19:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

import numpy as np

from demo.behaviour import Usage
from demo.simulation import EVENTS_BY_PERSONA, KEY_EVENTS, Grid

NAMES = sorted({name for mix in EVENTS_BY_PERSONA.values() for name, _ in mix})
FIRST_HOUR, LAST_HOUR = 8, 19


@dataclass
class Events:
    person: np.ndarray  # row in the chunk's people
    name: np.ndarray  # index into NAMES
    at: np.ndarray  # seconds since the epoch, UTC

    def __len__(self) -> int:
        return len(self.person)


def _choices(persona: str, key: bool) -> tuple[np.ndarray, np.ndarray]:
    """(name indexes, cumulative weights) of a persona's key or other events."""
    mix = [(n, w) for n, w in EVENTS_BY_PERSONA[persona] if (n in KEY_EVENTS) == key]
    if not mix:
        mix = [(n, w) for n, w in EVENTS_BY_PERSONA[persona]]
    weights = np.cumsum([w for _, w in mix])
    return np.array([NAMES.index(n) for n, _ in mix]), weights / weights[-1]


CHOICES = {(p, key): _choices(p, key) for p in EVENTS_BY_PERSONA for key in (True, False)}


def draw_events(use: Usage, personas: list[str], grid: Grid, now: datetime, rng) -> Events:
    """Every event of the chunk's people in the window, up to ``now``, in time order."""
    first = grid.window_start
    chance = use.usage_chance[:, first:]
    active = rng.random(chance.shape) < chance
    person, day = np.nonzero(active)
    extra = rng.poisson((use.per_day[person] - 1).clip(min=0))
    person, day = np.repeat(person, extra + 1), np.repeat(day + first, extra + 1)
    is_key = rng.random(len(person)) < use.key_share[person, day]
    name = np.empty(len(person), dtype=np.int64)
    u = rng.random(len(person))
    persona_of = np.array(personas, dtype=object)[person]
    for (persona, key), (codes, cumulative) in CHOICES.items():
        mask = (persona_of == persona) & (is_key == key)
        name[mask] = codes[
            np.searchsorted(cumulative, u[mask], side="right").clip(max=len(codes) - 1)
        ]
    midnight = datetime.combine(grid.first, time.min, UTC).timestamp()
    seconds = rng.integers(FIRST_HOUR * 3600, LAST_HOUR * 3600, size=len(person))
    at = (midnight + day.astype(np.int64) * 86400 + seconds).astype(np.int64)
    keep = at <= now.timestamp()
    order = np.lexsort((at[keep], person[keep]))
    return Events(person[keep][order], name[keep][order], at[keep][order])
