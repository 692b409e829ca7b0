"""An operator in a real browser: headless Debian Chromium, driven by Playwright, against a live server.

The operator logs in, finds a schedule by name, pauses and resumes it,
edits its time (milliseconds kept), disables its PeriodicTask in
django-celery-beat's admin (the schedule pauses) and cancels it with the
page's button. Screenshots of each step, the timeline and the dashboard are
kept under $VAR_DIR/screenshots/ (var/test/screenshots/ with bin/test).

Chromium comes from Debian's `chromium` package (bin/test installs it when
missing and apt is there); Playwright drives it, never downloading a browser
of its own.
"""

import os
import re
import uuid
import zoneinfo
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from core.time import to_ms
from outbound.models import Session, User
from schedules.models import Run, Schedule

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
# What the machine's Chromium needs to start headless as root on a closed network (docs: python-svc machine).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CAIRO = zoneinfo.ZoneInfo("Africa/Cairo")
# An operator's laptop screen: the admin's menu (nav sidebar) stays open at this width.
VIEWPORT = {"width": 1400, "height": 900}
PASSWORD = "correct horse battery staple"


@pytest.fixture
def screenshots(request) -> Path:
    folder = Path(settings.VAR_DIR) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(tmp_path, monkeypatch, live_server):
    """A fresh Chromium profile's page, or a skip saying what is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Browser tests need Debian's chromium at {CHROMIUM} (bin/test installs it with apt when it can).")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Browser tests need playwright (requirements.txt).")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport=VIEWPORT,
            timezone_id="Africa/Cairo",
        )
        context.set_default_timeout(15_000)
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
            # While Playwright's loop runs, Django keeps this thread's connections per context, where
            # pytest-django's teardown does not look: close the test's own here, or it holds the test database open.
            connections.close_all()


@pytest.fixture
def csp_violations(page) -> list[str]:
    """What Chromium refused under the Content-Security-Policy, as it says on the console, on every page visited."""
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    page.on("pageerror", lambda error: refused.append(f"page error: {error}"))
    return refused


def shot(target, folder: Path, name: str, **kwargs) -> Path:
    """A screenshot of a page (whole, unless told otherwise) or of one element, kept as a test artifact."""
    path = folder / f"{name}.png"
    if hasattr(target, "goto"):
        kwargs.setdefault("full_page", True)
    target.screenshot(path=str(path), **kwargs)
    print(f"screenshot: {path}")
    return path


def on(page, url: str) -> None:
    """Wait until the page is at `url` (the admin may keep the list's filters in the query string)."""
    page.wait_for_url(re.compile(re.escape(url) + r"(\?.*)?$"))


def messages(page) -> str:
    return page.locator("ul.messagelist").inner_text()


def schedule_via_api(api, session, groups, **rule) -> Schedule:
    body = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in groups],
        "idempotency_key": f"browser-{uuid.uuid4()}", "text": rule.pop("text"), "schedule": rule,
    }
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    return Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])


def with_history(schedule: Schedule) -> None:
    """Six occurrences in the past, one of each outcome, as the timeline draws them."""
    first = schedule.first_run_at - timedelta(hours=6)
    now = timezone.now()
    outcomes = [("completed", ""), ("completed", ""), ("failed", "session_not_working"), ("failed", "missed"),
                ("skipped", "paused"), ("completed", "")]
    runs = []
    for k, (status, code) in enumerate(outcomes, start=1):
        due = first + timedelta(hours=k - 1)
        runs.append(Run(
            schedule=schedule, occurrence_number=k, due_at=due, started_at=due, status=status, error_code=code,
            error_message={"session_not_working": "The session is STOPPED.", "missed": "Not fired within the grace period."}.get(code, ""),
            completed_at=due + timedelta(seconds=4) if status == "completed" else None,
            failed_at=min(due + timedelta(seconds=4), now) if status == "failed" else None,
        ))
    Run.objects.bulk_create(runs)
    Schedule.objects.filter(pk=schedule.pk).update(
        first_run_at=first, next_occurrence=7, next_run_at=first + timedelta(hours=6), run_count=6, failed_run_count=2,
    )


