"""Request bodies as JSON, bounded: how deep they nest, and numbers JSON can actually carry.

Python's json module nests as deep as the interpreter's recursion allows (a
body of 50,000 `[` ended in RecursionError, a 500), and reads `NaN`,
`Infinity` and `1e400` (infinity) as numbers though JSON has none of them.
Every JSON the API reads goes through `json_loads_bounded`: request bodies
(BoundedJSONParser, the default parser) and the JSON parts of a multipart
send.
"""

import codecs
import json
import math

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding

# The deepest body the API documents is 4 levels (variants[].media[].url);
# this leaves room for any future field while bounding every walk over a body.
MAX_JSON_DEPTH = 32


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


def _too_deep(value, limit: int) -> bool:
    """Whether `value` nests arrays/objects more than `limit` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def json_loads_bounded(raw: str | bytes):
    """json.loads for untrusted input; ValueError if it is not JSON, nests past MAX_JSON_DEPTH or has no finite value."""
    too_deep = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(too_deep) from None
    if isinstance(value, (dict, list)) and _too_deep(value, MAX_JSON_DEPTH):
        raise ValueError(too_deep)
    return value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser through json_loads_bounded: a 400 malformed_request saying why."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            text = codecs.getreader(get_encoding(parser_context or {}))(stream).read()
            return json_loads_bounded(text)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
