"""Content negotiation with a fast path for what nearly every API client sends.

DRF parses the Accept header on every request; clients of a JSON API send none, ``*/*`` or
``application/json``, which the first renderer answers (as DRF's own negotiation would
decide). Anything else takes DRF's full negotiation, 406 included.
"""

from rest_framework.negotiation import DefaultContentNegotiation

_ANY_JSON = {"", "*/*", "application/json"}


class JSONFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        first = renderers[0] if renderers else None
        if (
            first is not None
            and first.media_type == "application/json"
            and not format_suffix
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            and request.META.get("HTTP_ACCEPT", "").strip() in _ANY_JSON
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
