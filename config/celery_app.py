import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("outbound")
# Every CELERY_* Django setting configures Celery (see config/settings.py).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Celery's Django fixup closes every database connection after every task
# unless CELERY_DB_REUSE_MAX is set (see config/settings.py), which costs a
# PostgreSQL connect (~10 ms here) per task. With reuse on, connections follow
# Django's own rules instead, as for web requests: closed when unusable or
# older than CONN_MAX_AGE.
@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_stale_connections(**kwargs):
    from django.db import close_old_connections

    close_old_connections()
