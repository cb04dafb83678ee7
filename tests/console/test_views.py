"""What the CRM sent, as the event page shows it: indented, every credential masked."""

from __future__ import annotations

import orjson

from relay.console.views import MASK, payload


def test_a_json_payload_is_indented_with_credentials_masked_wherever_they_sit() -> None:
    raw = orjson.dumps(
        {
            "id": "evt_1",
            "set": {"city": "Oslo"},
            "meta": {"api_key": "sk_live_1", "Authorization": "Bearer x", "tokens": [{"refresh_token": "r"}]},
            "password": "",
        }
    ).decode()

    language, shown = payload(raw)

    assert language == "json" and shown.startswith('{\n  "id": "evt_1"')
    assert orjson.loads(shown) == {
        "id": "evt_1",
        "set": {"city": "Oslo"},
        "meta": {"api_key": MASK, "Authorization": MASK, "tokens": MASK},
        "password": "",  # nothing to hide
    }


def test_an_xml_payload_is_shown_as_sent_with_credential_elements_masked() -> None:
    raw = (
        "<Notification><Id>04l1</Id><sObject><sf:Name>Acme</sf:Name>"
        '<sf:API_Token__c xsi:type="xsd:string">t0k3n</sf:API_Token__c><sf:City>Oslo</sf:City>'
        "</sObject></Notification>"
    )

    language, shown = payload(raw)

    assert language == "xml" and "t0k3n" not in shown
    assert f'<sf:API_Token__c xsi:type="xsd:string">{MASK}</sf:API_Token__c>' in shown
    assert "<sf:Name>Acme</sf:Name>" in shown and "<sf:City>Oslo</sf:City>" in shown
