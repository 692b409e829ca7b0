"""Which beat fires: a leader lock, so a standby beat can wait and take over.

On PostgreSQL the lock is a session-level advisory lock held on a connection
of its own: when the leader process dies, PostgreSQL ends its session and
releases the lock at once, and the standby's next try (every poll) wins. On
SQLite (the single-machine embedded default) it is an flock on a file next to
the database, released by the kernel when the process dies.

Even two beats firing at once cannot send an occurrence twice (the Run claim),
so the lock is about not doing the work twice, not about correctness.
"""

import fcntl
import logging
import os
from pathlib import Path

import psycopg2
from django.conf import settings
from django.db import connection

from outbound.locks import lock_key

logger = logging.getLogger(__name__)

LOCK_NAME = "outbound-beat-leader"


class PostgresLeaderLock:
    def __init__(self):
        self._conn = None
        self._held = False

    def _connect(self):
        params = connection.settings_dict
        self._conn = psycopg2.connect(
            dbname=params["NAME"],
            user=params["USER"] or None,
            password=params["PASSWORD"] or None,
            host=params["HOST"] or None,
            port=params["PORT"] or None,
            application_name="outbound-beat-leader",
            # Find out within seconds that the database went away with our lock.
            keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
        )
        self._conn.autocommit = True

    def acquire(self) -> bool:
        """True while this process holds the lock (taking it if free)."""
        try:
            if self._held:
                # Still ours as long as our session lives; the lock is re-entrant,
                # so do not take it again (that would stack it).
                with self._conn.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return True
            if self._conn is None or self._conn.closed:
                self._connect()
            with self._conn.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(LOCK_NAME)])
                self._held = cursor.fetchone()[0]
            return self._held
        except psycopg2.Error:
            logger.exception("beat: lost the database connection holding the leader lock")
            self.release()
            return False

    def release(self) -> None:
        if self._conn is not None and not self._conn.closed:
            try:
                self._conn.close()  # ends the session, which releases the lock
            except psycopg2.Error:
                pass
        self._conn, self._held = None, False


class FileLeaderLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def leader_lock():
    if connection.vendor == "postgresql":
        return PostgresLeaderLock()
    return FileLeaderLock(Path(settings.VAR_DIR) / "beat-leader.lock")
