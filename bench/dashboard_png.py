"""Draw deploy/grafana/outbound.json from a real run, for docs/operations.md (docs/img/dashboard.png).

    .venv/bin/python -m bench.dashboard_png [--seconds 220] [--out docs/img/dashboard.png]

Grafana is not in Debian's archive (npm's `grafana` is a placeholder), so this renders the
dashboard's own panels with matplotlib instead, from the same data Grafana
would read: it runs the service as the Procfile does (web behind HAProxy,
a worker, beat, the fake gateway), runs a real Prometheus (Debian's
package, bin/_promtool.sh installs it) that scrapes GET /metrics every 2 s
and evaluates deploy/prometheus/alerts.yml, drives traffic with a few
incidents, then asks Prometheus for every panel's query (query_range) and
draws each panel where the dashboard's grid puts it. Alerts that fired are
red lines on every graph (the dashboard's annotation) and listed in the title.

The incidents, at seconds from the start of traffic: the gateway answers
that the sending session does not exist (40-90: its deliveries fail), a sending session goes FAILED (60), a customer's
endpoint answers 410 Gone and is disabled (70), beat is stopped (100) and
started again (180): the beat-leader alert fires, and the occurrences it
missed fire late when it is back.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from bench.common import (
    LOG_DIR,
    ROOT,
    Processes,
    bench_env,
    database_reset,
    django_setup,
)
from bench.cpu import free_port
from bench.fixtures import bench_fixture, send_body

DASHBOARD = ROOT / "deploy/grafana/outbound.json"
RULES = ROOT / "deploy/prometheus/alerts.yml"
TOKEN = "dashboard-scrape-token"
SCRAPE_SECONDS = 2
RATE_INTERVAL = "20s"  # what Grafana's $__rate_interval comes to for a 2 s scrape over a few minutes


# -- a customer's webhook receiver: /ok answers 200, /gone 410 (the system then disables the endpoint) --------


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(410 if self.path.startswith("/gone") else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def receiver_start() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


# -- Prometheus ---------------------------------------------------------------------------------------------


def prometheus_start(processes: Processes, env: dict, web_port: int) -> str:
    subprocess.run(["bash", "-c", ". bin/_promtool.sh"], cwd=ROOT, check=False)
    if not Path("/usr/bin/prometheus").exists():
        sys.exit("prometheus is not installed (apt-get install prometheus; bin/_promtool.sh does it as root)")
    folder = LOG_DIR / "dashboard-prometheus"
    subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir(parents=True)
    (folder / "token").write_text(TOKEN)
    config = {
        "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{
            "job_name": "outbound", "metrics_path": "/metrics",
            "authorization": {"credentials_file": str(folder / "token")},
            "static_configs": [{"targets": [f"127.0.0.1:{web_port}"]}],
        }],
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    processes.start(
        "dashboard-prometheus",
        ["/usr/bin/prometheus", f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"prometheus did not start: see {LOG_DIR / 'dashboard-prometheus.log'}")
        time.sleep(0.5)


def query_range(prometheus: str, expr: str, start: float, end: float) -> list[dict]:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$instance", ".*")
    answer = httpx.get(f"{prometheus}/api/v1/query_range", params={"query": expr, "start": start, "end": end, "step": SCRAPE_SECONDS}, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]["result"]


# -- the run ------------------------------------------------------------------------------------------------


def traffic(*, web: str, gateway: str, fixture, spare_session: str, seconds: float, processes: Processes, env: dict, beat) -> None:
    """Sends every 2 s and the incidents of the module's docstring, on a timeline from now."""
    from core.models import Account
    from outbound.models import Session
    from webhooks.services.endpoints import endpoint_create

    receiver_port = receiver_start()
    account = Account.objects.get(sessions__id=fixture.session_id)
    endpoint_create(account=account, url=f"http://127.0.0.1:{receiver_port}/ok", events=["*"])
    api = httpx.Client(base_url=web, headers={"Authorization": f"Bearer {fixture.token}"}, timeout=30)
    start = time.monotonic()
    done = set()

    def at(second: float, name: str) -> bool:
        if name in done or time.monotonic() - start < second:
            return False
        done.add(name)
        print(f"{time.monotonic() - start:6.1f} s  {name}", flush=True)
        return True

    while (elapsed := time.monotonic() - start) < seconds:
        answer = api.post("/v2/outbound/sends", json=send_body(fixture, text=f"dashboard {elapsed:.0f}"))
        if answer.status_code != 422:  # 422: the session is not WORKING (40-90 s), which the API refuses: part of the picture
            answer.raise_for_status()
        api.get("/v2/sessions").raise_for_status()
        httpx.get(f"{web}/v2/sessions", timeout=10)  # no token: a 401, counted as the API's 4xx
        if at(40, "the gateway answers that the sending session does not exist"):
            name = Session.objects.get(pk=fixture.session_id).name
            httpx.post(f"{gateway}/_fake/config", json={"sessions": {name: "MISSING"}}).raise_for_status()
        if at(60, "a sending session goes FAILED"):
            name = Session.objects.get(pk=spare_session).name
            httpx.post(f"{gateway}/_fake/config", json={"sessions": {name: "FAILED"}}).raise_for_status()
            httpx.post(f"{gateway}/_fake/emit", json={"event": "session.status", "session": name, "status": "FAILED"}).raise_for_status()
        if at(70, "a customer's endpoint answers 410 Gone"):
            endpoint_create(account=account, url=f"http://127.0.0.1:{receiver_port}/gone", events=["*"])
        if at(90, "the gateway knows the session again"):
            name = Session.objects.get(pk=fixture.session_id).name
            httpx.post(f"{gateway}/_fake/config", json={"sessions": {name: "WORKING"}}).raise_for_status()
        if at(100, "beat stopped"):
            processes.stop(beat)
        if at(180, "beat started again"):
            processes.beat(env, name="dashboard-beat-2")
        time.sleep(2)


