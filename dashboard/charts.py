"""Charts as inline SVG rendered on the server by pygal: nothing loads from a CDN, and a
chart is readable without JavaScript (titles and labels are text in the SVG)."""

import pygal
from pygal.style import Style

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1d2433",
    foreground_strong="#1d2433",
    foreground_subtle="#e4e7ec",
    colors=("#3955d3", "#12b76a", "#f79009", "#d92d20", "#667085"),
    font_family="system-ui, sans-serif",
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=12,
    title_font_size=13,
)

COMMON = {
    "style": STYLE,
    "js": [],  # pygal's tooltips script lives on a CDN: left out on purpose
    "disable_xml_declaration": True,
    "show_dots": False,
    "height": 260,
    "width": 760,
    "explicit_size": False,
    "margin": 8,
    "x_label_rotation": 0,
    "show_minor_x_labels": False,
    "truncate_label": -1,
}


def _labels(dates) -> list[str]:
    return [f"{d:%b %d}" for d in dates]


def _render(chart) -> str:
    return chart.render(is_unicode=True)


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
