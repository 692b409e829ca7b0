"""The operators' admin for schedules: list, filters, edit, cancel with confirmation, run now."""

import re
import zoneinfo
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from django.utils.formats import date_format

from outbound.models import User
from schedules.models import Run, Schedule
from schedules.services import schedule_occurrence_fire

from .conftest import make_due_now
from .conftest import add_runs


# Management forms of the read-only inlines (runs, changes) that every change form posts.
INLINES = {
    f"{prefix}-{name}": value
    for prefix in ("runs", "changes")
    for name, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0), ("MIN_NUM_FORMS", 0), ("MAX_NUM_FORMS", 1000))
}


@pytest.fixture
def operator(client, db):
    user = User.objects.create_superuser("operator", "op@example.com", "pw", time_zone="Africa/Cairo")
    client.force_login(user)
    return client


def test_the_list_shows_status_next_run_counts_and_creator(operator, make_schedule, user, django_assert_max_num_queries):
    schedules = [make_schedule() for _ in range(5)]
    with django_assert_max_num_queries(12):
        response = operator.get("/admin/schedules/schedule/")
    page = response.content.decode()
    assert response.status_code == 200
    assert all(str(s.id) in page for s in schedules)
    assert "0 / 0" in page and user.username in page
    # Next run is shown in the operator's own zone (Cairo), not the server's (UTC).
    cairo = zoneinfo.ZoneInfo("Africa/Cairo")
    shown = date_format(timezone.localtime(schedules[0].next_run_at, cairo), "DATETIME_FORMAT")
    in_utc = date_format(timezone.localtime(schedules[0].next_run_at, zoneinfo.ZoneInfo("UTC")), "DATETIME_FORMAT")
    assert shown in page and in_utc not in page


def test_the_list_filters_and_searches_by_id(operator, make_schedule):
    keep, other = make_schedule(), make_schedule()
    by_id = operator.get(f"/admin/schedules/schedule/?q={keep.id}").content.decode()
    assert str(keep.id) in by_id and str(other.id) not in by_id
    by_status = operator.get("/admin/schedules/schedule/?status__exact=canceled").content.decode()
    assert str(keep.id) not in by_status


