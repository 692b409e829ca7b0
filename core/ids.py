"""Time-ordered ids: UUIDv7 (RFC 9562), as in the API seeds.

Ordering by id is ordering by creation time, which is what cursor pagination
and "newest first" lists rely on. One exception: the deliveries of a
schedule's occurrence carry its due time instead (occurrence_delivery_id),
so the id can be announced before the delivery exists.
"""

import hashlib
import uuid
from datetime import datetime

from uuid6 import uuid7

from core.time import from_ms, to_ms


def new_id() -> uuid.UUID:
    # uuid6 returns its own UUID subclass; a plain uuid.UUID pickles and
    # serialises everywhere (Celery, JSON, migrations) without surprises.
    return uuid.UUID(int=uuid7().int)


def occurrence_delivery_id(*, schedule_id: uuid.UUID, occurrence_number: int, group_id: uuid.UUID, due_at: datetime) -> uuid.UUID:
    """The id the delivery of a schedule's occurrence to one group has: known before the occurrence fires.

    A UUIDv7 whose 48-bit timestamp is the due time (ms) and whose other 74
    bits come from sha256("schedule:occurrence:group"), so the announcement
    (message.notification.scheduled) and the later events of the same
    message share it. A new due time (an edit) gives a new id.
    """
    digest = int.from_bytes(hashlib.sha256(f"{schedule_id}:{occurrence_number}:{group_id}".encode()).digest()[:16])
    value = (to_ms(due_at) & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((digest >> 64) & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # RFC 9562 variant
    value |= digest & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    return uuid.UUID(int=value)


def id_time(value: uuid.UUID) -> datetime:
    """The instant (ms) a UUIDv7 carries: its creation, or an occurrence's due time."""
    return from_ms(value.int >> 80)
