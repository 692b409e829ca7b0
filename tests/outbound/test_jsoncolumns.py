"""outbound.jsoncolumns: orjson writes the JSON columns, and what it writes is what json would."""

import json
import uuid
from datetime import datetime, timezone

import pytest
from django.db import models

from outbound.jsoncolumns import ColumnJSONEncoder


class Colour(models.TextChoices):
    RED = "red"


def dumps(value) -> str:
    return json.dumps(value, cls=ColumnJSONEncoder)


def test_it_writes_what_json_writes():
    value = {"text": "olá \u2603 ☃ \"quoted\"\n", "n": 3, "big": 2**60, "x": 1.5, "ok": True, "none": None,
             "nested": [{"a": []}, [1, "b"]], "tuple": (1, 2)}
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))


def test_what_orjson_would_write_differently_is_written_by_json():
    assert dumps({"colour": Colour.RED}) == json.dumps({"colour": Colour.RED})  # a str subclass
    assert json.loads(dumps({"huge": 2**70})) == {"huge": 2**70}  # beyond orjson's 64 bits
    with pytest.raises(TypeError):  # json refuses it; so does the column
        dumps({"at": datetime(2026, 1, 1, tzinfo=timezone.utc)})


def test_a_uuid_is_written_as_its_string():
    value = uuid.uuid4()
    assert json.loads(dumps({"id": value})) == {"id": str(value)}
