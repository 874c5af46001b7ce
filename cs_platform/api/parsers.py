"""The API's JSON parser: DRF's, with a bad body always a 400 naming the reason.

DRF's parser turns malformed JSON into a 400 but lets a deeply nested body through to a
RecursionError (a 500) in the decoder, or, just under the interpreter's limit, in the
serializer or the renderer later. Nesting is bounded here instead: no field of the API
needs more than a few levels (traits and properties are flat maps in practice).
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def depth_exceeds(value, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` deep (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from None
        if depth_exceeds(data):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
        return data
