import uuid

import pytest


@pytest.fixture
def send_base(session, make_groups):
    """An immediate send to two groups with no content yet: send_base(text=..., variants=...)."""
    groups = make_groups(2)

    def body(**extra):
        return {
            "session_id": str(session.id),
            "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"key-{uuid.uuid4()}",
            **extra,
        }

    return body


@pytest.fixture
def send_body(send_base):
    """A valid immediate send to two groups, with what the test adds (send_body(text=...))."""
    return lambda **extra: send_base(**{"text": "Hello", **extra})