def test_it_lets_an_operator_run_a_schedule_from_the_admin_in_a_browser(
    page, csp_violations, live_server, screenshots, api, session, make_groups, account
):
    from schedules.leader import lease_renew

    ops = User.objects.create_superuser("ops", "ops@example.com", PASSWORD, time_zone="Africa/Cairo")
    groups = make_groups(3)
    # Due in 40 minutes, at an instant with milliseconds (.303), every hour 5 times.
    first_ms = (to_ms(timezone.now() + timedelta(minutes=40)) // 1000) * 1000 + 303
    promo = schedule_via_api(
        api, session, groups, text="Ramadan Kareem! 20% off everything until Friday.", name="Ramadan promo 2026",
        first_run_at_ms=first_ms, interval_ms=3_600_000, max_occurrences=5,
    )
    digest = schedule_via_api(
        api, session, groups, text="This week's digest", name="Weekly digest",
        first_run_at_ms=to_ms(timezone.now() + timedelta(minutes=10)), interval_ms=3_600_000, max_occurrences=24,
    )
    with_history(digest)
    schedule_via_api(
        api, session, groups[:1], text="Flash sale", name="Flash sale",
        first_run_at_ms=to_ms(timezone.now() + timedelta(minutes=7)), interval_ms=300_000, max_occurrences=8,
    )
    Session.objects.create(account=account, name=f"backup-{uuid.uuid4().hex[:6]}", label="Backup line", status=Session.Status.STOPPED)

    # 1. Log in.
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    on(page, f"{live_server.url}/admin/")
    assert page.locator("#outbound-dashboard-link").is_visible()

    # 2. Find the schedule by name.
    page.goto(f"{live_server.url}/admin/schedules/schedule/")
    page.fill("#searchbar", "ramadan")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"/admin/schedules/schedule/\?q=ramadan$"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Ramadan Kareem! 20% off" in rows.first.inner_text()
    shot(page, screenshots, "01-schedule-search")
    page.click("#result_list tbody tr th a")
    change_url = f"{live_server.url}/admin/schedules/schedule/{promo.id}/change/"
    on(page, change_url)
    assert page.locator("#id_first_run_at_1").input_value().endswith(".303")  # the form shows the milliseconds
    shot(page, screenshots, "02-schedule-page")

    # 3. Pause (a confirmation page first), then resume.
    page.click("a.schedule-operation-pause")
    assert "Pause this schedule?" in page.locator("#content").inner_text()
    shot(page, screenshots, "03-pause-confirmation")
    page.click("#confirm-operation")
    on(page, change_url)
    assert "Paused: nothing starts until it is resumed." in messages(page)
    assert Schedule.objects.get(pk=promo.pk).status == "paused"
    page.click("a.schedule-operation-resume")
    # The confirmation says when it would continue (not "Next: -").
    assert re.search(r"Next: if resumed now, occurrence #1 at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.303 EES?T", page.locator("#content").inner_text())
    shot(page, screenshots, "03-resume-confirmation")
    page.click("#confirm-operation")
    on(page, change_url)
    assert "Resumed: next, #1 of 5 at" in messages(page)
    assert Schedule.objects.get(pk=promo.pk).status == "scheduled"

    # 4. Edit: a save that leaves the time alone keeps it to the millisecond ...
    page.fill("#id_text", "Ramadan Kareem! 25% off everything until Friday.")
    page.click("input[name=_continue]")
    on(page, change_url)
    promo.refresh_from_db()
    assert promo.text.startswith("Ramadan Kareem! 25%")
    assert (to_ms(promo.first_run_at), to_ms(promo.next_run_at)) == (first_ms, first_ms)
    # ... and a new time keeps the milliseconds typed.
    new_first = promo.first_run_at.replace(microsecond=0) + timedelta(minutes=5, milliseconds=250)
    local = new_first.astimezone(CAIRO)
    page.fill("#id_first_run_at_0", local.strftime("%Y-%m-%d"))
    page.fill("#id_first_run_at_1", local.strftime("%H:%M:%S.250"))
    page.click("input[name=_continue]")
    on(page, change_url)
    assert "was changed successfully" in messages(page)
    promo.refresh_from_db()
    assert (to_ms(promo.first_run_at), to_ms(promo.next_run_at)) == (to_ms(new_first), to_ms(new_first))
    assert to_ms(new_first) % 1000 == 250
    assert page.locator("#id_first_run_at_1").input_value() == local.strftime("%H:%M:%S.250")
    shot(page, screenshots, "04-edited-time")

    # 5. Disable its PeriodicTask in django-celery-beat's admin: the schedule pauses.
    page.click(f"a:has-text('{promo.workflow_id}')")
    on(page, f"{live_server.url}/admin/django_celery_beat/periodictask/{promo.periodic_task_id}/change/")
    assert "Untick Enabled to pause the schedule" in page.locator("#outbound-schedule-mirror").inner_text()
    page.uncheck("#id_enabled")
    shot(page, screenshots, "05-periodic-task")
    page.click("input[name=_save]")
    assert messages(page) == "Schedule “Ramadan promo 2026” paused: nothing starts until its task is enabled again."
    promo.refresh_from_db()
    assert promo.status == "paused" and not promo.periodic_task.enabled
    change = promo.changes.order_by("-id").first()
    assert (change.source, change.actor_user_id) == ("periodic_task", ops.id)

    # 6. Cancel with the page's button.
    page.goto(change_url)
    page.click("a.schedule-operation-cancel")
    assert "This cannot be undone." in page.locator("#content").inner_text()
    page.click("#confirm-operation")
    on(page, change_url)
    assert "Canceled: it sends nothing more." in messages(page)
    assert Schedule.objects.get(pk=promo.pk).status == "canceled"
    assert page.locator("a.schedule-operation-cancel").count() == 0
    # Read-only now: no boxes to type into and no Save to refuse.
    assert page.locator("input[name=_save]").count() == 0 and page.locator("#id_text").count() == 0
    shot(page, screenshots, "06-canceled")
    # Enabling its PeriodicTask: one clear error, no "changed successfully" beside it.
    promo.refresh_from_db()
    if promo.periodic_task_id:
        page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/{promo.periodic_task_id}/change/")
        page.check("#id_enabled")
        page.click("input[name=_continue]")
        said = messages(page)
        assert "was not resumed" in said and "successfully" not in said, said
        shot(page, screenshots, "06-canceled-periodic-task-enabled")
    sources = list(promo.changes.order_by("id").values_list("source", flat=True))
    assert sources == ["admin", "admin", "admin", "admin", "periodic_task", "admin"]

    # 7. The pictures: a schedule's timeline and the dashboard.
    page.goto(f"{live_server.url}/admin/schedules/schedule/{digest.id}/change/")
    timeline = page.locator("#schedule-timeline")
    assert timeline.locator("g.timeline-mark").count() == 6 + 12
    for kind in ("sent", "failed", "missed", "skipped", "upcoming"):
        assert timeline.locator(f"g.timeline-{kind}").count() >= 1, kind
    shot(timeline, screenshots, "07-timeline")
    shot(page, screenshots, "07-schedule-page-top", full_page=False)
    lease_renew(name="beat", holder="beat-1:4242:9f2c1a7e", seconds=5)  # a beat leader's poll, just now
    page.goto(f"{live_server.url}/admin/schedules/schedule/dashboard/")
    assert "Flash sale" in page.locator("#due-soon").inner_text()
    assert page.title() == "Dashboard | Outbound operations"
    assert page.locator("#site-name").inner_text() == "Outbound operations"
    assert "Weekly digest" in page.locator("#failed-runs").inner_text()
    assert "Backup line" in page.locator("#sessions").inner_text()
    assert page.locator("#card-beat .value").inner_text() == "live"
    shot(page, screenshots, "08-dashboard")
    # Every page above ran under the Content-Security-Policy with nothing refused.
    assert csp_violations == []


def login(page, live_server) -> None:
    User.objects.create_superuser("ops", "ops@example.com", PASSWORD)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    on(page, f"{live_server.url}/admin/")


def test_the_api_docs_work_under_the_content_security_policy(page, csp_violations, live_server, screenshots):
    response = page.goto(f"{live_server.url}/v2/docs")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 10  # every operation of the schema is drawn
    page.locator(".opblock-summary").first.click()  # an operation opens
    page.locator(".opblock-body").first.wait_for()
    shot(page, screenshots, "09-api-docs", full_page=False)
    assert csp_violations == []


def test_a_crontabs_translation_shows_on_the_periodic_task_page(page, csp_violations, live_server, db):
    """django-celery-beat's inline script, served from a file instead (schedules/static/schedules/periodictask_crontab.js)."""
    from django_celery_beat.models import CrontabSchedule

    crontab = CrontabSchedule.objects.create(minute="30", hour="9", day_of_week="1")
    login(page, live_server)
    page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/add/")
    page.select_option("#id_crontab", str(crontab.pk))
    help_text = page.locator(".field-crontab .help")
    help_text.locator("text=Translation:").wait_for()
    assert "Translation: At 09:30 AM, only on Monday" in help_text.inner_text()
    assert csp_violations == []


# --- Every page at 1,400 px with the menu open (issue 23) ------------------------------------------------------

def fits(page) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of the page: equal when nothing scrolls sideways."""
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def assert_fits(page, what: str) -> None:
    scroll, client = fits(page)
    assert scroll <= client, f"{what} scrolls sideways at {VIEWPORT['width']} px: {scroll} > {client}"
    # Nor does a list scroll inside its own box (Django's .results scrolls sideways rather than widen the page).
    inner = page.evaluate("[...document.querySelectorAll('#changelist .results')].map(e => [e.scrollWidth, e.clientWidth])")
    for scroll, client in inner:
        assert scroll <= client, f"{what}'s list scrolls sideways in its box: {scroll} > {client}"


@pytest.fixture
def console(page, live_server, api, session, make_groups, account):
    """Logged in, with schedules of each kind (one with runs), their sends and deliveries, a webhook endpoint."""
    from webhooks.models import WebhookEndpoint

    User.objects.create_superuser("ops", "ops@example.com", PASSWORD, time_zone="Africa/Cairo")
    groups = make_groups(3)
    soon = to_ms(timezone.now() + timedelta(minutes=30)) // 1000 * 1000
    kinds = {
        "once": schedule_via_api(
            api, session, groups[:1], name="Board meeting reminder for the whole regional sales organisation",
            text="Reminder: the quarterly board meeting starts at 10:00 in the main hall. " * 3, first_run_at_ms=soon,
        ),
        "interval": schedule_via_api(
            api, session, groups, name="Weekly digest", text="This week's digest: new arrivals, offers and events.",
            first_run_at_ms=soon + 600_000, interval_ms=3_600_000, max_occurrences=24,
        ),
        "calendar": schedule_via_api(
            api, session, groups, name="Weekend promo", text="Weekend offers are live!",
            calendar={
                "days_of_week": ["friday", "saturday", "sunday"], "send_times": ["09:00", "13:30", "18:00", "21:15"],
                "timezone": "Africa/Cairo", "skip_dates": ["2099-12-25", "2099-12-26", "2099-12-31", "2100-01-01"],
            },
        ),
    }
    with_history(kinds["interval"])
    # One occurrence fired, so the send list has a send of a schedule.
    from schedules.services import schedule_occurrence_fire
    from tests.schedules.conftest import make_due_now

    morning = schedule_via_api(
        api, session, groups, name="Morning greeting", text="Good morning from the shop!",
        first_run_at_ms=soon, interval_ms=86_400_000, max_occurrences=3,
    )
    make_due_now(morning)
    schedule_occurrence_fire(schedule_id=morning.id)
    sent = api.post("/v2/outbound/sends", {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "browser-flash-sale",
        "text": "Flash sale: 30% off every pair of shoes until midnight, in every shop and online.",
    }, format="json")
    assert sent.status_code == 202, sent.json()
    WebhookEndpoint.objects.create(
        account=account, url="https://crm.example.com/hooks/whatsapp/outbound-events/receiver", secret="s" * 32,
        disabled_reason="18 failures in a row", consecutive_failures=18, failing_since=timezone.now() - timedelta(hours=5),
        disabled_at=timezone.now(), enabled=False,
    )
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    on(page, f"{live_server.url}/admin/")
    return kinds


LIST_PAGES = [
    ("schedules", "/admin/schedules/schedule/"),
    ("runs", "/admin/schedules/run/"),
    ("periodic-tasks", "/admin/django_celery_beat/periodictask/"),
    ("sends", "/admin/outbound/send/"),
    ("deliveries", "/admin/outbound/delivery/"),
    ("sessions", "/admin/outbound/session/"),
    ("groups", "/admin/outbound/group/"),
    ("users", "/admin/outbound/user/"),
    ("events", "/admin/core/event/"),
    ("accounts", "/admin/core/account/"),
    ("api-tokens", "/admin/core/apitoken/"),
    ("webhook-endpoints", "/admin/webhooks/webhookendpoint/"),
    ("webhook-messages", "/admin/webhooks/webhookmessage/"),
    ("dashboard", "/admin/schedules/schedule/dashboard/"),
    ("index", "/admin/"),
]


def test_every_list_page_fits_1400_px_with_the_menu_open(page, csp_violations, live_server, screenshots, console):
    for name, url in LIST_PAGES:
        page.goto(f"{live_server.url}{url}")
        if name != "index":  # the index is the menu itself
            assert page.locator("#main.shifted #nav-sidebar").is_visible(), f"{name}: the menu is open"
        shot(page, screenshots, f"list-{name}")
        assert_fits(page, name)
    # Names, not ids: sends show their text and schedule; PeriodicTasks their schedule's name.
    page.goto(f"{live_server.url}/admin/outbound/send/")
    sends = page.locator("#result_list").inner_text()
    assert "Flash sale: 30% off" in sends and "Good morning from the shop!" in sends and "Morning greeting #1" in sends
    page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/")
    assert "Weekend promo" in page.locator("#result_list").inner_text()
    # One date format, with seconds and the zone, e.g. 2026-12-04 21:30:05 EET (Cairo keeps summer time: EEST).
    page.goto(f"{live_server.url}/admin/schedules/schedule/")
    listed = page.locator("#result_list").inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d EES?T", listed), listed
    # The calendar's rule in short (the full text on its page).
    rule = page.locator("#result_list td.field-rule", has_text="Fri, Sat, Sun").inner_text()
    assert rule == "Fri, Sat, Sun at 09:00, 13:30 +2 (Africa/Cairo)"
    assert csp_violations == []


def test_a_schedules_page_shows_the_fields_of_its_kind(page, csp_violations, live_server, screenshots, console):
    for kind, schedule in console.items():
        page.goto(f"{live_server.url}/admin/schedules/schedule/{schedule.id}/change/")
        shot(page, screenshots, f"schedule-{kind}")
        shot(page, screenshots, f"schedule-{kind}-top", full_page=False)
        assert_fits(page, f"the {kind} schedule's page")
        timing = page.locator("fieldset", has_text="Timing:").first
        if kind == "calendar":
            assert timing.locator(".field-send_times input").input_value() == "09:00, 13:30, 18:00, 21:15"
            assert not page.locator(".field-interval_ms").is_visible()
        else:
            assert timing.locator(".field-interval_ms").is_visible()
            # No calendar boxes, and no `[]` to type JSON into: they wait behind the closed "switch" section.
            assert not page.locator(".field-days_of_month").is_visible()
            assert "[]" not in timing.inner_text()
        # The buttons sit beside the title, not over it.
        title = page.locator("#content > h2").bounding_box()  # the name (id) under "Change schedule"
        for button in page.locator("ul.object-tools li").all():
            box = button.bounding_box()
            overlaps = box["y"] < title["y"] + title["height"] and box["y"] + box["height"] > title["y"] and (
                box["x"] < title["x"] + title["width"] and box["x"] + box["width"] > title["x"]
            )
            assert not overlaps, f"{kind}: {button.inner_text()} overlaps the title"
    # The runs inline's heading link is readable on its bar.
    page.goto(f"{live_server.url}/admin/schedules/schedule/{console['interval'].id}/change/")
    link = page.locator(".inline-group h2 a", has_text="all 6 on the run list")
    colour, background = link.evaluate(
        "a => [getComputedStyle(a).color, getComputedStyle(a.closest('h2')).backgroundColor]"
    )
    assert colour != background
    shot(page.locator("#runs-group"), screenshots, "schedule-runs-inline")
    assert csp_violations == []


def test_each_operator_action_at_1400_px(page, csp_violations, live_server, screenshots, console):
    schedule = console["interval"]
    change_url = f"{live_server.url}/admin/schedules/schedule/{schedule.id}/change/"
    for key, said in [
        ("pause", "Paused: nothing starts until it is resumed."),
        ("resume", "Resumed: next, #"),
        ("run_now", "Queued occurrence #"),
        ("cancel", "Canceled: it sends nothing more."),
    ]:
        page.goto(change_url)
        page.click(f"a.schedule-operation-{key}")
        text = page.locator("#content").inner_text()
        assert "Next: -" not in text
        shot(page, screenshots, f"action-{key}-confirmation")
        assert_fits(page, f"{key}'s confirmation")
        page.click("#confirm-operation")
        on(page, change_url)
        assert said in messages(page), messages(page)
        shot(page, screenshots, f"action-{key}-done", full_page=False)
    # The PeriodicTask of another schedule: disabling pauses it, enabling resumes it, each said once.
    other = console["calendar"]
    task_url = f"{live_server.url}/admin/django_celery_beat/periodictask/{other.periodic_task_id}/change/"
    page.goto(task_url)
    page.uncheck("#id_enabled")
    page.click("input[name=_continue]")
    assert messages(page) == "Schedule “Weekend promo” paused: nothing starts until its task is enabled again."
    shot(page, screenshots, "action-periodic-task-disabled", full_page=False)
    page.check("#id_enabled")
    page.click("input[name=_continue]")
    assert re.match(r"Schedule “Weekend promo” resumed: next, #\d+ at \d{4}-\d\d-\d\d (09:00|13:30|18:00|21:15):00 EES?T\.$", messages(page)), messages(page)
    shot(page, screenshots, "action-periodic-task-enabled", full_page=False)
    assert Schedule.objects.get(pk=other.pk).status == "scheduled"
    assert csp_violations == []
