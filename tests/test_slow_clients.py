"""Clients that send their body slowly, or not at all, or go away half-way, against a real
`relay serve`: a body not in within RELAY_BODY_TIMEOUT_S answers 408 and frees the
connection; an aborted upload is the client's doing, logged once at INFO, not an ERROR."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.admin.helpers import ADMIN_TOKEN
from tests.servers import ServeProcess, wait_for

BODY_TIMEOUT_S = 1.0
DECLARED = 10_000
ROUTES = {
    "webhook": ("/webhooks/generic", {}),
    "admin": ("/admin/dlq/replay", {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
}


@pytest.fixture
def served(relay_env: dict[str, str], tmp_path: Path) -> Iterator[ServeProcess]:
    env = {**relay_env, "RELAY_ADMIN_TOKEN": ADMIN_TOKEN, "RELAY_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}
    server = ServeProcess(env, tmp_path / "web.log")
    yield server
    server.stop()


def start_upload(server: ServeProcess, path: str, headers: dict[str, str]) -> socket.socket:
    """Headers and the first 100 of 10,000 declared body bytes; the rest never comes."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {DECLARED}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(head.encode() + b"\r\n" + b"{" + b" " * 99)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection (a socket timeout fails the test)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_body_that_does_not_arrive_in_time_answers_408_and_frees_the_connection(
    served: ServeProcess, route: str
) -> None:
    path, headers = ROUTES[route]
    started = time.monotonic()
    held = [start_upload(served, path, headers) for _ in range(20)]
    try:
        answers = [read_until_closed(sock) for sock in held]
    finally:
        for sock in held:
            sock.close()
    took_s = time.monotonic() - started

    assert {a.split(b"\r\n", 1)[0] for a in answers} == {b"HTTP/1.1 408 Request Timeout"}
    assert all(b"did not arrive within 1 s" in a for a in answers)
    assert BODY_TIMEOUT_S <= took_s < BODY_TIMEOUT_S + 4


def test_a_trickled_body_is_timed_as_a_whole(served: ServeProcess) -> None:
    """One byte every 0.2 s keeps the connection busy, but not past the deadline."""
    sock = start_upload(served, "/webhooks/generic", {})
    try:
        sock.settimeout(0.2)
        answer = b""
        started = time.monotonic()
        while time.monotonic() - started < BODY_TIMEOUT_S + 4:
            try:
                sock.sendall(b" ")
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:  # reset once the server has closed it
                break
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < BODY_TIMEOUT_S + 4


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_an_aborted_upload_is_logged_once_and_not_as_an_error(served: ServeProcess, route: str) -> None:
    path, headers = ROUTES[route]
    start_upload(served, path, headers).close()

    [line] = wait_for(lambda: [x for x in served.log_lines() if x.get("event") == "client_disconnected"])
    served.stop()  # every line it would write is written

    assert line["level"] == "info" and line["path"] == path
    assert [x for x in served.log_lines() if x.get("level") not in ("info", "debug")] == []


def test_a_body_declared_too_large_answers_413_without_waiting_for_it(served: ServeProcess) -> None:
    """The relay refuses it unread; keeping the connection would wait on a body it will never read."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    head = f"POST /webhooks/generic HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n"
    try:
        sock.sendall(head.encode() + b"{" * 100)
        started = time.monotonic()
        answer = read_until_closed(sock)
    finally:
        sock.close()

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert time.monotonic() - started < 1.0
