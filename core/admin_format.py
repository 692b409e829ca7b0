"""How the operators' console writes an instant, a long id and a message: one format, defined here.

Every admin page (list columns, read-only fields, the timeline, the
dashboard, messages) shows an instant as `2026-12-04 21:30:05 EET`: the
date, the time to the second, in the signed-in operator's zone
(core.middleware.OperatorTimezoneMiddleware), with that zone's name, so
runs a minute apart never look alike and nobody guesses the zone. Django's
own rendering of a DateTimeField (list columns, read-only fields, `{{ value }}`
in templates) uses DATETIME_FORMAT from core/formats/en/formats.py, the same
format written in Django's letters; tests/outbound/test_admin.py checks that
both agree.
"""

import re
from datetime import datetime

from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

# Django's date-format letters for the same format (core/formats/en/formats.py reads it from here).
DATETIME_FORMAT = "Y-m-d H:i:s T"
EMPTY = "-"


def moment(value: datetime | None, *, millis: bool = False) -> str:
    """An instant as the console shows it, e.g. 2026-12-04 21:30:05 EET (with .303 when `millis` and it has some)."""
    if value is None:
        return EMPTY
    local = timezone.localtime(value)
    fraction = f".{local.microsecond // 1000:03d}" if millis and local.microsecond // 1000 else ""
    return f"{local:%Y-%m-%d %H:%M:%S}{fraction} {local:%Z}"


def dates_unbroken(text: str) -> SafeString:
    """`text` for a narrow cell: a wrap may fall between a date and its time, never inside 2026-12-04."""
    return mark_safe(re.sub(r"(\d{4}-\d\d-\d\d)", r'<span class="nowrap">\1</span>', escape(text)))


def moment_cell(value: datetime | None, *, millis: bool = False) -> SafeString:
    """moment() for a list or inline cell: wraps between date and time if it must, never inside the date."""
    return dates_unbroken(moment(value, millis=millis))


def one_line(text: str, limit: int) -> str:
    """`text` on one line (runs of spaces and newlines as one space), cut to `limit` characters with an ellipsis."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else f"{text[:limit - 1].rstrip()}…"


def short_id(value) -> str:
    """The first 8 characters of a UUID: enough to tell rows apart on a page; the full id is on the row's page."""
    return str(value)[:8] if value else EMPTY


def named(name: str, ident, *, url: str = "") -> str:
    """A row's name, with its short id quiet beside it (the full one in the hover title); a link when `url` is given."""
    if not name:  # the short id alone, the full one in its title
        if url:
            return format_html('<a href="{}" title="{}" class="console-id">{}</a>', url, ident, short_id(ident))
        return format_html('<span class="console-id" title="{}">{}</span>', ident, short_id(ident))
    label = name
    if url:
        return format_html(
            '<a href="{}" title="{}">{}</a> <span class="quiet console-id">{}</span>', url, ident, label, short_id(ident)
        )
    return format_html('{} <span class="quiet console-id" title="{}">{}</span>', label, ident, short_id(ident))
