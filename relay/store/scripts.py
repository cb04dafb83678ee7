"""The store's Lua scripts (relay/store/lua/), loaded once and registered on a client.

Every state change that touches more than one key is one of these scripts, so a crash at any
point leaves a consistent state; each script's header says its KEYS, ARGV and answer.
"""

from __future__ import annotations

from importlib import resources

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript


def source(name: str) -> str:
    return resources.files("relay.store.lua").joinpath(f"{name}.lua").read_text()


class Scripts:
    def __init__(self, redis: aioredis.Redis) -> None:
        # accept_many calls accept.lua's functions, so the two cannot drift apart.
        self.accept_many: AsyncScript = redis.register_script(source("accept") + "\n" + source("accept_many"))
        self.claim = redis.register_script(source("claim"))
        self.extend = redis.register_script(source("extend"))
        self.finish = redis.register_script(source("finish"))
        self.promote = redis.register_script(source("promote"))
        self.rekey = redis.register_script(source("rekey"))
        self.merge = redis.register_script(source("merge"))
        self.replay = redis.register_script(source("replay"))
        self.purge = redis.register_script(source("purge"))
        self.edit = redis.register_script(source("edit"))
        self.rate_reserve = redis.register_script(source("rate_reserve"))
        self.rate_slot = redis.register_script(source("rate_slot"))
        self.migrate_dlq = redis.register_script(source("migrate_dlq"))
        self.trigger = redis.register_script(source("trigger"))
        self.health = redis.register_script(source("health"))
