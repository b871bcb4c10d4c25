"""The limiter's Lua scripts, read from their ``.lua`` files and registered once per client.

``register_script`` only computes a SHA and keeps the source; the first call loads the script
into the server (``EVALSHA``, falling back to ``SCRIPT LOAD`` after a ``NOSCRIPT``). Keeping one
registration per client means the three surface limiters built on one client share it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from weakref import WeakKeyDictionary

import redis
from redis.commands.core import Script

__all__ = ["LimiterScripts", "scripts_for"]


@dataclass(frozen=True)
class LimiterScripts:
    """The registered scripts: ``gcra`` takes a token, ``pause`` extends or reads a pause."""

    gcra: Script
    pause: Script


@cache
def _source(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


_registered: WeakKeyDictionary[redis.Redis, LimiterScripts] = WeakKeyDictionary()
_lock = threading.Lock()


def scripts_for(client: redis.Redis) -> LimiterScripts:
    """The scripts registered on ``client``, registering them on first use."""
    with _lock:
        scripts = _registered.get(client)
        if scripts is None:
            scripts = LimiterScripts(
                gcra=client.register_script(_source("gcra.lua")),
                pause=client.register_script(_source("pause.lua")),
            )
            _registered[client] = scripts
        return scripts
