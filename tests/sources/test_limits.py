"""Depth, width and count limits enforced while parsing (issue 11 §3): each source's worst case
answers a clear 4xx naming the limit (never a 500, never stored); Salesforce's org id is read
before the rest, and its optional path token hides the endpoint."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from relay.exceptions import InvalidEvent
from tests.servers import ServeProcess, wait_for
from tests.sources import worst_cases as worst
from tests.sources.conftest import CRM_SECRETS, stored_event_ids
from tests.sources.senders import SALESFORCE_ORG_ID, account_notification, outbound_message
from tests.webhooks import Answer, post


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        pytest.param(worst.generic_custom_300_deep, 422, "deeper than 32", id="generic-custom-300-deep"),
        pytest.param(worst.hubspot_value_300_deep, 422, "deeper than 32", id="hubspot-value-300-deep"),
        pytest.param(worst.close_58k_changed_fields, 422, "changed_fields holds 58000 items", id="close-58k"),
        pytest.param(worst.pipedrive_60k_previous, 422, "previous holds 60000 keys", id="pipedrive-60k"),
        pytest.param(worst.pipedrive_previous_1000_deep, 422, "deeper than 32", id="pipedrive-1000-deep"),
        pytest.param(worst.pipedrive_previous_wide_nested, 422, "changed fields", id="pipedrive-40x999"),
        pytest.param(worst.salesforce_5000_deep, 422, "deeper than 32", id="salesforce-5000-deep"),
        pytest.param(worst.salesforce_wide, 422, "more than 20000 values", id="salesforce-25k-fields"),
        pytest.param(worst.salesforce_149k_deep_wrong_org, 401, "OrganizationId", id="sf-deep-stranger"),
        pytest.param(worst.salesforce_wide_wrong_org, 401, "OrganizationId", id="sf-wide-stranger"),
    ],
)
def test_a_body_past_a_limit_is_refused_naming_it(
    web: str, redis_client: redis.Redis, case: worst.WorstCase, status: int, message: str
) -> None:
    answer = post(*case(web))

    assert answer.status == status, answer.text[:500]
    assert message in answer.text
    assert stored_event_ids(redis_client) == []


def salesforce_message() -> bytes:
    return outbound_message(account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV", Name="Acme"))


def post_salesforce(base_url: str, path: str) -> Answer:
    return post(base_url + path, salesforce_message(), {"Content-Type": "text/xml; charset=utf-8"})


def test_the_salesforce_path_token_hides_the_endpoint(start_web: Callable[..., str]) -> None:
    token = "sf-path-7c2e9a41d0b3"
    base_url = start_web(RELAY_SALESFORCE_PATH_TOKEN=token)

    answers = {
        path: post_salesforce(base_url, path).status
        for path in (
            "/webhooks/salesforce",
            "/webhooks/salesforce/wrong-token",
            f"/webhooks/salesforce/{token}x",
            f"/webhooks/salesforce/{token}",
        )
    }

    assert answers == {
        "/webhooks/salesforce": 404,
        "/webhooks/salesforce/wrong-token": 404,
        f"/webhooks/salesforce/{token}x": 404,
        f"/webhooks/salesforce/{token}": 200,
    }


def test_without_a_path_token_no_source_answers_below_its_path(web: str) -> None:
    assert post_salesforce(web, "/webhooks/salesforce").status == 200
    assert post_salesforce(web, "/webhooks/salesforce/anything").status == 404
    assert post(f"{web}/webhooks/generic/anything", b"{}").status == 404


def test_the_org_id_is_read_before_the_notifications() -> None:
    """The reader stops at the org id: a body broken after it is still a stranger's 401."""
    from relay.sources.salesforce import organization_id

    broken_after = outbound_message("<Notification><unclosed>")

    assert organization_id(broken_after) == SALESFORCE_ORG_ID


def test_an_sobject_holds_at_most_1000_fields(web: str) -> None:
    fields = "".join(f"<sf:F{i}>x</sf:F{i}>" for i in range(1001))
    notification = account_notification("04l5e000001AbCdAAK", "0015e00000AbCdEAAV").replace(
        "</sObject>", fields + "</sObject>"
    )

    answer = post(*worst.salesforce_request(web, outbound_message(notification)))

    assert answer.status == 422, answer.text
    assert "sObject holds 1002 fields, more than 1000" in answer.text


def test_the_path_token_never_reaches_the_logs(relay_env: dict[str, str], tmp_path: Path) -> None:
    token = "sf-path-secret-5d1c0e77"
    env = {**relay_env, **CRM_SECRETS, "RELAY_SALESFORCE_PATH_TOKEN": token}
    server = ServeProcess(env, tmp_path / "web.log")
    try:
        accepted = post_salesforce(server.base_url, f"/webhooks/salesforce/{token}")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:  # aborts
            sock.sendall(
                f"POST /webhooks/salesforce/{token} HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 10000\r\n\r\n<soapenv".encode()
            )
        wait_for(lambda: [x for x in server.log_lines() if x.get("event") == "client_disconnected"])
    finally:
        server.stop()

    assert accepted.status == 200
    assert token not in server.log_path.read_text()
    [line] = [x for x in server.log_lines() if x.get("event") == "client_disconnected"]
    assert line["path"] == "/webhooks/salesforce/<token>"


def test_a_short_body_needs_no_walk_and_a_deep_one_still_gets_its_422() -> None:
    from relay.sources.base import parse_json
    from relay.sources.limits import MAX_DEPTH, within_limits_by_size

    assert within_limits_by_size('{"a": [1, 2, {"b": "[]"}]}')
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)  # short, but nested past the limit
    assert not within_limits_by_size(deep)
    assert not within_limits_by_size(b"[" + b"1," * 1000 + b"1]")  # long enough for 1,001 items
    with pytest.raises(InvalidEvent, match="deeper than 32"):
        parse_json(deep)


def test_webhooks_are_posted_other_methods_are_405(web: str) -> None:
    from tests.webhooks import get

    answer = get(f"{web}/webhooks/generic")

    assert answer.status == 405
    assert answer.body == {"error": "webhooks are sent with POST"}
