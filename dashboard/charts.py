"""Charts as inline SVG rendered on the server by pygal: nothing loads from a CDN, and a
chart is readable without JavaScript (titles and labels are text in the SVG)."""

import pygal

from cs_platform.charts import COMMON
from cs_platform.charts import render as _render


def _labels(dates) -> list[str]:
    return [f"{d:%b %d}" for d in dates]


def health_trend(points: list[tuple]) -> str:
    """(date, score, color) per day: the score with the band thresholds as guides."""
    chart = pygal.Line(
        **COMMON, range=(0, 100), title="Health score, last 90 days", show_legend=False
    )
    chart.x_labels = _labels([p[0] for p in points])
    chart.x_labels_major_every = max(len(points) // 6, 1)
    chart.add("Score", [round(p[1], 1) for p in points])
    return _render(chart)


def usage(points: list[tuple]) -> str:
    """(date, events, active users) per day."""
    chart = pygal.Bar(**COMMON, title="Product usage, last 90 days", legend_at_bottom=True)
    chart.x_labels = _labels([p[0] for p in points])
    chart.x_labels_major_every = max(len(points) // 6, 1)
    chart.add("Events", [p[1] for p in points])
    chart.add("Active users", [p[2] for p in points])
    return _render(chart)


def series(title: str, labels: list[str], values: list) -> str:
    """One metric over periods (e.g. months): one small chart per metric, so lines with
    equal values cannot hide each other and NPS (-100..100) keeps its own scale."""
    chart = pygal.Line(
        **{**COMMON, "show_dots": True, "height": 200, "width": 420},
        title=title,
        show_legend=False,
    )
    chart.x_labels = labels
    chart.x_labels_major_every = max(len(labels) // 4, 1)
    chart.add(title, values)
    return _render(chart)


def funnel(rows: list[dict], milestone: str) -> str:
    """Cohort funnel: % of each start-month cohort reaching a milestone in 30/60/90 days."""
    chart = pygal.Bar(
        **COMMON, range=(0, 100), title=f"Reached “{milestone}” within", legend_at_bottom=True
    )
    chart.x_labels = [r["cohort"] for r in rows]
    chart.x_labels_major_every = max(len(rows) // 8, 1)
    for days in (30, 60, 90):
        chart.add(f"{days} days", [r.get(f"within_{days}_days") for r in rows])
    return _render(chart)
