"""ChartMogul's API: the one client that calls it, and the fleet's shared limits on calling it.

Below both sides: workers deliver changes with it, and the commands that read the account in
bulk (`relay sync`, `relay links suggest`) page through customers with it. Every call goes
through the same rate limit and connection cap (kept in Redis by relay/store/limits.py), so a
sync never starves delivery of its budget.

    client.py      ChartMogulClient: every call, and the one place aiohttp errors are translated
    ratelimit.py   RateLimiter: the fleet's request rate and connection cap, as waiting
"""

from relay.chartmogul.client import ChartMogulClient, parse_error_message, parse_retry_after
from relay.chartmogul.ratelimit import RateLimiter

__all__ = ["ChartMogulClient", "RateLimiter", "parse_error_message", "parse_retry_after"]
