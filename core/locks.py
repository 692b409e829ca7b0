"""PostgreSQL advisory locks, degrading to "always granted" on SQLite.

SQLite (the embedded default) already serialises writers with IMMEDIATE
transactions, so the races these locks close cannot happen there.
"""

import hashlib

from django.db import connection


def lock_key(*parts) -> int:
    """A signed 64-bit key for pg advisory locks, stable across processes."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def try_xact_lock(*parts) -> bool:
    """Take a lock released at the end of the current transaction; False if held elsewhere."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [lock_key(*parts)])
        return cursor.fetchone()[0]
