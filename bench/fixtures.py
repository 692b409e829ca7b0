"""The account a benchmark sends from: a WORKING session in N groups, and its API token."""

import uuid
from dataclasses import dataclass


@dataclass
class Fixture:
    """An account ready to send: a WORKING sending session in `group_ids` groups, and its API token."""

    session_id: str
    group_ids: list[str]
    token: str


def bench_fixture(groups: int, name: str = "bench") -> Fixture:
    """Create the account the benchmark sends from (create_demo_account has only 3 groups)."""
    from core.models import Account
    from outbound.models import Group, Session
    from core.services.tokens import api_token_create

    account = Account.objects.create(name=f"{name} account")
    session = Session.objects.create(account=account, name=f"{name}-{uuid.uuid4().hex[:8]}", role="sending", status="WORKING", messages_per_minute=None, send_delay_max_ms=0)
    rows = Group.objects.bulk_create(
        [Group(account=account, chat_id=f"120363{i:012d}@g.us", name=f"{name} group {i:03d}") for i in range(groups)]
    )
    session.groups.add(*rows)
    _, raw = api_token_create(account=account, user=None, name=name)
    return Fixture(session_id=str(session.id), group_ids=[str(g.id) for g in rows], token=raw)


def send_body(fixture: Fixture, text: str = "bench") -> dict:
    return {"session_id": fixture.session_id, "group_ids": fixture.group_ids, "idempotency_key": uuid.uuid4().hex, "text": text}
