"""The database health check (Django's CONN_HEALTH_CHECKS): a live connection is kept, one the server closed is replaced before use."""

import time

import psycopg2
from django.db import connection


def _new_request():
    """What Django does at the start of each request (and config.celery_app before each task)."""
    connection.health_check_done = False


def test_a_live_connection_passes_and_is_kept(transactional_db):
    connection.ensure_connection()
    before = connection.connection
    _new_request()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is before and connection.health_check_done


def test_a_connection_the_server_closed_is_replaced_before_it_is_used(transactional_db):
    connection.ensure_connection()
    dead = connection.connection
    with psycopg2.connect(**connection.get_connection_params()) as other, other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dead.get_backend_pid()])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    _new_request()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.connection is not dead
