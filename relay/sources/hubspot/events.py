"""HubSpot's Webhooks API: one event of a batch (a JSON array of up to 100) into a ParsedEvent.

    {"eventId": 1001, "subscriptionId": 2, "portalId": 62515, "appId": 3, "occurredAt": 1732100000000,
     "subscriptionType": "company.propertyChange", "attemptNumber": 0, "objectId": 1246965,
     "changeSource": "CRM_UI", "propertyName": "city", "propertyValue": "Boston"}

    company.propertyChange                 company fields   customer hubspot:company:<objectId>
    contact.propertyChange                 primary_contact  customer hubspot:contact:<objectId>
                                           (associatedcompanyid: the contact's parent)
    object.propertyChange  objectTypeId    0-2 as company, 0-1 as contact
    company.merge, contact.merge           the merged records' links follow the surviving one
    *.associationChange                    a primary company-contact one sets the contact's parent
    *.creation, *.deletion, *.restore, *.privacyDeletion, other objects and kinds: ignored

An event's id is `hubspot:<eventId>.<digest of the event without attemptNumber>`: HubSpot says
eventId "is not guaranteed to be unique", so a different change under a reused eventId is a new
event, while HubSpot's retry of the same event (same content, a higher attemptNumber) is its
duplicate. Its stored payload is that same content (without attemptNumber).
"""

from __future__ import annotations

from typing import (
    Annotated,
    Any,
    Required,  # pydantic needs this TypedDict before 3.12
)

import orjson
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from relay.events import NO_PARENTS, ParsedEvent
from relay.exceptions import InvalidEvent
from relay.mapping.apply import describe_parents, mapped_event
from relay.mapping.plan import PropertyPlans
from relay.sources.base import CrmSource, content_digest
from relay.sources.generic import describe_validation_error
from relay.sources.hubspot.records import (
    COMPANY_CONTACT_ASSOCIATIONS,
    ID,
    MAPPED_OBJECTS,
    OBJECT_TYPE_IDS,
    PARENT_PROPERTY,
    RECORDS,
    parent_of,
)

Id = Annotated[str, StringConstraints(pattern=ID.pattern)]
_NUMBERS_AS_TEXT = ConfigDict(coerce_numbers_to_str=True)


@with_config(_NUMBERS_AS_TEXT)
class HubSpotEvent(TypedDict, total=False):
    """One event of a HubSpot webhook batch; fields HubSpot adds later are ignored. A TypedDict
    (validated into a plain dict), as a model per event cost twice as much. What only merges and
    associations carry is read by their own adapters, so a property change pays for none of it."""

    eventId: Required[Id]
    subscriptionType: Annotated[str, StringConstraints(max_length=200)] | None
    eventType: Annotated[str, StringConstraints(max_length=200)] | None  # older subscriptions
    portalId: Id | None
    occurredAt: Required[Annotated[int, Field(gt=0)]]
    objectId: Id  # every kind but associationChange
    objectTypeId: str | None
    propertyName: Annotated[str, StringConstraints(max_length=500)] | None
    propertyValue: Any
    attemptNumber: int | None
    changeSource: str | None


@with_config(_NUMBERS_AS_TEXT)
class MergeFields(TypedDict, total=False):
    primaryObjectId: Required[Id]
    mergedObjectIds: Required[Annotated[list[Id], Field(max_length=100)]]
    newObjectId: Id | None


@with_config(_NUMBERS_AS_TEXT)
class AssociationFields(TypedDict, total=False):
    associationType: Required[Annotated[str, StringConstraints(max_length=100)]]
    fromObjectId: Required[Id]
    toObjectId: Required[Id]
    associationRemoved: bool | None
    isPrimaryAssociation: bool | None


HUBSPOT_EVENT: TypeAdapter[HubSpotEvent] = TypeAdapter(HubSpotEvent)
MERGE_FIELDS: TypeAdapter[MergeFields] = TypeAdapter(MergeFields)
ASSOCIATION_FIELDS: TypeAdapter[AssociationFields] = TypeAdapter(AssociationFields)


def validated(adapter: TypeAdapter[Any], doc: dict[str, Any]) -> Any:
    try:
        return adapter.validate_python(doc)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from None


def content_of(doc: dict[str, Any]) -> bytes:
    """The event without attemptNumber, as JSON: what a retry of it holds too. Stored as its
    payload as well (one serialization an event; HubSpot's delivery count is not the event's)."""
    doc.pop("attemptNumber", None)
    return orjson.dumps(doc)


