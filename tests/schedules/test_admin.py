"""The operators' admin for schedules: list, filters, edit, cancel with confirmation, run now."""

import json
import re
import zoneinfo
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone
from django.utils.formats import date_format

from core.time import to_ms
from outbound.models import User
from schedules.models import Run, Schedule
from schedules.services import schedule_occurrence_fire

from .conftest import add_runs, make_due_now

# Management forms of the read-only inlines (runs, changes) that every change form posts.
INLINES = {
    f"{prefix}-{name}": value
    for prefix in ("runs", "changes")
    for name, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0), ("MIN_NUM_FORMS", 0), ("MAX_NUM_FORMS", 1000))
}
# The policy boxes as a new schedule's page shows them (both are required).
POLICIES = {"overlap_policy": "buffer_one", "jitter_ms": 0}


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
    words = re.sub(r"<[^>]+>", "", page)  # a date is kept whole in a span of its own
    assert shown in words and in_utc not in words


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
            **INLINES, **POLICIES,
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
            **INLINES, **POLICIES,
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
            **INLINES, **POLICIES,
        },
    )
    change = schedule.changes.get()
    assert change.source == "admin" and change.actor_user.username == "operator"
    assert set(change.changes) >= {"text"}
    detail = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    # The audit trail reads as "field: old → new", not as raw JSON with hashes.
    assert "<li><strong>text</strong>: changed (6 characters → 5 characters)</li>" in detail and "sha256" not in detail


