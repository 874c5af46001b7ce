"""A tiny inline SVG line for a table cell (the catalogue's weekly volume).

Drawn by hand rather than by pygal (as the charts in dashboard/ and health/ are): pygal takes
about 8 ms and 13 KB per sparkline, a hundred rows would cost most of a second and a megabyte;
this takes microseconds and a few hundred bytes, and says its numbers in a <title>."""

from django.utils.html import format_html


def sparkline(points: list[tuple[str, int]], caption: str = "", width: int = 96, height: int = 20):
    """(label, value) pairs, oldest first, as a safe ``<svg>`` string: a line scaled to the
    highest value (a flat line at the bottom when all are 0), a dot on the last value, and
    the caption and every value in the title."""
    if not points:
        return ""
    values = [v for _, v in points]
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    pad = 2  # keeps the stroke and the dot inside the box
    coords = [
        (round(i * step, 1), round(pad + (height - 2 * pad) * (1 - v / top), 1))
        for i, v in enumerate(values)
    ]
    line = " ".join(f"{x},{y}" for x, y in coords)
    title = ", ".join(f"{label}: {value}" for label, value in points)
    title = f"{caption}: {title}" if caption else title
    last_x, last_y = coords[-1]
    return format_html(
        '<svg class="sparkline" viewBox="-2 0 {} {}" width="{}" height="{}" role="img">'
        '<title>{}</title><polyline points="{}" fill="none" '
        'stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/>'
        '<circle cx="{}" cy="{}" r="2" fill="currentColor"/></svg>',
        width + 4,
        height,
        width + 4,
        height,
        title,
        line,
        last_x,
        last_y,
    )