def interval_schedules(fixture, count: int, seconds: float) -> None:
    """Schedules that fire every 5 s for the whole run, one group each."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone as django_timezone

    from core.models import Account
    from outbound.services.sends import send_targets_resolve
    from schedules.services import schedule_create

    account = Account.objects.get(sessions__id=fixture.session_id)
    for i in range(count):
        targets = send_targets_resolve(account=account, session_id=uuid.UUID(fixture.session_id), group_ids=[uuid.UUID(fixture.group_ids[i])])
        timing = {"kind": "interval", "first_run_at": django_timezone.now() + timedelta(seconds=5 + i), "interval_ms": 5_000,
                  "max_occurrences": int(seconds / 5) + 10}
        schedule_create(targets=targets, text="dashboard interval", media=[], actor_user=None, timing=timing)


# -- the picture --------------------------------------------------------------------------------------------

BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a"]
STAT_COLORS = {"green": "#37872d", "red": "#c4162a", "orange": "#fa6400"}


def legend(series: dict, template: str) -> str:
    text = template
    for key, value in series["metric"].items():
        text = text.replace("{{" + key + "}}", value)
    return text


def draw(board: dict, data: dict, alerts: list[tuple[float, str]], start: float, end: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    unit_w, unit_h = 0.85, 0.42  # inches per grid column, per grid row
    top = 0.9  # inches for the title
    fig = plt.figure(figsize=(24 * unit_w, rows * unit_h + top), facecolor=BACKGROUND)
    height = rows * unit_h + top
    fired = sorted({name for _, name in alerts})
    fig.text(0.005, 1 - 0.3 / height, f"{board['title']}  ·  {_clock(start)}–{_clock(end)} UTC  ·  a real run of bench/dashboard_png.py",
             color=TEXT, fontsize=15, weight="bold", va="top")
    fig.text(0.005, 1 - 0.62 / height, "Alerts fired (red lines): " + (", ".join(fired) if fired else "none"),
             color="#f2495c" if fired else TEXT, fontsize=11, va="top")

    def box(grid, pad=0.06):
        x0 = grid["x"] / 24 + pad / (24 * unit_w)
        w = grid["w"] / 24 - 2 * pad / (24 * unit_w)
        y0 = 1 - (top + (grid["y"] + grid["h"]) * unit_h) / height + pad / height
        h = grid["h"] * unit_h / height - 2 * pad / height
        return [x0, y0, w, h]

    for panel in board["panels"]:
        if panel["type"] == "row":
            x0, y0, _, h = box(panel["gridPos"], pad=0)
            fig.text(x0 + 0.003, y0 + h / 2, panel["title"], color=TEXT, fontsize=13, weight="bold", va="center")
            continue
        x0, y0, w, h = box(panel["gridPos"])
        frame = fig.add_axes([x0, y0, w, h], facecolor=PANEL)
        frame.set_xticks([])
        frame.set_yticks([])
        for spine in frame.spines.values():
            spine.set_color(GRID)
        fig.text(x0 + 0.08 / (24 * unit_w), y0 + h - 0.08 / height, panel["title"], color=TEXT, fontsize=10, weight="bold", va="top")
        results = data[panel["id"]]
        # Inside the frame, under the title, with room for the tick labels (inches turned into figure fractions).
        inner = [x0 + 0.55 / (24 * unit_w), y0 + 0.3 / height, w - 0.65 / (24 * unit_w), h - 0.7 / height]
        if panel["type"] == "stat":
            ax = fig.add_axes([x0 + 0.08 / (24 * unit_w), y0 + 0.08 / height, w - 0.16 / (24 * unit_w), h - 0.45 / height])
            ax.axis("off")
            _stat(ax, panel, results)
            continue
        ax = fig.add_axes(inner, facecolor=PANEL)
        for spine in ax.spines.values():
            spine.set_color(GRID)
        unit = panel["fieldConfig"]["defaults"].get("unit")
        stacked = panel["fieldConfig"]["defaults"].get("custom", {}).get("stacking", {}).get("mode") == "normal"
        lines = []
        for target, result in zip(panel["targets"], results):
            for series in result:
                times = [datetime.fromtimestamp(float(t), timezone.utc) for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                lines.append((legend(series, target["legendFormat"]), times, values))
        for i, (label, times, values) in enumerate(sorted(lines)):
            ax.plot(times, values, color=COLORS[i % len(COLORS)], linewidth=1.4, label=label)
            if stacked:
                ax.fill_between(times, values, color=COLORS[i % len(COLORS)], alpha=0.12)
        for when, _ in alerts:
            ax.axvline(datetime.fromtimestamp(when, timezone.utc), color="#f2495c", linewidth=0.9, alpha=0.8)
        ax.set_xlim(datetime.fromtimestamp(start, timezone.utc), datetime.fromtimestamp(end, timezone.utc))
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=2, maxticks=max(3, panel["gridPos"]["w"] // 2)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=timezone.utc))
        ax.tick_params(colors=TEXT, labelsize=8)
        ax.grid(color=GRID, linewidth=0.5)
        if unit == "percentunit":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        elif unit == "s":
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g} s"))
        if not lines:
            ax.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend(loc="upper left", fontsize=7, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT, ncol=min(4, len(lines)))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, facecolor=BACKGROUND)
    print(f"wrote {out}")


def _stat(ax, panel: dict, results: list) -> None:
    from matplotlib.patches import Rectangle

    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xticks([])
    ax.set_yticks([])
    series = [s for result in results for s in result]
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    if not series:
        ax.text(0.5, 0.45, "No data", color=TEXT, ha="center", va="center", fontsize=14, transform=ax.transAxes)
        return
    cells = []
    for s in series:
        value = float(s["values"][-1][1])
        color = next(step["color"] for step in reversed(steps) if step["value"] is None or value >= step["value"])
        cells.append((legend(s, panel["targets"][0]["legendFormat"]), value, color))
    width = 1 / len(cells)
    for i, (label, value, color) in enumerate(cells):
        ax.add_patch(Rectangle((i * width + 0.02, 0.06), width - 0.04, 0.76, facecolor=STAT_COLORS.get(color, color), edgecolor="none"))
        ax.text(i * width + width / 2, 0.5, f"{value:g}", color="white", ha="center", va="center", fontsize=22, weight="bold", transform=ax.transAxes)
        if len(cells) > 1:
            ax.text(i * width + width / 2, 0.16, label, color="white", ha="center", va="center", fontsize=8, transform=ax.transAxes)


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def alerts_fired(prometheus: str, start: float, end: float) -> list[tuple[float, str]]:
    """(when it first fired, alert name) for each alert that fired during the run."""
    fired = []
    for series in query_range(prometheus, 'ALERTS{alertstate="firing"}', start, end):
        fired.append((float(series["values"][0][0]), series["metric"]["alertname"]))
    return sorted(fired)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=220, help="seconds of traffic (the incidents need 200)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/dashboard.png")
    args = parser.parse_args(argv)

    web_port, gateway_port = free_port(), free_port()
    env = bench_env(
        database="outbound_dashboard",
        METRICS_TOKEN=TOKEN,
        WAHA_BASE_URL=f"http://127.0.0.1:{gateway_port}",
        WAHA_WEBHOOK_ALLOW_UNSIGNED="1",
        URL_ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8",
        SCHEDULE_MIN_INTERVAL_MS=5000,
        PROMETHEUS_MULTIPROC_DIR=str(LOG_DIR / "dashboard-metrics"),
    )
    subprocess.run(["rm", "-rf", env["PROMETHEUS_MULTIPROC_DIR"]], check=True)
    django_setup(env)
    database_reset(env)
    fixture = bench_fixture(groups=5, name="dashboard")
    from outbound.models import Session

    sending = Session.objects.get(pk=fixture.session_id)
    spare = Session.objects.create(account=sending.account, name="dashboard-spare", role="sending", status="WORKING")
    Session.objects.create(account=sending.account, name="dashboard-receipts", role="receiving", status="WORKING")
    processes = Processes()
    try:
        gateway = processes.gateway(env, gateway_port, "--webhook-url", f"http://127.0.0.1:{web_port}/v2/providers/waha/webhook")
        processes.web(env, web_port, name="dashboard-web")
        processes.worker(env, 2, name="dashboard-worker")
        beat = processes.beat(env, name="dashboard-beat")
        prometheus = prometheus_start(processes, env, web_port)
        # On an account of their own: the sending session's incident (40-90 s) would pause them
        # (a schedule pauses when its deliveries fail), and the beat incident needs them firing.
        interval_schedules(bench_fixture(groups=4, name="dashboard-schedules"), count=4, seconds=args.seconds)
        start = time.time()
        traffic(web=f"http://127.0.0.1:{web_port}", gateway=gateway, fixture=fixture, spare_session=str(spare.id),
                seconds=args.seconds, processes=processes, env=env, beat=beat)
        end = time.time()
        time.sleep(2 * SCRAPE_SECONDS)  # the last scrape
        board = json.loads(DASHBOARD.read_text())
        data = {
            panel["id"]: [query_range(prometheus, target["expr"], start, end) for target in panel["targets"]]
            for panel in board["panels"] if panel["type"] != "row"
        }
        alerts = alerts_fired(prometheus, start, end)
    finally:
        processes.stop_all()
    for when, name in alerts:
        print(f"alert fired: {name} at {_clock(when)}")
    draw(board, data, alerts, start, end, args.out)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
