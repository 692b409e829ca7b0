"""gunicorn settings for the web process (Procfile: gunicorn config.wsgi -c config/gunicorn.py).

https://docs.gunicorn.org/en/stable/settings.html
"""

# The longest request line gunicorn takes (its maximum; default 4094). Longer
# ones get gunicorn's own 414 before the API sees them; the API's URLs and
# query strings are far shorter, and a proxy in front has its own cap (nginx: 8 KB).
limit_request_line = 8190

# The sync worker, with a doorman thread that refuses past capacity when a
# request arrives instead of after its wait in the accept queue (config/doorman.py).
worker_class = "config.doorman.DoormanWorker"


def post_worker_init(worker):
    """Tell the load shedder (config/shedding.py) which sockets this worker accepts from, if no doorman decides."""
    from config import doorman, shedding

    if isinstance(worker, doorman.DoormanWorker):
        return  # the doorman decides at arrival, on its own measure of the service time

    shedding.listeners_set([listener.sock for listener in worker.sockets], workers=worker.cfg.workers)


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
