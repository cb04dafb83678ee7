"""The operator console: server-rendered pages at /console over the store and the admin layer.

    /console                    overview: what waits, circuit, rate use, workers, webhooks (live)
    /console/events             one search box (event id, uuid, CRM record, external id, email,
                                company name) with filters, paged with cursors
    /console/events/{id}        one event: what the CRM sent, the change, calls and answers,
                                what ChartMogul kept, its history
    /console/customers/{key}    one customer's timeline across sources, its links, its values
                                in ChartMogul (read on demand)
    /console/dlq                dead letters by reason with the fix; edit, replay (preview
                                first, then a bulk job with progress), purge (confirmed)
    /console/links              link suggestions from an uploaded export; past `relay sync` runs

Templates (templates/) and the one stylesheet and script (static/) ship in the package: no
build step, nothing from another origin. Every action is a plain POST form with a CSRF token
(relay/console/access.py); scripts only refresh live numbers.
"""

from relay.console.app import console_routes

__all__ = ["console_routes"]
