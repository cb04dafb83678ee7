"""Mapping CRM payloads onto ChartMogul's fields; `transforms` turns CRM values into accepted ones."""
