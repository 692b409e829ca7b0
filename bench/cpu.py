"""Where the CPU went during a benchmark: per process group (ours, postgres, redis) and machine-wide."""

import os
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (a prefork worker is a parent plus one child per slot)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            todo += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except FileNotFoundError:
            pass
    return pids


def pids_named(prefix: str) -> list[int]:
    """Processes whose command name starts with prefix (postgres, redis-server): not ours, only read."""
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and _comm(e).startswith(prefix)]


def _comm(proc: Path) -> str:
    try:
        return (proc / "comm").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def machine_jiffies() -> tuple[int, int, int]:
    """(busy, steal, total) clock ticks of all cores since boot, from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process plus that of its exited, reaped children.

    The children's part matters for postgres: a backend that lives for one
    task (a connection per task) is gone before any sample sees it, and its
    CPU shows up only in the postmaster's cutime/cstime.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by groups of processes over a scenario, and by the whole machine.

    Sampled at every poll, per pid, so a postgres backend that exits mid-way
    still counts up to its last sample and a new one counts from zero.
    """

    def __init__(self, **groups):
        self.groups = groups  # name -> callable returning the group's pids now
        self.first, self.last = {}, {}
        self.sample(first=True)
        self.t0, self.machine0 = time.monotonic(), machine_jiffies()

    def sample(self, first: bool = False) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                try:
                    value = process_cpu_seconds(pid)
                except (FileNotFoundError, ProcessLookupError):
                    continue
                self.first.setdefault((name, pid), value if first else 0.0)
                self.last[(name, pid)] = value

    def result(self) -> dict:
        self.sample()
        elapsed = time.monotonic() - self.t0
        used = {name: 0.0 for name in self.groups}
        for (name, pid), value in self.last.items():
            used[name] += value - self.first[(name, pid)]
        busy, steal, total = (b - a for a, b in zip(self.machine0, machine_jiffies()))
        percent = {name: 100 * seconds / elapsed for name, seconds in used.items()}
        machine = {"machine busy": 100 * busy / total, "steal": 100 * steal / total, "machine seconds": busy / os.sysconf("SC_CLK_TCK")}
        return {**percent, **machine, "seconds": used}
