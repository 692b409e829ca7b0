import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402  (after the settings module is named)
from django.core.wsgi import get_wsgi_application  # noqa: E402

from config.shedding import LoadShedder  # noqa: E402

django_application = get_wsgi_application()
application = LoadShedder(django_application, busy_limit_seconds=settings.WEB_SHED_AFTER_MS / 1000)
