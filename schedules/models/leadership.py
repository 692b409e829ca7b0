"""Which beat leads: the lease, and the database sessions it is judged by."""


from django.db import models


class BeatLease(models.Model):
    """Which beat process leads: a lease its holder renews every poll (schedules.leader).

    Taken and renewed with one conditional UPDATE judged on the database's
    clock; a leader that stops renewing (died, hung, cut off) is replaced once
    `expires_at` has passed. One row per lease name.
    """

    BEAT = "beat"  # the lease every beat process competes for

    name = models.CharField("name", max_length=64, primary_key=True, help_text='The lease, e.g. "beat".')
    holder = models.CharField(
        "holder",
        max_length=255,
        blank=True,
        help_text="The beat process holding it (host:pid:random), e.g. beat-1:4242:9f2c1a7e. Empty: never taken.",
    )
    term = models.PositiveBigIntegerField(
        "term", default=0, help_text="Fencing number, incremented at every change of holder, e.g. 7."
    )
    renewed_at = models.DateTimeField(
        "renewed at",
        null=True,
        blank=True,
        help_text="The leader's last poll (database clock, UTC), e.g. 2026-03-01 09:30:05.",
    )
    expires_at = models.DateTimeField(
        "expires at",
        help_text="Another beat may take over after this (database clock, UTC), e.g. 2026-03-01 09:30:35.",
    )
    backend_pid = models.IntegerField(
        "database session",
        null=True,
        blank=True,
        help_text="The PostgreSQL backend of the holder's last renewal, e.g. 48213: once it is gone (the holder "
        "died and its connection with it), another beat takes over without waiting for the expiry. Empty on SQLite.",
    )

    class Meta:
        verbose_name = "beat lease"

    def __str__(self):
        return f"{self.name}: {self.holder or 'nobody'} (term {self.term})"


class DatabaseSession(models.Model):
    """A session of the PostgreSQL server (its pg_stat_activity view), read to tell whether a beat leader is still connected."""

    pid = models.IntegerField("backend pid", primary_key=True, help_text="The server process of the session, e.g. 48213.")

    class Meta:
        managed = False  # PostgreSQL's own view
        db_table = "pg_stat_activity"
        verbose_name = "database session"