def test_the_detail_shows_runs_with_a_link_to_their_deliveries(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    assert f"/admin/outbound/send/{run.send_id}/change/" in page
    send_page = operator.get(f"/admin/outbound/send/{run.send_id}/change/").content.decode()
    assert all(d.chat_id in send_page for d in run.send.deliveries.all())


def test_cancel_asks_for_confirmation_first(operator, make_schedule):
    schedule = make_schedule()
    form = {"action": "cancel", ACTION_CHECKBOX_NAME: [str(schedule.pk)]}
    response = operator.post("/admin/schedules/schedule/", form)
    assert response.status_code == 200 and b"Yes, cancel them" in response.content
    assert Schedule.objects.get(pk=schedule.pk).status == "scheduled"
    operator.post("/admin/schedules/schedule/", {**form, "confirmed": "yes"})
    schedule.refresh_from_db()
    assert schedule.status == "canceled"
    assert not schedule.periodic_task.enabled


def test_run_now_queues_the_next_occurrence(operator, make_schedule, queued_tasks):
    schedule = make_schedule()
    operator.post("/admin/schedules/schedule/", {"action": "run_now", ACTION_CHECKBOX_NAME: [str(schedule.pk)]})
    assert queued_tasks() == [("schedules.tasks.schedule_fire", [str(schedule.id), 1, "operator"], {})]


def test_an_edit_in_the_admin_moves_the_beat_registration(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    new_first = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    local = timezone.localtime(new_first, timezone=zoneinfo.ZoneInfo("Africa/Cairo"))
    response = operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/",
        {
            "first_run_at_0": local.strftime("%Y-%m-%d"),
            "first_run_at_1": local.strftime("%H:%M:%S"),
            "kind": "interval",
            "interval_ms": 7_200_000,
            "max_occurrences": 4,
            "text": "Edited",
            "groups": [str(g.pk) for g in schedule.groups.all()],
            **INLINES,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule.refresh_from_db()
    assert (schedule.first_run_at, schedule.next_run_at) == (new_first, new_first)
    assert (schedule.interval_ms, schedule.max_occurrences, schedule.text) == (7_200_000, 4, "Edited")
    assert schedule.periodic_task.clocked.clocked_time == new_first


def test_an_edit_into_the_past_is_refused(operator, make_schedule):
    schedule = make_schedule()
    past = timezone.localtime(timezone.now() - timedelta(days=1), timezone=zoneinfo.ZoneInfo("Africa/Cairo"))
    response = operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/",
        {
            "first_run_at_0": past.strftime("%Y-%m-%d"), "first_run_at_1": past.strftime("%H:%M:%S"),
            "kind": "interval", "interval_ms": "", "max_occurrences": 1, "text": "x",
            "groups": [str(g.pk) for g in schedule.groups.all()],
            **INLINES,
        },
    )
    assert response.status_code == 200 and b"in the past" in response.content
    assert Schedule.objects.get(pk=schedule.pk).first_run_at == schedule.first_run_at


def test_pause_and_resume_from_the_admin(operator, make_schedule):
    schedule = make_schedule()
    operator.post("/admin/schedules/schedule/", {"action": "pause", ACTION_CHECKBOX_NAME: [str(schedule.pk)]})
    assert Schedule.objects.get(pk=schedule.pk).status == "paused"
    operator.post("/admin/schedules/schedule/", {"action": "resume", ACTION_CHECKBOX_NAME: [str(schedule.pk)]})
    assert Schedule.objects.get(pk=schedule.pk).status == "scheduled"


def test_the_list_reads_a_calendar_rule_and_the_detail_shows_upcoming_runs(operator, make_schedule):
    schedule = make_schedule(calendar={"days_of_week": ["friday", "saturday", "sunday"], "send_time": "14:30",
                                       "timezone": "Africa/Cairo", "end_date": "2027-08-31"})
    page = operator.get("/admin/schedules/schedule/").content.decode()
    assert "Fri, Sat, Sun at 14:30 Africa/Cairo until 31 Aug 2027" in page
    detail = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    assert "#1 " in detail and "#5 " in detail and "completed_with_failures" in detail  # upcoming runs, status help


def test_an_admin_edit_is_audited(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2, text="Before")
    operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/",
        {
            "kind": "interval", "interval_ms": 3_600_000, "max_occurrences": 2, "text": "After",
            "first_run_at_0": timezone.localtime(schedule.first_run_at, zoneinfo.ZoneInfo("Africa/Cairo")).strftime("%Y-%m-%d"),
            "first_run_at_1": timezone.localtime(schedule.first_run_at, zoneinfo.ZoneInfo("Africa/Cairo")).strftime("%H:%M:%S"),
            "groups": [str(g.pk) for g in schedule.groups.all()],
            **INLINES,
        },
    )
    change = schedule.changes.get()
    assert change.source == "admin" and change.actor_user.username == "operator"
    assert set(change.changes) >= {"text"}
    detail = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    assert "admin" in detail and "sha256" in detail


def test_an_admin_switch_to_a_calendar(operator, make_schedule):
    schedule = make_schedule()
    response = operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/",
        {
            "kind": "calendar", "days_of_week": ["monday", "friday"], "send_time": "09:15", "timezone": "Europe/Berlin",
            "max_occurrences": 3, "text": "x", "groups": [str(g.pk) for g in schedule.groups.all()], **INLINES,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert schedule.kind == "calendar" and schedule.rule_summary.startswith("Mon, Fri at 09:15 Europe/Berlin")
    local = schedule.next_run_at.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute, local.strftime("%a")) in {(9, 15, "Mon"), (9, 15, "Fri")}


def run_rows(page: str) -> list[int]:
    """Occurrence numbers of the runs inline's rows, in page order."""
    return [int(n) for n in re.findall(r'<td class="field-occurrence_number">\s*<p>(\d+)</p>', page)]


def test_the_detail_shows_the_latest_100_runs_and_links_to_all_of_them(operator, make_schedule):
    schedule, other = make_schedule(interval_ms=3_600_000, max_occurrences=1000), make_schedule()
    add_runs(schedule, 250, failed_every=10)
    add_runs(other, 3)
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    assert run_rows(page) == list(range(250, 150, -1))
    assert "session_not_working" in page  # error codes, as before
    link = f"/admin/schedules/run/?schedule={schedule.id}"
    assert f'<a href="{link}">all 250 runs</a>' in page
    # The run list filters by schedule, and says so beside the other filters.
    runs = operator.get(link).content.decode()
    assert "250 runs" in runs and str(other.id) not in runs and "By schedule" in runs
    failed = operator.get(f"{link}&status__exact=failed").content.decode()
    assert "25 runs" in failed
    not_an_id = operator.get("/admin/schedules/run/?schedule=latest")
    assert not_an_id.status_code == 302 and not_an_id.url.endswith("?e=1")


def test_a_schedule_saves_after_newer_runs_pushed_rows_out_of_its_page(operator, make_schedule):
    """The inline posts back the 100 runs it showed; one that a newer run pushed out of them meanwhile is left alone."""
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=1000, text="Before")
    add_runs(schedule, 150)
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    shown = dict(re.findall(r'<input type="hidden" name="(runs-[\w-]+)" value="([^"]*)"', page))
    assert shown["runs-INITIAL_FORMS"] == "100"
    now = timezone.now()
    Run.objects.create(schedule=schedule, occurrence_number=151, due_at=now, started_at=now)
    cairo = zoneinfo.ZoneInfo("Africa/Cairo")
    response = operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/",
        {
            "kind": "interval", "interval_ms": 3_600_000, "max_occurrences": 1000, "text": "After",
            "first_run_at_0": timezone.localtime(schedule.first_run_at, cairo).strftime("%Y-%m-%d"),
            "first_run_at_1": timezone.localtime(schedule.first_run_at, cairo).strftime("%H:%M:%S"),
            "groups": [str(g.pk) for g in schedule.groups.all()],
            **INLINES,
            **shown,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Schedule.objects.get(pk=schedule.pk).text == "After"
    assert schedule.runs.count() == 151