def api_event(source: CrmSource, plans: PropertyPlans, doc: object) -> ParsedEvent:
    """One event of a batch; InvalidEvent when it cannot be read."""
    if not isinstance(doc, dict):
        raise InvalidEvent("an event must be a JSON object")
    try:  # (validated(), inline: every event of a batch pays its call)
        event = HUBSPOT_EVENT.validate_python(doc)
    except ValidationError as exc:
        raise InvalidEvent(describe_validation_error(exc)) from None
    kind = event.get("subscriptionType") or event.get("eventType") or ""
    object_name, dot, action = kind.partition(".")
    if not dot or not action:
        raise InvalidEvent(f"subscriptionType {kind[:60]!r} is missing or not '<object>.<action>'")
    if object_name == "object":
        type_id = event.get("objectTypeId")
        object_name = OBJECT_TYPE_IDS.get(type_id or "", f"object-{type_id}")
    if object_name not in MAPPED_OBJECTS:
        object_name = RECORDS.object_name(object_name)
    occurred_at_ms = event["occurredAt"]
    source.event_time(occurred_at_ms, "occurredAt", occurred_at_ms)
    doc.pop("attemptNumber", None)  # content_of(doc), inline: every event of a batch pays it
    content = orjson.dumps(doc)
    raw = content.decode()
    event_id = f"hubspot:{event['eventId']}.{content_digest(content)}"
    if action == "associationChange":
        return _association(source, doc, kind, object_name, event_id, occurred_at_ms, raw)
    object_id = event.get("objectId")
    if object_id is None:
        raise InvalidEvent("objectId: Field required")
    crm_record = RECORDS.key(object_name, object_id)
    mapped = object_name in MAPPED_OBJECTS
    if action == "propertyChange" and mapped:
        prop = event.get("propertyName")
        if prop is None:
            raise InvalidEvent("a propertyChange event needs propertyName")
        value = event.get("propertyValue")
        parents = NO_PARENTS
        if prop == PARENT_PROPERTY and object_name == "contact":
            parents = parent_of(object_id, value)
        # One property per event: its compiled plan, not every rule of the object type.
        return mapped_event(
            source.mapping,
            plans.map_property(object_name, prop, value),
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=crm_record,
            raw=raw,
            parents=parents,
            object_type=object_name,
        )
    if action == "merge" and mapped:
        surviving, merged = _merge(validated(MERGE_FIELDS, doc))
        return source.merge(
            event_id=event_id,
            occurred_at_ms=occurred_at_ms,
            crm_record=RECORDS.key(object_name, surviving),
            merged=[RECORDS.key(object_name, record_id) for record_id in merged],
            raw=raw,
        )
    if not mapped:
        reason = f"{kind[:60]} events are not mapped (only companies and contacts are)"
    else:
        reason = f"{kind[:60]} is recorded but not mapped (property changes, merges and associations are)"
    return source.ignored(
        event_id=event_id, occurred_at_ms=occurred_at_ms, crm_record=crm_record, raw=raw, reason=reason
    )


def _merge(fields: MergeFields) -> tuple[str, list[str]]:
    """(surviving id, merged ids): HubSpot names a new record `newObjectId` when the merge made
    one, and then the primary was merged into it too."""
    primary = fields["primaryObjectId"]
    surviving = fields.get("newObjectId") or primary
    merged = [*fields["mergedObjectIds"], primary]
    return surviving, [record_id for record_id in dict.fromkeys(merged) if record_id != surviving]


def _association(
    source: CrmSource,
    doc: dict[str, Any],
    kind: str,
    object_name: str,
    event_id: str,
    occurred_at_ms: int,
    raw: str,
) -> ParsedEvent:
    """A primary company-contact association sets the contact's parent; any other is recorded."""
    fields: AssociationFields = validated(ASSOCIATION_FIELDS, doc)
    association = fields["associationType"]
    from_company = COMPANY_CONTACT_ASSOCIATIONS.get(association)
    crm_record = RECORDS.key(object_name, fields["fromObjectId"])
    parents: dict[str, str] = {}
    if from_company is None or not fields.get("isPrimaryAssociation"):
        reason = (
            f"{kind[:60]} ({association[:60]}) is recorded; only primary company-contact "
            "associations are used"
        )
    elif fields.get("associationRemoved"):
        reason = (
            f"{kind[:60]}: a primary {association} association was removed; the contact keeps its "
            "company until another one is made primary"
        )
    else:
        company, contact = (
            (fields["fromObjectId"], fields["toObjectId"])
            if from_company
            else (fields["toObjectId"], fields["fromObjectId"])
        )
        parents = parent_of(contact, company)
        crm_record = RECORDS.key("contact", contact)
        reason = f"primary {association} association: " + describe_parents(parents)
    return source.ignored(
        event_id=event_id,
        occurred_at_ms=occurred_at_ms,
        crm_record=crm_record,
        raw=raw,
        reason=reason,
        parents=parents,
    )
