"""The operator surface: the event log, the dead-letter queue, status, the dashboard.

    queries     reading: time filters, cursors, event and dead-letter listings (API and CLI)
    actions     changing: replay (re-mapped or as stored), edit, purge (API, CLI, console)
    search      one search box: an event id or any name of a customer → its events (console)
    customers   one customer across its keys (uuid, linked CRM records) and its timeline
    state       the relay's state at a glance: queues, workers, circuit, rate limits, DLQ
    mirror      dead letters as failed RQ jobs, so rq-dashboard lists (and requeues) them
    auth        the admin bearer token
    api         the /admin HTTP routes
    dashboard   rq-dashboard mounted at /dashboard

The HTTP API, the `relay` CLI and the console (relay/console) call `queries` and `actions`;
none has logic of its own.
"""
