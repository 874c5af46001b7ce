"""The look every chart of the product shares: inline SVG rendered on the server by pygal, so
nothing loads from a CDN and a chart is readable without JavaScript (titles and labels are
text in the SVG). Each app draws its own charts with these (dashboard.charts, health.charts)."""

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


def render(chart) -> str:
    return chart.render(is_unicode=True)
