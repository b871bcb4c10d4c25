"""Running the worker's Lua scripts: one loader for every ``.lua`` file.

Each script lives beside the module that owns it and opens with a header listing its KEYS,
ARGV and reply. A :class:`LuaScript` reads it once and runs it with ``EVALSHA``; after a
``NOSCRIPT`` (first use on a server, a restart, ``SCRIPT FLUSH``) it sends ``EVAL``, which
also caches it. Nothing is registered per client.

Scripts the worker must run while Redis is full start with ``#!lua flags=allow-oom`` (Redis 7
script flags): delivering is what frees memory, so the scripts that claim, settle, lease and
rate-limit must not be refused at ``maxmemory``. A server without script flags (Redis 6,
fakeredis) refuses that line; such a server gets the script with the line turned into a
comment, and keeps getting it that way.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from importlib import resources
from typing import Any
from weakref import WeakKeyDictionary

import redis

__all__ = ["LuaScript"]

Arg = str | bytes | int | float


class LuaScript:
    """One script, from ``<package>/<name>``."""

    def __init__(self, package: str, name: str) -> None:
        self.name = name
        self.source = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        self.flagged = self.source.startswith("#!")
        # The same script for servers without script flags: same line numbers, no shebang.
        self.plain_source = "-- " + self.source if self.flagged else self.source
        self._sha = _sha(self.source)
        self._plain_sha = _sha(self.plain_source)
        self._plain_for: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(
        self, client: redis.Redis, keys: Sequence[str] = (), args: Sequence[Arg] = ()
    ) -> Any:
        """Run the script on ``client`` with ``keys`` and ``args``; returns Redis's reply."""
        pool = client.connection_pool
        plain = self._plain_for.get(pool, False)
        source, sha = (self.plain_source, self._plain_sha) if plain else (self.source, self._sha)
        try:
            return client.evalsha(sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            pass
        try:
            return client.eval(source, len(keys), *keys, *args)
        except redis.exceptions.ResponseError as exc:
            if plain or not self.flagged or "near '#'" not in str(exc):
                raise
        with self._lock:
            self._plain_for[pool] = True
        return client.eval(self.plain_source, len(keys), *keys, *args)


def _sha(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()
