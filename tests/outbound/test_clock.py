"""outbound.clock: every host's "now" set by the database's clock."""

from datetime import timedelta

import pytest
from django.db import connection

from outbound import clock as service_clock


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


@pytest.mark.postgresql
def test_it_reads_the_databases_clock_whatever_this_hosts_says(db, clock, settings):
    # The test's clock (this "host's") is months from PostgreSQL's.
    settings.CLOCK_FOLLOWS_DATABASE = True
    clock_offset = service_clock.offset_measure()
    assert abs(clock_offset) > timedelta(days=1)
    assert abs(service_clock.now() - database_now()) < timedelta(seconds=1)


@pytest.mark.postgresql
def test_it_follows_this_hosts_clock_when_told_not_to_follow_the_database(db, settings):
    from django.utils import timezone

    settings.CLOCK_FOLLOWS_DATABASE = False
    assert abs(service_clock.now() - timezone.now()) < timedelta(seconds=1)
