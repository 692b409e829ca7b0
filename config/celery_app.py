import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outbound")
# Every CELERY_* Django setting configures Celery (see config/settings/tasks.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery's Django fixup closes every database connection after every task
# unless CELERY_DB_REUSE_MAX is set (see config/settings/tasks.py), which costs a
# PostgreSQL connect per task, a large share of a short task's time
# (docs/benchmarks.md, "Delivery throughput"). With reuse on, connections follow
# Django's own rules instead, as for web requests: closed when unusable or
# older than CONN_MAX_AGE.
@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_stale_connections(**kwargs):
    from django.db import close_old_connections

    close_old_connections()


# Log lines as the web process writes them (LOG_FORMAT, request ids, the
# state-change fields), not Celery's own format: Celery leaves logging alone
# when this signal has a receiver.
@signals.setup_logging.connect
def _logging_from_django_settings(**kwargs):
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


# Metrics (config/metrics.py): the worker's main process clears the files of
# processes gone since the last run before it forks its pool, and each pool
# process that exits is marked dead.
@signals.worker_init.connect
def _metrics_files_of_dead_processes_remove(**kwargs):
    from config import metrics

    metrics.files_of_dead_processes_remove()


@signals.worker_process_shutdown.connect
def _metrics_process_dead(pid=None, **kwargs):
    from config import metrics

    metrics.process_dead(pid or os.getpid())
