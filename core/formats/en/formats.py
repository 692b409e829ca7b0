"""Django's formats for English (FORMAT_MODULE_PATH = "core.formats"): the console's one date format.

Django renders every DateTimeField the admin shows with DATETIME_FORMAT;
core/admin_format.py says why it is this one.
"""

from core.admin_format import DATETIME_FORMAT

SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = DATE_FORMAT
TIME_FORMAT = "H:i:s"
