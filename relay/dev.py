"""`relay dev`: the whole relay on one machine, in one terminal, with prefixed logs.

Starts Redis when none answers (data under .relay/), the web app, one worker, and — when
CHARTMOGUL_API_KEY is not set — the bundled ChartMogul simulator seeded with demo customers
as the target. Prints the URLs and a signed demo `curl`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import orjson

from relay.demo import demo_curl
from relay.settings import Settings, get_settings
from relay.store.client import redis_answers as answers

STATE_DIR = Path(".relay")
DEV_ENV = STATE_DIR / "dev.env"
DEMO_SEED = Path(__file__).parent / "simulator" / "demo_seed.json"
SIMULATOR_KEY = "sim_dev_key"
COLOURS = {"redis": "\033[90m", "web": "\033[36m", "worker": "\033[33m", "simulator": "\033[35m"}
RESET = "\033[0m"


def dev_secrets() -> dict[str, str]:
    """Secrets for local runs, generated once and kept in .relay/dev.env (so printed curls stay valid)."""
    STATE_DIR.mkdir(exist_ok=True)
    if DEV_ENV.exists():
        return dict(line.split("=", 1) for line in DEV_ENV.read_text().splitlines() if "=" in line)
    values = {
        "RELAY_GENERIC_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        "RELAY_ADMIN_TOKEN": secrets.token_urlsafe(24),
    }
    DEV_ENV.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    DEV_ENV.chmod(0o600)
    return values


def redis_answers(url: str) -> bool:
    return asyncio.run(answers(url))


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the children as Ctrl-C does


class Processes:
    """Child processes whose output is copied to ours, each line prefixed with the child's name."""

    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> None:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.children[name] = proc
        assert proc.stdout is not None
        threading.Thread(target=self._copy, args=(name, proc.stdout), daemon=True).start()

    @staticmethod
    def _copy(name: str, stream: IO[bytes]) -> None:
        colour = COLOURS.get(name, "") if sys.stdout.isatty() else ""
        prefix = f"{colour}{name:>9} |{RESET if colour else ''} "
        for line in iter(stream.readline, b""):
            sys.stdout.write(prefix + line.decode(errors="replace"))
            sys.stdout.flush()

    def first_exited(self) -> str | None:
        return next((name for name, p in self.children.items() if p.poll() is not None), None)

    def stop(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_http(url: str, timeout_s: float = 20) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def run_dev(*, web_port: int, simulator_port: int) -> int:
    settings: Settings = get_settings()
    env = {**os.environ, "RELAY_LOG_FORMAT": "console", "PYTHONUNBUFFERED": "1"}
    for name, value in dev_secrets().items():
        env.setdefault(name, value)
    relay = [sys.executable, "-m", "relay"]
    procs = Processes()
    signal.signal(signal.SIGTERM, _interrupted)

    if not redis_answers(settings.redis_url):
        target = urlsplit(settings.redis_url)
        if target.hostname not in ("127.0.0.1", "localhost") or shutil.which("redis-server") is None:
            print(
                f"Error: Redis does not answer at {target.hostname}:{target.port or 6379} (RELAY_REDIS_URL): "
                "install redis-server (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install "
                "redis) or point RELAY_REDIS_URL at a running Redis",
                file=sys.stderr,
            )
            return 1
        data_dir = STATE_DIR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        procs.start(
            "redis",
            [
                "redis-server",
                "--port",
                str(target.port or 6379),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data_dir),
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
            ],
            env,
        )
        for _ in range(50):
            if redis_answers(settings.redis_url):
                break
            time.sleep(0.1)

    customer_uuid = "cus_…"
    if settings.chartmogul_api_key is None:
        env["CHARTMOGUL_API_BASE"] = f"http://127.0.0.1:{simulator_port}"
        env["CHARTMOGUL_API_KEY"] = SIMULATOR_KEY
        procs.start(
            "simulator",
            [
                *relay,
                "simulator",
                "--port",
                str(simulator_port),
                "--api-key",
                SIMULATOR_KEY,
                "--seed",
                str(DEMO_SEED),
            ],
            env,
        )
        customer_uuid = orjson.loads(DEMO_SEED.read_bytes())["customers"][0]["uuid"]
    procs.start("web", [*relay, "serve", "--port", str(web_port)], env)
    procs.start("worker", [*relay, "worker"], env)

    web_url = f"http://127.0.0.1:{web_port}"
    try:
        if not wait_http(f"{web_url}/healthz"):
            print("The web app did not come up; see its log lines above.", file=sys.stderr)
            return 1
        chartmogul = env.get("CHARTMOGUL_API_BASE", settings.chartmogul_api_base)
        print(
            "\n"
            f"  chartmogul-relay is running\n"
            f"    webhooks   {web_url}/webhooks/generic\n"
            f"    health     {web_url}/healthz   {web_url}/readyz   {web_url}/metrics\n"
            f"    console    {web_url}/console   dashboard {web_url}/dashboard"
            f"   (password: RELAY_ADMIN_TOKEN in {DEV_ENV})\n"
            f"    status     relay status   ·   relay dlq list   ·   relay events list --since 1h\n"
            f"    ChartMogul {chartmogul}"
            + ("  (simulator with demo customers)" if settings.chartmogul_api_key is None else "")
            + "\n"
            f"    secrets    {DEV_ENV}\n\n"
            "  Send a signed demo event (valid for 5 minutes):\n\n"
            f"{demo_curl(web_url, env['RELAY_GENERIC_SECRET'], customer_uuid)}\n\n"
            + (
                f"  Then look at the customer:  curl -u {SIMULATOR_KEY}: "
                f"{chartmogul}/v1/customers/{customer_uuid}\n"
                # ChartMogul never shows a contact in the customer object; its contacts list does
                f"  and its primary contact:    curl -u {SIMULATOR_KEY}: "
                f"{chartmogul}/v1/customers/{customer_uuid}/contacts\n"
                if settings.chartmogul_api_key is None
                else ""
            )
            + "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while (exited := procs.first_exited()) is None:
            time.sleep(0.5)
        print(f"{exited} exited; stopping the others.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        procs.stop()
