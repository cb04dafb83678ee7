"""Every benchmark, one after the other, into bench-results/latest.md.

    python -m tests.bench [--smoke]      (make bench / make bench-smoke)
    python -m tests.bench --only ingest  (one of them: ingest, backlog, delivery, sync)

Ingest (tests/bench/ingest.py), backlog (tests/bench/backlog.py), delivery
(tests/bench/delivery.py) and sync (tests/bench/sync.py). The report names the machine, the
command and the date, and what else was running on the machine (the load average), because
every number depends on it. A
benchmark that crashes is reported and makes the exit status 1; a missed goal does not.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.bench import backlog, delivery, ingest, sync

RESULTS_DIR = Path("bench-results")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def redis_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.split()[2].removeprefix("v=")
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def redis_parser() -> str:
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return "pure Python (hiredis not installed)"
    return "hiredis"


def machine(command: str, started: datetime, load_before: str) -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "\n".join(
        [
            f"- date: {started:%Y-%m-%d %H:%M} UTC",
            f"- command: `{command}`",
            f"- machine: {os.cpu_count()} cores ({cpu_model()}), {memory_gb:.0f} GB, {platform.platform()}",
            f"- Python {platform.python_version()}, redis-server {redis_version()}, "
            f"redis-py parser: {redis_parser()}",
            f"- load average (1/5/15 min) before: {load_before}, after: {load_average()}",
        ]
    )


def section(title: str, work: Callable[[], str], failures: list[str]) -> str:
    # What earlier sections left behind is collected and frozen: the delivery benchmark's
    # simulator runs in a thread of this process, and a long collection there stalled it into
    # a burst (one 429 and 34 requests/s, against 38.8 and none in a process of its own).
    gc.collect()
    gc.freeze()
    started = time.monotonic()
    print(f"{title} ...", file=sys.stderr)
    try:
        body = work()
    except Exception:
        failures.append(title)
        body = "**CRASHED**\n\n```\n" + traceback.format_exc()[-4000:] + "```"
    took = time.monotonic() - started
    print(f"{title}: {took:.0f} s", file=sys.stderr)
    return f"## {title}\n\n{body}\n\n({took:.0f} s)\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds per benchmark, so none can rot")
    parser.add_argument("--only", choices=["ingest", "backlog", "delivery", "sync"], help="run just this one")
    args = parser.parse_args()
    command = shlex.join(["python", "-m", "tests.bench", *sys.argv[1:]])
    started, load_before, clock = datetime.now(UTC), load_average(), time.monotonic()
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    benchmarks: list[tuple[str, Callable[[], str]]] = [
        ("Ingest", lambda: ingest.markdown(ingest.run(args.smoke, log_dir))),
        ("Backlog", lambda: backlog.markdown(backlog.run(args.smoke))),
        ("Delivery", lambda: delivery.markdown(delivery.run(args.smoke, log_dir))),
        ("Sync", lambda: sync.markdown(sync.run(args.smoke))),
    ]
    sections = [
        section(title, work, failures)
        for title, work in benchmarks
        if args.only is None or title.lower() == args.only
    ]
    kind = "smoke run (measurements too short to quote)" if args.smoke else "full run"
    report = "\n".join(
        [
            f"# Benchmarks: {kind}",
            "",
            machine(command, started, load_before),
            f"- took {time.monotonic() - clock:.0f} s; logs in {log_dir}/",
            "",
            *sections,
        ]
    )
    (RESULTS_DIR / "latest.md").write_text(report)
    print(report)
    if failures:
        print(f"crashed: {', '.join(failures)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
