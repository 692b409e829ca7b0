"""The operators' console as a whole: its titles, and the stylesheet every page of it loads.

Every ModelAdmin of the project derives from ConsoleAdmin, so its list and
change pages carry core/static/core/console.css (lists that fit the width,
wrapping cells, quiet ids). A stylesheet, not inline styles: the
Content-Security-Policy allows no 'unsafe-inline' (config/settings/base.py).
"""

from django.contrib import admin

admin.site.site_header = "Outbound operations"
admin.site.site_title = "Outbound operations"
admin.site.index_title = "Schedules, sends, sessions and webhooks"


class ConsoleAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ["core/console.css"]}
