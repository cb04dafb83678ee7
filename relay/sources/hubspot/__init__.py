"""HubSpot: everything the relay knows about it, in one package.

source.py    signatures (v3, v2, v1) and what a body is: a Webhooks API batch or a workflow body
events.py    one Webhooks API event: property changes, merges, associations, the rest ignored
workflow.py  a workflow's "Send a webhook" body: the whole company or contact record
records.py   record keys, the export's shape, merges' surviving records, contacts' parents

POST /webhooks/hubspot      [ {event}, … ]  (up to 100)   or   {workflow body}
"""

from relay.sources.hubspot.records import RECORDS
from relay.sources.hubspot.source import MAX_BATCH_EVENTS, HubSpotSource

__all__ = ["MAX_BATCH_EVENTS", "RECORDS", "HubSpotSource"]
