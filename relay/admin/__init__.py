"""The operator surface: the event log, the dead-letter queue, status, the dashboard.

    queries     reading: time filters, cursors, event and dead-letter listings (API and CLI)
    actions     changing: replay (re-mapped or as stored), edit, purge (API and CLI)
    state       the relay's state at a glance: queues, workers, circuit, rate limits, DLQ
    mirror      dead letters as failed RQ jobs, so rq-dashboard lists (and requeues) them
    auth        the admin bearer token
    api         the /admin HTTP routes
    dashboard   rq-dashboard mounted at /dashboard

Both the HTTP API and the `relay` CLI call `queries` and `actions`; neither has logic of its own.
"""
