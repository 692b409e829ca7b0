"""gunicorn settings for the web process (bin/web, the Procfile's web: gunicorn config.wsgi -c config/gunicorn.py behind HAProxy).

https://docs.gunicorn.org/en/stable/settings.html
"""

# The longest request line gunicorn takes (its maximum; default 4094). Longer
# ones get gunicorn's own 414 before the API sees them; the API's URLs and
# query strings are far shorter, and HAProxy in front has its own cap (its buffer, tune.bufsize).
limit_request_line = 8190

# gunicorn's sync workers behind HAProxy (deploy/haproxy.cfg, started with
# gunicorn by bin/web): HAProxy reads each request whole and hands a worker
# only complete ones, one per worker at a time, so a slow client holds none.
worker_class = "sync"


def on_starting(server):
    """In the master, before any worker: remove the metric files of processes gone since the last run (config/metrics.py)."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config import metrics  # loads the settings, which name the folder, before prometheus-client

    metrics.files_of_dead_processes_remove()


def child_exit(server, worker):
    """In the master, when a worker exits: drop its live gauges (prometheus-client's multiprocess bookkeeping)."""
    from config import metrics

    metrics.process_dead(worker.pid)


def post_worker_init(worker):
    """In each worker, before its first request: load what that request would load on first use.

    The URLconf with every view, and the modules the API imports only when
    first needed (to keep beat small): without this the first request a
    worker serves after a start or a restart takes seconds on a busy host,
    long enough for requests queued behind it in HAProxy to time out.
    """
    import time

    started = time.monotonic()
    import cryptography.fernet  # noqa: F401  (core/secretbox.py)
    import jwt  # noqa: F401  (core/services/credentials.py)
    import limits.storage  # noqa: F401  (core/api/throttling.py)
    import limits.strategies  # noqa: F401
    from django.urls import resolve

    resolve("/v2/outbound/sends")  # builds the whole URLconf, importing every view
    worker.log.info("Worker warmed up (URLconf, views, the API's modules) in %.0f ms", (time.monotonic() - started) * 1000)
