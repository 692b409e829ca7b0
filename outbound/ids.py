"""Time-ordered ids: UUIDv7 (RFC 9562), as in the API seeds.

Ordering by id is ordering by creation time, which is what cursor pagination
and "newest first" lists rely on.
"""

import uuid

from uuid6 import uuid7


def new_id() -> uuid.UUID:
    # uuid6 returns its own UUID subclass; a plain uuid.UUID pickles and
    # serialises everywhere (Celery, JSON, migrations) without surprises.
    return uuid.UUID(int=uuid7().int)
