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
