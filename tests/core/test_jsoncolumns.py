"""core.jsoncolumns: orjson writes the JSON columns, and what it writes is what json would."""

import json
import uuid
from datetime import datetime, timezone

import pytest
from django.db import models

from core.jsoncolumns import ColumnJSONEncoder


class Colour(models.TextChoices):
    RED = "red"


def dumps(value) -> str:
    return json.dumps(value, cls=ColumnJSONEncoder)


def test_it_writes_what_json_writes():
    value = {"text": "olá \u2603 ☃ \"quoted\"\n", "n": 3, "big": 2**60, "x": 1.5, "ok": True, "none": None,
             "nested": [{"a": []}, [1, "b"]], "tuple": (1, 2)}
    assert json.loads(dumps(value)) == json.loads(json.dumps(value))


def test_what_orjson_would_write_differently_is_written_by_json():
    assert json.loads(dumps({"colour": Colour.RED})) == {"colour": "red"}  # Django's choices: as their value
    assert json.loads(dumps({"huge": 2**70})) == {"huge": 2**70}  # beyond orjson's 64 bits
    with pytest.raises(TypeError):  # json refuses it; so does the column
        dumps({"at": datetime(2026, 1, 1, tzinfo=timezone.utc)})


def test_a_uuid_is_written_as_its_string():
    value = uuid.uuid4()
    assert json.loads(dumps({"id": value})) == {"id": str(value)}


def test_what_a_send_writes_is_written_by_orjson_alone(monkeypatch):
    def json_encode(self, o):
        raise AssertionError("handed back to json")

    monkeypatch.setattr(json.JSONEncoder, "encode", json_encode)
    # An event's data: its status is one of Django's choices, as a delivery holds it.
    from outbound.models import Delivery

    value = {"status": Delivery.Status.QUEUED, "phone": {"is_online": True, "sim": None}, "media_count": 0}
    assert json.loads(dumps(value)) == {"status": "queued", "phone": {"is_online": True, "sim": None}, "media_count": 0}
