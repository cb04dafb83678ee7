"""Reading an untrusted XML body within bounds, while it is parsed.

The body is fed to defusedxml's parser (DTDs, entities and external references refused before
anything expands) a few KiB at a time; after each piece the elements it opened are counted and
their depth checked, so a body past MAX_DEPTH or MAX_VALUES (relay/sources/limits.py) stops
there, with a 422, instead of being built whole first. A reader that wants only the start of
the document (Salesforce's OrganizationId) stops reading once it has it.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import cast

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from relay.exceptions import MalformedPayload
from relay.sources.limits import MAX_DEPTH, MAX_VALUES, too_deep, too_many_values

CHUNK_BYTES = 4096


def read_events(body: bytes | str, *, what: str = "body") -> Iterator[tuple[str, ET.Element]]:
    """("start" | "end", element) in document order; an element is complete at its "end".
    What parsed before an error comes first, so a reader that stops early never meets it."""
    data = body.encode() if isinstance(body, str) else body
    parser = ET.XMLPullParser(
        events=("start", "end"),
        _parser=DefusedXMLParser(
            target=ET.TreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
        ),
    )
    depth = elements = 0
    for start in [*range(0, len(data), CHUNK_BYTES), -1]:
        try:
            if start >= 0:  # a syntax error is queued among the events, where it occurred
                time.sleep(0)  # let the event loop take the GIL between pieces (~1 ms each)
                parser.feed(data[start : start + CHUNK_BYTES])
            else:  # the end: what is still open is an error now
                parser.close()
        except DefusedXmlException as exc:
            raise MalformedPayload(
                f"XML refused: {type(exc).__name__} (DTDs and entities are not allowed)"
            ) from None
        except ET.ParseError as exc:
            raise MalformedPayload(f"{what} is not well-formed XML: {exc}") from None
        events = parser.read_events()
        while True:
            try:
                event, element = cast(tuple[str, ET.Element], next(events))
            except StopIteration:
                break
            except ET.ParseError as exc:
                raise MalformedPayload(f"{what} is not well-formed XML: {exc}") from None
            if event == "start":
                depth += 1
                elements += 1
                if depth > MAX_DEPTH:
                    raise too_deep(what)
                if elements > MAX_VALUES:
                    raise too_many_values(what)
            else:
                depth -= 1
            yield event, element


def parse_xml(body: bytes | str, *, what: str = "body") -> ET.Element:
    """The whole document, within the bounds."""
    root: ET.Element | None = None
    for event, element in read_events(body, what=what):
        if root is None and event == "start":
            root = element
    if root is None:
        raise MalformedPayload(f"{what} is not well-formed XML: no element found")
    return root
