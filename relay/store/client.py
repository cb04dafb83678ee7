"""The store's Redis client: redis-py's asyncio client, whose errors come out as the relay's.

Every command and every pipeline of the store goes through `StoreClient`, so redis-py's errors
are translated here once (relay/exceptions.py `store_error`): StoreUnavailable when Redis cannot
be reached or cannot take the command now, StoreRejected when it refuses the command itself.
Web, admin, CLI and workers catch those, never redis-py's. NoScriptError passes untouched:
redis-py's script objects catch it to load the script and send the call again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError, RedisError
from redis.utils import HIREDIS_AVAILABLE

from relay.exceptions import StoreUnavailable, store_error

# redis-py's own default: a command that gets no answer in this long fails.
SOCKET_TIMEOUT_S = 5.0


class HiredisPackingConnection(aioredis.Connection):
    """redis-py's asyncio connection packs commands in Python (~19 µs for an accept's EVALSHA);
    its sync connection uses hiredis's C packer, which makes the same bytes in ~6 µs. This is
    that packer on the asyncio connection: the client library's own code, no RESP of ours.
    Commands of str, int and bytes arguments (all the relay sends) go to hiredis directly:
    redis-py's serializer first copies every argument, looking for bytearrays and memoryviews
    (~0.1 µs an argument, ~20 an accepted event). Anything else (a command name with a space,
    a bytearray or memoryview argument) takes redis-py's own packer."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0]
        if isinstance(name, str) and " " not in name:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass  # a bytearray or memoryview: redis-py's packer converts it
        return super().pack_command(*args)


class StorePipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        try:
            replies = await super().execute(raise_on_error)
        except NoScriptError:
            raise
        except (RedisError, OSError) as exc:
            raise store_error(exc) from exc
        # raise_on_error=False: a command's error is its reply, translated like the rest.
        return [
            store_error(r) if isinstance(r, RedisError) and not isinstance(r, NoScriptError) else r
            for r in replies
        ]


class StoreClient(aioredis.Redis):
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        try:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except NoScriptError:
            raise
        except (RedisError, OSError) as exc:
            raise store_error(exc) from exc

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> StorePipeline:
        return StorePipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def connect(redis_url: str, *, socket_timeout: float | None = SOCKET_TIMEOUT_S) -> StoreClient:
    """The relay's async Redis client; strings in and out, reconnecting on its own."""
    options: dict[str, Any] = {"socket_timeout": socket_timeout}
    if HIREDIS_AVAILABLE and urlsplit(redis_url).scheme == "redis":  # not for TLS or unix sockets
        options["connection_class"] = HiredisPackingConnection
    client: StoreClient = StoreClient.from_url(  # type: ignore[assignment]
        redis_url,
        decode_responses=True,
        health_check_interval=15,
        socket_keepalive=True,
        retry_on_timeout=True,
        **options,
    )
    return client


async def redis_answers(redis_url: str, *, timeout_s: float = 1.0) -> bool:
    """Whether a Redis answers PING at `redis_url` within `timeout_s` (`relay dev` starts one
    when none does)."""
    client = StoreClient.from_url(redis_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(await client.ping())  # type: ignore[misc]
    except StoreUnavailable:
        return False
    finally:
        await client.aclose()
