from django import template
from django.utils.html import format_html

register = template.Library()

# Colour is never the only signal: every badge has a symbol and a word.
SYMBOLS = {"green": "✓", "yellow": "!", "red": "✕", "": "?"}
LABELS = {"green": "Green", "yellow": "Yellow", "red": "Red", "": "Not scored"}


@register.simple_tag
def health_badge(color, score=None):
    color = color or ""
    text = LABELS.get(color, color)
    if score is not None:
        text = f"{text} {score:.0f}"
    return format_html(
        '<span class="health health-{}"><span aria-hidden="true">{}</span> {}</span>',
        color or "none",
        SYMBOLS.get(color, "?"),
        text,
    )


@register.simple_tag(takes_context=True)
def sort_link(context, column, label):
    """A column header that sorts by it, and reverses the order when it already does."""
    request = context["request"]
    params = request.GET.copy()
    current = params.get("sort", "name")
    params["sort"] = f"-{column}" if current == column else column
    params.pop("page", None)
    arrow = " ▲" if current == column else " ▼" if current == f"-{column}" else ""
    return format_html('<a href="?{}">{}{}</a>', params.urlencode(), label, arrow)
