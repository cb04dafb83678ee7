"""The delivery side: RQ jobs that deliver customers' changes to ChartMogul."""
