"""The database health check (config/postgresql): no round trip while the connection is quiet, a new connection once the server closed it."""

import time

import psycopg2
from django.db import connection
from django.db.backends.postgresql import base


def _new_request():
    """What Django does at the start of each request (and config.celery_app before each task)."""
    connection.health_check_done = False


def test_a_quiet_connection_passes_without_a_query(transactional_db, monkeypatch):
    connection.ensure_connection()
    checks = []
    monkeypatch.setattr(base.DatabaseWrapper, "is_usable", lambda self: checks.append(self) or True)
    before = connection.connection
    _new_request()
    connection.close_if_health_check_failed()
    assert checks == []
    assert connection.connection is before and connection.health_check_done


def test_a_connection_the_server_closed_is_replaced_before_it_is_used(transactional_db):
    connection.ensure_connection()
    dead = connection.connection
    with psycopg2.connect(**connection.get_connection_params()) as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead.get_backend_pid()])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    _new_request()
    connection.close_if_health_check_failed()
    assert connection.connection is None  # closed, not handed to the request
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not dead
