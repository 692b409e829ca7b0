"""gunicorn settings for the web process (Procfile: gunicorn config.wsgi -c config/gunicorn.py).

https://docs.gunicorn.org/en/stable/settings.html
"""

# The longest request line gunicorn takes (its maximum; default 4094). Longer
# ones get gunicorn's own 414 before the API sees them; the API's URLs and
# query strings are far shorter, and a proxy in front has its own cap (nginx: 8 KB).
limit_request_line = 8190


def post_worker_init(worker):
    """Tell the load shedder (config/shedding.py) which sockets this worker accepts from."""
    from config import shedding

    shedding.listeners_set([listener.sock for listener in worker.sockets], workers=worker.cfg.workers)
