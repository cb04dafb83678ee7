"""Pipedrive: everything the relay knows about it, in one package.

source.py   HTTP Basic credentials, and one webhooks v2 event: changes, merges, persons' parents
v1.py       a webhooks v1 body, read as the v2 body it stands for
records.py  record keys, merges' surviving records, persons' organizations

POST /webhooks/pipedrive     {"meta", "data", "previous"}  (v2)   or   {"meta", "current", "previous"}  (v1)
"""

from relay.sources.pipedrive.records import RECORDS
from relay.sources.pipedrive.source import PipedriveSource

__all__ = ["RECORDS", "PipedriveSource"]