def test_an_admin_switch_to_a_calendar(operator, make_schedule):
    schedule = make_schedule()
    response = operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/",
        {
            "kind": "calendar", "days_of_week": ["monday", "friday"], "send_time": "09:15", "timezone": "Europe/Berlin",
            "max_occurrences": 3, "text": "x", "groups": [str(g.pk) for g in schedule.groups.all()], **INLINES, **POLICIES,
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
            **INLINES, **POLICIES,
            **shown,
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Schedule.objects.get(pk=schedule.pk).text == "After"
    assert schedule.runs.count() == 151


# --- The admin as a console (issue 13) -----------------------------------------------------------------------

def shown_first_run(page: str) -> tuple[str, str]:
    """The date and time the edit form shows for the first run (its two boxes)."""
    date = re.search(r'name="first_run_at_0"[^>]*value="([^"]*)"', page)[1]
    time_ = re.search(r'name="first_run_at_1"[^>]*value="([^"]*)"', page)[1]
    return date, time_


def change_page(client, schedule) -> str:
    return client.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()


def edit_form(client, schedule, **changes) -> dict:
    """The edit form as the page shows it (first run included), with `changes`."""
    date, time_ = shown_first_run(change_page(client, schedule))
    form = {
        "name": schedule.name, "kind": schedule.kind, "interval_ms": schedule.interval_ms or "",
        "max_occurrences": schedule.max_occurrences, "text": schedule.text,
        "first_run_at_0": date, "first_run_at_1": time_,
        "groups": [str(g.pk) for g in schedule.groups.all()],
        # What the page shows for the policies and the calendar's lists, sent back as they are.
        "overlap_policy": schedule.overlap_policy, "jitter_ms": schedule.jitter_ms,
        "catchup_window_ms": "" if schedule.catchup_window_ms is None else schedule.catchup_window_ms,
        "days_of_month": json.dumps(schedule.days_of_month), "send_times": json.dumps(schedule.send_times),
        "skip_dates": json.dumps(schedule.skip_dates),
        **INLINES,
    }
    return {**form, **changes}


def test_it_changes_policies_without_moving_a_due_time(operator, make_schedule):
    first_ms = to_ms(timezone.now() + timedelta(hours=2)) // 1000 * 1000 + 303
    schedule = make_schedule(first_run_at_ms=first_ms, interval_ms=3_600_000, max_occurrences=3)
    form = edit_form(operator, schedule, overlap_policy="skip", catchup_window_ms="60000", jitter_ms="0")
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert (schedule.overlap_policy, schedule.catchup_window_ms) == ("skip", 60_000)
    assert (to_ms(schedule.first_run_at), to_ms(schedule.next_run_at)) == (first_ms, first_ms)
    assert set(schedule.changes.get().changes) == {"overlap_policy", "catchup_window_ms"}


def test_it_refuses_a_jitter_over_half_the_interval_as_the_api_does(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    form = edit_form(operator, schedule, jitter_ms=str(1_800_001))
    page = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", form).content.decode()
    assert "jitter_ms is at most" in page
    schedule.refresh_from_db()
    assert schedule.jitter_ms == 0 and not schedule.changes.exists()


def test_it_edits_a_calendar_into_days_of_the_month_at_several_times(operator, make_schedule):
    schedule = make_schedule(calendar={"days_of_week": ["friday"], "send_time": "14:30", "timezone": "Africa/Cairo"})
    form = edit_form(
        operator, schedule, days_of_week=[], send_time="", timezone="Africa/Cairo",
        start_date=schedule.start_date.isoformat(), first_run_at_0="", first_run_at_1="",
        days_of_month="[1, -1]", send_times='["09:00", "18:00"]', skip_dates='["2099-01-01"]',
    )
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert (schedule.days_of_week, schedule.days_of_month, schedule.send_times) == ([], [1, -1], ["09:00", "18:00"])
    local = schedule.next_run_at.astimezone(zoneinfo.ZoneInfo("Africa/Cairo"))
    assert local.strftime("%H:%M") in ("09:00", "18:00")
    assert local.day == 1 or (local + timedelta(days=1)).day == 1  # the 1st or the last day of a month


def test_it_keeps_the_milliseconds_of_a_due_time_the_operator_did_not_change(operator, make_schedule):
    first_ms = to_ms(timezone.now() + timedelta(hours=2)) // 1000 * 1000 + 303
    schedule = make_schedule(first_run_at_ms=first_ms, interval_ms=3_600_000, max_occurrences=3, text="Before")
    page = change_page(operator, schedule)
    assert shown_first_run(page)[1].endswith(".303")  # the form shows what is stored, to the millisecond
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", edit_form(operator, schedule, text="After"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert schedule.text == "After"
    assert (to_ms(schedule.first_run_at), to_ms(schedule.next_run_at)) == (first_ms, first_ms)
    assert to_ms(schedule.periodic_task.clocked.clocked_time) == first_ms
    assert set(schedule.changes.get().changes) == {"text"}  # no timing change recorded


def test_it_keeps_the_milliseconds_an_operator_types(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    new_first = (timezone.now() + timedelta(days=1)).replace(microsecond=0) + timedelta(milliseconds=123)
    local = timezone.localtime(new_first, zoneinfo.ZoneInfo("Africa/Cairo"))
    form = edit_form(operator, schedule, first_run_at_0=local.strftime("%Y-%m-%d"), first_run_at_1=local.strftime("%H:%M:%S.123"))
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert (schedule.first_run_at, schedule.next_run_at) == (new_first, new_first)
    assert shown_first_run(change_page(operator, schedule))[1] == local.strftime("%H:%M:%S.123")


def test_it_leaves_a_calendar_schedules_timing_alone_when_only_its_text_changes(operator, make_schedule):
    schedule = make_schedule(calendar={"days_of_week": ["friday"], "send_time": "14:30", "timezone": "Africa/Cairo"})
    before = (schedule.first_run_at, schedule.next_run_at, schedule.max_occurrences, schedule.start_date)
    form = edit_form(
        operator, schedule, text="After", days_of_week=["friday"], send_time="14:30:00", timezone="Africa/Cairo",
        start_date=schedule.start_date.isoformat(), first_run_at_0="", first_run_at_1="",
    )
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert (schedule.first_run_at, schedule.next_run_at, schedule.max_occurrences, schedule.start_date) == before
    assert set(schedule.changes.get().changes) == {"text"}


def test_it_offers_no_delete_for_schedules_and_runs(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    add_runs(schedule, 2)
    run = schedule.runs.first()
    for changelist, change in [
        ("/admin/schedules/schedule/", f"/admin/schedules/schedule/{schedule.id}/"),
        ("/admin/schedules/run/", f"/admin/schedules/run/{run.pk}/"),
    ]:
        page = operator.get(changelist).content.decode()
        assert 'value="delete_selected"' not in page
        assert operator.get(f"{change}change/").status_code == 200
        assert "deletelink" not in operator.get(f"{change}change/").content.decode()
        assert operator.post(f"{change}delete/", {"post": "yes"}).status_code == 403
        # Posting the action anyway does nothing: it is not one of the list's actions.
        operator.post(changelist, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(schedule.pk), str(run.pk)], "post": "yes"})
    assert Schedule.objects.filter(pk=schedule.pk).exists() and schedule.runs.count() == 2


def test_it_names_schedules_first_in_the_list_and_finds_them_by_name(operator, make_schedule):
    promo = make_schedule(name="Ramadan promo 2026", text="Ramadan Kareem! " * 10)
    other = make_schedule(name="Weekly digest")
    unnamed = make_schedule()
    page = operator.get("/admin/schedules/schedule/").content.decode()
    header = re.findall(r'<th scope="col" class="(?:sortable )?column-(\w+)', page)
    assert header[:2] == ["title", "status"] and "text_preview" in header
    assert "Ramadan promo 2026" in page and str(unnamed.id) in page
    # The text's first 60 characters, on one line.
    assert ("Ramadan Kareem! " * 4).strip()[:59] + "…" in page and ("Ramadan Kareem! " * 10).strip() not in page
    found = operator.get("/admin/schedules/schedule/?q=ramadan").content.decode()
    assert str(promo.id) in found and str(other.id) not in found and str(unnamed.id) not in found
    by_id = operator.get(f"/admin/schedules/schedule/?q={other.id}").content.decode()
    assert str(other.id) in by_id and str(promo.id) not in by_id


def test_it_renames_a_schedule_and_audits_the_change(operator, make_schedule):
    schedule = make_schedule(name="Old", interval_ms=3_600_000, max_occurrences=2)
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", edit_form(operator, schedule, name="New name"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert schedule.name == "New name"
    assert schedule.changes.get().changes == {"name": ["Old", "New name"]}


# Buttons on the schedule's page

def buttons(page: str) -> list[str]:
    return re.findall(r'class="schedule-operation schedule-operation-(\w+)"', page)


def test_it_offers_the_buttons_that_fit_the_status(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    change = f"/admin/schedules/schedule/{schedule.id}/change/"
    assert buttons(operator.get(change).content.decode()) == ["pause", "run_now", "cancel"]
    Schedule.objects.filter(pk=schedule.pk).update(status="paused", next_run_at=None)
    assert buttons(operator.get(change).content.decode()) == ["resume", "cancel"]
    Schedule.objects.filter(pk=schedule.pk).update(status="canceled")
    assert buttons(operator.get(change).content.decode()) == []


@pytest.mark.parametrize("key, status_after, said", [
    ("pause", "paused", "Paused: nothing starts until it is resumed."),
    ("cancel", "canceled", "Canceled: it sends nothing more."),
])
def test_it_asks_before_a_button_acts_and_reports_back(operator, make_schedule, key, status_after, said):
    schedule = make_schedule()
    url = f"/admin/schedules/schedule/{schedule.id}/operate/{key}/"
    confirm = operator.get(url)
    assert confirm.status_code == 200 and b"confirmed" in confirm.content and b"No, go back" in confirm.content
    operator.post(url, {})  # a POST without the confirmation changes nothing either
    assert Schedule.objects.get(pk=schedule.pk).status == "scheduled"
    done = operator.post(url, {"confirmed": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == f"/admin/schedules/schedule/{schedule.id}/change/"
    assert [str(m) for m in done.context["messages"]] == [said]
    schedule.refresh_from_db()
    assert schedule.status == status_after
    change = schedule.changes.get()
    assert (change.source, change.actor_user.username, change.changes) == ("admin", "operator", {"status": ["scheduled", status_after]})


def test_it_resumes_a_paused_schedule_with_the_button(operator, make_schedule):
    schedule = make_schedule()
    operator.post(f"/admin/schedules/schedule/{schedule.id}/operate/pause/", {"confirmed": "yes"})
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/operate/resume/", {"confirmed": "yes"}, follow=True)
    schedule.refresh_from_db()
    local = timezone.localtime(schedule.next_run_at, zoneinfo.ZoneInfo("Africa/Cairo"))
    millis = f".{local.microsecond // 1000:03d}" if local.microsecond // 1000 else ""
    # When it continues, in the operator's zone with seconds (the pause's message came before it).
    assert [str(m) for m in response.context["messages"]][-1] == f"Resumed: next, #1 of 1 at {local:%Y-%m-%d %H:%M:%S}{millis} EET."
    assert Schedule.objects.get(pk=schedule.pk).status == "scheduled"
    assert [c.changes["status"] for c in schedule.changes.order_by("id")] == [["scheduled", "paused"], ["paused", "scheduled"]]


def test_it_queues_the_next_occurrence_with_the_run_now_button(operator, make_schedule, queued_tasks):
    schedule = make_schedule()
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/operate/run_now/", {"confirmed": "yes"}, follow=True)
    assert any("Queued occurrence #1 to run now." in str(m) for m in response.context["messages"])
    assert queued_tasks() == [("schedules.tasks.schedule_fire", [str(schedule.id), 1, "operator"], {})]
    assert schedule.changes.get().changes["run_now"]["occurrence"] == 1


def test_it_says_why_a_button_that_no_longer_fits_did_nothing(operator, make_schedule):
    schedule = make_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(status="completed", next_run_at=None)
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/operate/pause/", {"confirmed": "yes"}, follow=True)
    assert any("Not done: The schedule is completed; it cannot be paused." in str(m) for m in response.context["messages"])
    assert operator.get(f"/admin/schedules/schedule/{schedule.id}/operate/explode/").status_code == 404


def test_it_queues_a_failed_runs_failed_deliveries_once_with_the_retry_button(operator, make_schedule, make_groups, queued_tasks):
    from outbound.models import Delivery
    from outbound.services.sends import send_finish_if_done

    schedule = make_schedule(groups=make_groups(3), interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    failed, sent = list(run.send.deliveries.order_by("id"))[:2], list(run.send.deliveries.order_by("id"))[2:]
    Delivery.objects.filter(pk__in=[d.pk for d in failed]).update(status="failed", error_code="gateway_rejected")
    Delivery.objects.filter(pk__in=[d.pk for d in sent]).update(status="sent")
    send_finish_if_done(send=run.send)
    run.refresh_from_db()
    assert run.status == "failed"
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    url = f"/admin/schedules/schedule/{schedule.id}/runs/1/retry-failed/"
    assert url in page
    assert b"Yes, send the 2 failed deliveries again" in operator.get(url).content
    queued_tasks()
    response = operator.post(url, {"confirmed": "yes"}, follow=True)
    assert any("Queued 2 failed deliveries of run #1 again." in str(m) for m in response.context["messages"])
    assert set(Delivery.objects.filter(pk__in=[d.pk for d in failed]).values_list("status", flat=True)) == {"queued"}
    assert schedule.changes.get().changes == {"retry_failed": {"occurrence": 1, "deliveries": 2}}
    again = operator.post(url, {"confirmed": "yes"}, follow=True)
    assert any("already retried" in str(m) for m in again.context["messages"])
    assert url not in operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()


# The timeline

def test_it_draws_a_timeline_of_the_occurrences(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=20)
    now = timezone.now()
    outcomes = [("completed", ""), ("failed", "session_not_working"), ("failed", "missed"), ("skipped", "paused"), ("running", "")]
    Run.objects.bulk_create([
        Run(schedule=schedule, occurrence_number=k, due_at=now - timedelta(hours=6 - k), started_at=now, status=status, error_code=code)
        for k, (status, code) in enumerate(outcomes, start=1)
    ])
    Schedule.objects.filter(pk=schedule.pk).update(next_occurrence=6, run_count=5)
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    timeline = re.search(r'<fieldset class="module aligned" id="schedule-timeline">(.*?)</fieldset>', page, re.S)[1]
    assert "<svg" in timeline and "now</text>" in timeline
    marks = re.findall(r'<g class="timeline-mark timeline-(\w+)"><title>([^<]*)</title>', timeline)
    assert [kind for kind, _ in marks] == ["sent", "failed", "missed", "skipped", "sending"] + ["upcoming"] * 12
    assert marks[1][1].startswith("#2 · ") and "failed · session_not_working" in marks[1][1]
    assert marks[5][1].startswith("#6 · ") and "EET" in marks[5][1]  # the operator's zone (Cairo)
    for legend in ["sent 1", "sending 1", "failed 1", "missed 1", "skipped 1", "upcoming 12"]:
        assert f">{legend}</text>" in timeline


# The dashboard

def test_it_shows_a_dashboard_of_what_is_due_what_failed_sessions_queues_and_beat(
    operator, make_schedule, session, account, django_assert_max_num_queries
):
    from outbound.models import Session
    from schedules.leader import lease_renew

    make_schedule(name="Due soon", first_run_at_ms=to_ms(timezone.now() + timedelta(minutes=20)), interval_ms=600_000, max_occurrences=10)
    later = make_schedule(name="Tomorrow", first_run_at_ms=to_ms(timezone.now() + timedelta(days=1)))
    add_runs(later, 3, failed_every=3)  # the third failed an hour ago
    Run.objects.filter(schedule=later, occurrence_number=3).update(failed_at=timezone.now() - timedelta(hours=1))
    Session.objects.create(account=account, name="stopped-line", label="Old phone", status=Session.Status.STOPPED)
    assert lease_renew(name="beat", holder="beat-1:4242:9f2c1a7e", seconds=5)  # as a beat leader does every poll
    index = operator.get("/admin/").content.decode()
    assert 'href="/admin/schedules/schedule/dashboard/"' in index
    with django_assert_max_num_queries(15):
        page = operator.get("/admin/schedules/schedule/dashboard/").content.decode()
    due = re.search(r'id="due-soon">(.*?)</div>\s*<div class="module', page, re.S)[1]
    assert "Due soon" in due and "Tomorrow" not in due
    assert re.search(r'<td>Due soon</td>|>Due soon</a></td>', due)
    assert "<td>5</td>" in due  # due at +20, +30, +40, +50 and +60 minutes
    failed = re.search(r'id="failed-runs">(.*?)</div>\s*<div class="module', page, re.S)[1]
    assert "Tomorrow" in failed and "session_not_working" in failed and "<svg" in failed
    assert "stopped-line" in page and "STOPPED" in page
    assert "beat-1:4242:9f2c1a7e" in page and ">live<" in page
    queues = re.search(r'id="queues">(.*?)</table>', page, re.S)[1]
    assert re.findall(r"<td>(\d+)</td>", queues) == ["0", "0"]  # Redis in the tests: real depths


def test_it_counts_the_messages_waiting_in_the_filesystem_brokers_folder(operator, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    fire, default = settings.CELERY_SCHEDULE_FIRE_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE
    # As kombu's filesystem transport names them: <monotonic ms>_<uuid>.<queue>.msg
    for n, queue in enumerate([fire, fire, fire, default]):
        (tmp_path / f"{1000 + n}_0000000{n}-0000-4000-8000-000000000000.{queue}.msg").write_text("{}")
    page = operator.get("/admin/schedules/schedule/dashboard/").content.decode()
    queues = re.search(r'id="queues">(.*?)</table>', page, re.S)[1]
    assert re.findall(r"<td>(\d+)</td>", queues) == ["3", "1"]
    assert "n/a (" not in page and "files waiting in the filesystem broker" in page
    assert "No beat has ever run" in page


def test_it_says_no_run_failed_instead_of_an_empty_chart(operator):
    page = operator.get("/admin/schedules/schedule/dashboard/").content.decode()
    failed = re.search(r'id="failed-runs">(.*?)</div>\s*<div class="module', page, re.S)[1]
    assert "No failed runs in the last 24 hours." in failed and "<svg" not in failed


# The schedule's django-celery-beat PeriodicTask, honoured

TASKS = "/admin/django_celery_beat/periodictask/"


@pytest.fixture
def static_task(db):
    """A PeriodicTask that mirrors nothing (as the sweeper's): it must behave as django-celery-beat's admin has it."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(name="purge runs", task="schedules.tasks.runs_purge", interval=every)


def beat_marker():
    from django_celery_beat.models import PeriodicTasks

    return PeriodicTasks.last_change()


def test_it_pauses_a_schedule_whose_periodic_task_is_disabled_in_its_form_and_resumes_it_when_enabled(operator, make_schedule):
    schedule = make_schedule(name="Promo", interval_ms=3_600_000, max_occurrences=3)
    task_url = f"{TASKS}{schedule.periodic_task_id}/change/"
    page = operator.get(task_url).content.decode()
    assert "Untick <em>Enabled</em> to pause the schedule" in page and 'name="enabled"' in page
    assert 'name="kwargs"' not in page and 'name="clocked"' not in page  # the rest is the schedule's: read-only here
    marker = beat_marker()

    response = operator.post(task_url, {}, follow=True)  # an unticked box is absent from the form
    # What happened to the schedule, named, and nothing else (no "changed successfully" about the task).
    assert [str(m) for m in response.context["messages"]] == [
        "Schedule “Promo” paused: nothing starts until its task is enabled again."
    ]
    schedule.refresh_from_db()
    assert schedule.status == "paused" and not schedule.periodic_task.enabled
    change = schedule.changes.get()
    assert (change.source, change.actor_user.username) == ("periodic_task", "operator")
    assert change.changes == {"status": ["scheduled", "paused"], "periodic_task.enabled": [True, False]}

    operator.post(task_url, {"enabled": "on"})
    schedule.refresh_from_db()
    assert schedule.status == "scheduled" and schedule.periodic_task.enabled
    assert schedule.changes.count() == 2
    # Written without signals, as every mirror write: beat was never told to reload.
    assert beat_marker() == marker


def test_it_keeps_a_pause_from_the_periodic_task_through_the_next_sync(operator, make_schedule):
    from schedules.registration import periodic_task_sync
    from schedules.services.status import schedule_settle

    schedule = make_schedule()
    operator.post(f"{TASKS}{schedule.periodic_task_id}/change/", {})
    schedule.refresh_from_db()
    schedule_settle(schedule, timezone.now())  # what any later fire, edit or run settle does
    periodic_task_sync(schedule)
    schedule.refresh_from_db()
    assert schedule.status == "paused" and not schedule.periodic_task.enabled


def test_it_pauses_and_resumes_schedules_with_the_enable_disable_and_toggle_actions_and_leaves_other_tasks_as_they_were(
    operator, make_schedule, static_task
):
    first, second = make_schedule(name="First"), make_schedule(name="Second")
    selection = [str(first.periodic_task_id), str(second.periodic_task_id), str(static_task.pk)]
    response = operator.post(TASKS, {"action": "disable_tasks", ACTION_CHECKBOX_NAME: selection}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any("Schedule “First” paused" in m for m in shown) and any("1 task was successfully disabled" in m for m in shown)
    assert {s.status for s in Schedule.objects.filter(pk__in=[first.pk, second.pk])} == {"paused"}
    static_task.refresh_from_db()
    assert not static_task.enabled

    operator.post(TASKS, {"action": "toggle_tasks", ACTION_CHECKBOX_NAME: [str(first.periodic_task_id), str(static_task.pk)]})
    assert Schedule.objects.get(pk=first.pk).status == "scheduled" and Schedule.objects.get(pk=second.pk).status == "paused"
    static_task.refresh_from_db()
    assert static_task.enabled

    operator.post(TASKS, {"action": "enable_tasks", ACTION_CHECKBOX_NAME: selection})
    assert {s.status for s in Schedule.objects.filter(pk__in=[first.pk, second.pk])} == {"scheduled"}
    assert [c.source for c in Schedule.objects.get(pk=second.pk).changes.all()] == ["periodic_task", "periodic_task"]


def test_it_says_the_task_of_an_ended_schedule_stays_disabled(operator, make_schedule):
    from schedules.registration import periodic_task_sync

    schedule = make_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(status="completed", next_run_at=None)
    periodic_task_sync(Schedule.objects.get(pk=schedule.pk))  # as the run that completed it did
    response = operator.post(f"{TASKS}{schedule.periodic_task_id}/change/", {"enabled": "on"}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1 and "was not resumed" in shown[0] and "stays disabled" in shown[0]  # one error, no success
    schedule.refresh_from_db()
    assert schedule.status == "completed" and not schedule.periodic_task.enabled


def test_it_cancels_a_schedule_for_good_when_its_periodic_task_is_deleted(operator, make_schedule, static_task):
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    from schedules.registration import periodic_task_sync

    schedule = make_schedule(name="Promo")
    task_id, clocked_id = schedule.periodic_task_id, schedule.periodic_task.clocked_id
    confirm = operator.get(f"{TASKS}{task_id}/delete/").content.decode()
    assert "cancels the schedule" in confirm
    response = operator.post(f"{TASKS}{task_id}/delete/", {"post": "yes"}, follow=True)
    assert any("Schedule “Promo” canceled" in str(m) for m in response.context["messages"])
    schedule.refresh_from_db()
    assert schedule.status == "canceled" and schedule.periodic_task_id is None
    assert not PeriodicTask.objects.filter(pk=task_id).exists() and not ClockedSchedule.objects.filter(pk=clocked_id).exists()
    change = schedule.changes.get()
    assert change.source == "periodic_task"
    assert change.changes == {"status": ["scheduled", "canceled"], "periodic_task": [schedule.workflow_id, None]}
    periodic_task_sync(schedule)  # a later settle of the canceled schedule makes no new mirror
    assert Schedule.objects.get(pk=schedule.pk).periodic_task_id is None and PeriodicTask.objects.filter(pk=static_task.pk).exists()
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    assert "(deleted; an ended schedule gets no new one)" in page


def test_it_cancels_schedules_with_delete_selected_and_deletes_other_tasks_as_before(operator, make_schedule, static_task):
    from django_celery_beat.models import PeriodicTask

    schedule = make_schedule()
    selection = [str(schedule.periodic_task_id), str(static_task.pk)]
    confirm = operator.post(TASKS, {"action": "delete_selected", ACTION_CHECKBOX_NAME: selection}).content.decode()
    assert "cancels its schedule" in confirm
    operator.post(TASKS, {"action": "delete_selected", ACTION_CHECKBOX_NAME: selection, "post": "yes"})
    assert Schedule.objects.get(pk=schedule.pk).status == "canceled"
    assert not PeriodicTask.objects.filter(pk__in=selection).exists()


def test_it_runs_a_schedules_next_occurrence_now_with_run_selected_tasks(operator, make_schedule, static_task, queued_tasks):
    schedule = make_schedule(name="Promo")  # due in an hour: the old action published a fire that did nothing
    paused = make_schedule(name="Held")
    Schedule.objects.filter(pk=paused.pk).update(status="paused", next_run_at=None)
    selection = [str(schedule.periodic_task_id), str(paused.periodic_task_id), str(static_task.pk)]
    response = operator.post(TASKS, {"action": "run_tasks", ACTION_CHECKBOX_NAME: selection}, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    assert any("Schedule “Promo”: occurrence #1 queued to run now" in m for m in shown)
    assert any("Schedule “Held”: not run" in m for m in shown)
    assert any("1 task was successfully run" in m for m in shown)
    assert sorted(queued_tasks()) == sorted([
        ("schedules.tasks.schedule_fire", [str(schedule.id), 1, "operator"], {}),
        ("schedules.tasks.runs_purge", [], {}),
    ])
    assert schedule.changes.get().source == "periodic_task"


def test_it_keeps_django_celery_beats_form_for_other_periodic_tasks(operator, static_task):
    page = operator.get(f"{TASKS}{static_task.pk}/change/").content.decode()
    assert 'name="regtask"' in page and 'name="interval"' in page and "outbound schedule" not in page.split("<form")[1][:200]
    response = operator.post(TASKS, {"action": "disable_tasks", ACTION_CHECKBOX_NAME: [str(static_task.pk)]})
    assert response.status_code == 302
    static_task.refresh_from_db()
    assert not static_task.enabled


@pytest.mark.clock("2026-03-04T09:00:00+00:00")
def test_it_resumes_a_calendar_schedule_that_never_ran_at_its_first_occurrence(operator, make_schedule):
    """A calendar made after today's first times: a pause and resume before it ever ran skips nothing."""
    now = timezone.now()
    times = [(now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")]
    schedule = make_schedule(calendar={"days_of_week": ["monday", "tuesday", "wednesday", "thursday", "friday",
                                                        "saturday", "sunday"], "send_times": sorted(times), "timezone": "UTC"})
    first = schedule.next_run_at
    assert (schedule.next_occurrence, first) == (1, now.replace(second=0, microsecond=0) + timedelta(hours=1))
    operator.post(f"/admin/schedules/schedule/{schedule.id}/operate/pause/", {"confirmed": "yes"})
    confirm = operator.get(f"/admin/schedules/schedule/{schedule.id}/operate/resume/").content.decode()
    assert "Next: if resumed now, occurrence #1 at " in confirm
    operator.post(f"/admin/schedules/schedule/{schedule.id}/operate/resume/", {"confirmed": "yes"})
    schedule.refresh_from_db()
    assert (schedule.next_occurrence, schedule.next_run_at, schedule.runs.count()) == (1, first, 0)


def test_an_ended_schedules_page_is_read_only_and_says_nothing_is_next(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    Schedule.objects.filter(pk=schedule.pk).update(status="completed", next_run_at=None, next_occurrence=3, run_count=2)
    page = change_page(operator, schedule)
    assert 'name="_save"' not in page and 'name="text"' not in page  # nothing to edit, no Save to refuse
    assert "nothing: all 2 occurrence(s) ran" in page and "#3" not in page
    assert "Switch to" not in page  # no other kind's fields either


def test_an_interval_schedule_shows_its_own_fields_and_the_calendars_behind_a_closed_switch(operator, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    page = change_page(operator, schedule)
    timing = re.search(r"Timing: interval rule.*?</fieldset>", page, re.S)[0]
    assert 'name="interval_ms"' in timing and 'name="days_of_month"' not in timing
    switch = re.search(r"<details>.*?Switch to a calendar rule.*?</details>", page, re.S)[0]
    assert 'name="days_of_month"' in switch and 'value="[]"' not in page and ">[]</textarea>" not in page


# --- Names before ids (issue 23) ---------------------------------------------------------------------------

def test_sends_and_deliveries_are_named_by_their_text_and_schedule(operator, make_schedule, make_groups):
    from schedules.services import schedule_occurrence_fire
    schedule = make_schedule(name="Morning greeting", text="Good morning\nfrom   the shop!", groups=make_groups(2))
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    sends = operator.get("/admin/outbound/send/").content.decode()
    # The text on one line, the schedule by name with its occurrence, the ids short (the full one in a title).
    assert "Good morning from the shop!" in sends and "Morning greeting #1" in sends
    assert f'title="{run.send_id}"' in sends and f">{str(run.send_id)[:8]}<" in sends
    deliveries = operator.get("/admin/outbound/delivery/").content.decode()
    assert "Good morning from the shop!" in deliveries and "Group 1" in deliveries


def test_a_periodic_task_is_named_by_its_schedule(operator, make_schedule):
    schedule = make_schedule(name="Weekend promo")
    tasks = operator.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert re.search(r'<th class="field-title"><a [^>]*>Weekend promo<br>', tasks)
    page = operator.get(f"/admin/django_celery_beat/periodictask/{schedule.periodic_task_id}/change/").content.decode()
    assert "<h2>Task of schedule “Weekend promo”</h2>" in page


def test_an_edits_success_message_names_the_schedule(operator, make_schedule):
    schedule = make_schedule(name="Weekend promo", text="Before")
    page = operator.get(f"/admin/schedules/schedule/{schedule.id}/change/").content.decode()
    form = {
        "name": "Weekend promo", "kind": "interval", "max_occurrences": 1, "text": "After",
        "first_run_at_0": re.search(r'name="first_run_at_0"[^>]*value="([^"]*)"', page)[1],
        "first_run_at_1": re.search(r'name="first_run_at_1"[^>]*value="([^"]*)"', page)[1],
        "groups": [str(g.pk) for g in schedule.groups.all()], "overlap_policy": "buffer_one", "jitter_ms": 0,
        **{f"{p}-{n}": v for p in ("runs", "changes") for n, v in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))},
    }
    response = operator.post(f"/admin/schedules/schedule/{schedule.id}/change/", form, follow=True)
    shown = [str(m) for m in response.context["messages"]]
    # Named, the id a click away (the link), not in the words.
    assert len(shown) == 1 and re.sub(r"<[^>]+>", "", shown[0]) == "The schedule “Weekend promo” was changed successfully."


def test_a_sends_page_links_its_schedule_by_name(operator, make_schedule, make_groups):
    from schedules.services import schedule_occurrence_fire

    schedule = make_schedule(name="Morning greeting", groups=make_groups(2))
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    page = operator.get(f"/admin/outbound/send/{run.send_id}/change/").content.decode()
    assert re.search(rf'<a href="/admin/schedules/schedule/{schedule.id}/change/" title="{schedule.id}">Morning greeting #1</a>', page)


def test_an_ended_calendars_page_shows_its_lists_as_words(operator, make_schedule):
    schedule = make_schedule(calendar={"days_of_week": ["friday", "saturday"], "send_times": ["09:00", "17:30"],
                                       "timezone": "Africa/Cairo", "skip_dates": ["2099-12-25"]})
    Schedule.objects.filter(pk=schedule.pk).update(status="canceled", next_run_at=None)
    page = change_page(operator, schedule)
    assert '<div class="readonly">Friday, Saturday</div>' in page and '<div class="readonly">09:00, 17:30</div>' in page
    assert "[&quot;" not in page and '["' not in page


def test_a_runs_page_is_headed_by_its_schedules_name(operator, make_schedule):
    schedule = make_schedule(name="Weekly digest", interval_ms=3_600_000, max_occurrences=5)
    add_runs(schedule, 3)
    run = schedule.runs.get(occurrence_number=3)
    page = operator.get(f"/admin/schedules/run/{run.pk}/change/").content.decode()
    assert "<h2>Weekly digest #3</h2>" in page
