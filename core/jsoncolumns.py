"""The JSON of the columns every send writes (events' data, an idempotency key's response): orjson where it agrees with json.

A send to 100 groups writes 100 events and the response to its key, and
json.dumps of them showed in the request's CPU profile (docs/benchmarks.md,
"Create-send: where the CPU went"); orjson writes JSON faster. PostgreSQL stores
jsonb, so spacing and escaping do not matter; the values must. orjson
writes str, int, float, bool, None, dict and list, and their subclasses
(Django's choices), as json does. Datetimes and dataclasses, which json
refuses, are handed back to json (which refuses them), as is anything else
orjson refuses. The differences: orjson writes a uuid.UUID as its string
and an Enum as its value, where json.dumps raises.
"""

import json

import orjson

_HANDED_BACK = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class ColumnJSONEncoder(json.JSONEncoder):
    """For JSONField(encoder=...): json.dumps(value, cls=ColumnJSONEncoder) calls encode()."""

    def encode(self, o) -> str:
        try:
            return orjson.dumps(o, option=_HANDED_BACK).decode()
        except TypeError:  # orjson.JSONEncodeError: something only json writes (or no one)
            return super().encode(o)
