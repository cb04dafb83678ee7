"""Real servers for tests: the relay's web app under uvicorn, and `relay worker` processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import redis
import uvicorn
from starlette.applications import Starlette


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], *, timeout_s: float = 15.0, interval_s: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; return its value or fail with what it last returned."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")


@contextmanager
def running_web_app(app: Starlette) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout_s=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def read_log_lines(path: Path) -> list[dict[str, Any]]:
    """A process's JSON log lines; a line that is not JSON comes back as {"raw": line}."""
    lines = []
    for line in path.read_bytes().splitlines():
        try:
            lines.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            lines.append({"raw": line.decode(errors="replace")})
    return lines


class WorkerProcess:
    """A real `relay worker` subprocess; its log goes to a file the test can read."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "worker", *args],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_lines(self) -> list[dict[str, Any]]:
        return read_log_lines(self.log_path)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@contextmanager
def own_redis() -> Iterator[tuple[str, Any]]:
    """A redis-server of the test's own, AOF on, that the test may restart."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="relay-chaos-redis-"))
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--maxmemory-policy",
        "noeviction",
    ]

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        wait_for(lambda: _pings(client), timeout_s=10)
        client.close()
        return proc

    state = {"proc": start()}

    def restart() -> None:
        proc = state["proc"]
        proc.send_signal(signal.SIGTERM)  # a graceful restart: Redis flushes its AOF first
        proc.wait(timeout=20)
        state["proc"] = start()

    try:
        yield f"redis://127.0.0.1:{port}/0", restart
    finally:
        state["proc"].kill()
        state["proc"].wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def event_record(redis_url: str, event_id: str) -> dict[str, str]:
    """An event's record in the ledger, as strings (empty when it does not exist)."""
    from relay.store import keys

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return client.hgetall(keys.event(event_id))  # type: ignore[return-value]
    finally:
        client.close()


class ServeProcess:
    """A real `relay serve` subprocess on a free loopback port; its log goes to a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "relay", "serve", "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout_s=20)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"relay serve exited: {self.log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log_lines(self) -> list[dict[str, Any]]:
        return read_log_lines(self.log_path)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
