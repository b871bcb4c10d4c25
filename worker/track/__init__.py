"""The Track path: partitions leased by one worker at a time, drained in /api/v2/batch calls.

- :mod:`.leases`  which worker drains which partition (leases with heartbeat, fair shares)
- :mod:`.items`   reading claimed jobs, and cutting them into requests (pure)
- :mod:`.ledger`  claiming and settling jobs in Redis (Lua, one round trip per batch)
- :mod:`.deliver` one claimed batch: tokens, HTTP, 207/400/413 handling, retries
- :mod:`.drainer` the loop a worker runs over its partitions
"""
