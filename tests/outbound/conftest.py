import uuid

import pytest


@pytest.fixture
def send_body(session, make_groups):
    """A valid immediate send to two groups, with what the test adds (send_body(text=...))."""
    groups = make_groups(2)

    def body(**extra):
        return {
            "session_id": str(session.id),
            "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"key-{uuid.uuid4()}",
            "text": "Hello",
            **extra,
        }

    return body
