"""A WSGI application whose requests take a known time, for the doorman's tests (test_doorman.py)."""

import time

WORK_SECONDS = 0.1


def application(environ, start_response):
    if not environ["PATH_INFO"].startswith("/healthz"):
        time.sleep(WORK_SECONDS)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]
