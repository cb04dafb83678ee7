"""`relay sync` and `relay links suggest`: CRM exports compared with what ChartMogul holds."""
