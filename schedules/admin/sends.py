"""The send list with the schedule each send belongs to, named: added here because schedules sit above outbound.

outbound.admin's SendAdmin cannot name a Schedule (the layers, .importlinter);
this subclass adds the column with one subquery, so the list stays a
handful of queries.
"""

from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.urls import reverse

from core.admin_format import named
from outbound.admin import SendAdmin
from outbound.models import Send

from ..models import Schedule


class ScheduledSendAdmin(SendAdmin):
    list_display = [*SendAdmin.list_display[:1], "schedule", *SendAdmin.list_display[1:]]
    # The send's page links its schedule by name too, in place of the bare schedule id.
    readonly_fields = ["schedule" if name == "schedule_id" else name for name in SendAdmin.readonly_fields]

    def get_queryset(self, request):
        names = Schedule.objects.filter(pk=OuterRef("schedule_id")).values("name")[:1]
        return super().get_queryset(request).annotate(schedule_name=Subquery(names))

    @admin.display(description="schedule")
    def schedule(self, send):
        if not send.schedule_id:
            return "- (sent at once)"
        label = send.schedule_name or ""
        occurrence = f" #{send.occurrence_number}" if send.occurrence_number else ""
        url = reverse("admin:schedules_schedule_change", args=[send.schedule_id])
        return named(f"{label}{occurrence}" if label else "", send.schedule_id, url=url)


admin.site.unregister(Send)
admin.site.register(Send, ScheduledSendAdmin)
