"""The validation report's charts (ROC curve, churn per colour, strength per measure), as
inline SVG in the product's shared chart style."""

import pygal
from pygal.style import Style

from cs_platform.charts import COMMON, STYLE, render

BAND_COLORS = {"green": "#12b76a", "yellow": "#f79009", "red": "#d92d20"}
SMALL = {**COMMON, "height": 300, "width": 420}


def _styled(*colors: str) -> Style:
    return Style(**{**STYLE.__dict__, "colors": colors})


def roc(points: list[dict], auc: float | None) -> str:
    """Recall against false alarms as the threshold rises; the diagonal is chance."""
    title = "ROC curve" + (f" (AUC {auc:.2f})" if auc is not None else "")
    chart = pygal.XY(
        **{**SMALL, "style": _styled("#3955d3", "#98a2b3"), "show_minor_x_labels": True},
        title=title,
        range=(0, 1),
        xrange=(0, 1),
        x_title="False alarms (share of stayers flagged)",
        y_title="Recall (share of churners flagged)",
        legend_at_bottom=True,
    )
    chart.x_labels = [0, 0.2, 0.4, 0.6, 0.8, 1]
    chart.add("Score", [(p["false_alarm_rate"], p["recall"]) for p in points])
    chart.add("Chance", [(0, 0), (1, 1)], stroke_style={"dasharray": "4, 4"})
    return render(chart)


def churn_by_band(bands: list[dict], window: int) -> str:
    """Churn rate within the window per colour on the observation date, in %."""
    chart = pygal.Bar(
        **{**SMALL, "style": _styled(*(BAND_COLORS[b["color"]] for b in bands))},
        title=f"Churned within {window} days, by colour",
        y_title="% of observations",
        legend_at_bottom=True,
        print_values=True,
        value_formatter=lambda v: f"{v:.1f}%",
    )
    chart.x_labels = [""]
    for band in bands:
        rate = band["churn_rate"]
        label = f"{band['color'].title()} (n={band['observations']})"
        chart.add(label, [None if rate is None else round(rate * 100, 1)])
    return render(chart)


def measure_strength(measures: list[dict]) -> str:
    """AUC per measure (0.5 is chance); measures without an AUC are listed without a bar."""
    ordered = sorted(measures, key=lambda m: m["auc"] if m["auc"] is not None else -1)
    chart = pygal.HorizontalBar(
        **{**SMALL, "height": 60 + 26 * max(len(ordered), 1), "width": 760},
        title="Strength per measure: AUC of its points (0.5 is chance)",
        range=(0, 1),
        show_legend=False,
        print_values=True,
        value_formatter=lambda v: f"{v:.2f}",
    )
    chart.x_labels = [m["label"] for m in ordered]
    chart.add("AUC", [m["auc"] for m in ordered])
    return render(chart)
