"""The one Lua loader (worker/core/lua.py) on fakeredis: EVALSHA after the first EVAL, and
flagged scripts on a server without script flags. The allow-oom behaviour on a real, full
Redis is in tests/integration/test_lua_oom.py."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from cio_pipeline.worker.core.lua import LuaScript

LEASE = LuaScript("cio_pipeline.worker.track", "lease.lua")


def test_a_flagged_script_runs_on_a_server_without_script_flags() -> None:
    client = fakeredis.FakeRedis()
    assert LEASE.flagged
    client.set("lease:0", "w1")
    assert LEASE(client, keys=["lease:0"], args=["w1", "renew", 10_000]) == [1]
    assert 0 < client.pttl("lease:0") <= 10_000
    # the plain form is remembered for this server: the next call goes by EVALSHA
    assert LEASE(client, keys=["lease:0"], args=["w1", "release", 10_000]) == [1]
    assert client.get("lease:0") is None


def test_every_worker_script_is_flagged_and_documents_its_keys() -> None:
    for package, name in [
        ("cio_pipeline.worker.track", "claim_batch.lua"),
        ("cio_pipeline.worker.track", "start_claimed.lua"),
        ("cio_pipeline.worker.track", "settle_batch.lua"),
        ("cio_pipeline.worker.track", "lease.lua"),
        ("cio_pipeline.worker.track", "count_attempt.lua"),
        ("cio_pipeline.worker.track", "live_workers.lua"),
        ("cio_pipeline.worker.track", "take_leases.lua"),
        ("cio_pipeline.worker.ratelimit", "gcra.lua"),
        ("cio_pipeline.worker.ratelimit", "pause.lua"),
        ("cio_pipeline.worker.transactional", "claim_send.lua"),
        ("cio_pipeline.worker.transactional", "forget_send.lua"),
    ]:
        script = LuaScript(package, name)
        assert script.source.startswith("#!lua flags=allow-oom\n"), name
        assert f"-- {name}" in script.source and "KEYS[" in script.source, name


def test_a_real_script_error_is_not_mistaken_for_missing_flags() -> None:
    client = fakeredis.FakeRedis()
    client.set("lease:0", "w1")
    with pytest.raises(redis.exceptions.ResponseError):
        LEASE(client, keys=["lease:0"], args=["w1", "renew", "not-a-ttl"])
