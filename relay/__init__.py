"""chartmogul-relay: CRM change events in, ChartMogul customer updates out.

relay/    the HTTP side: sources (verify, parse), mapping, durable enqueue, admin, CLI.
workers/  the delivery side: RQ jobs, the ChartMogul client, retry and dead-letter policy.
"""

__version__ = "0.1.0"
