"""Compatibility seams: every use of a dependency's private or version-specific API.

The code reaches below the public APIs of rq, redis-py and CPython's json where those cannot
do the job (each reach says why). Those reaches are the largest upgrade risk, so they live
here, one module per dependency, each named and commented once, and the contract tests
(``tests/unit/test_compat_*.py``) check every one against the installed version, failing with
a message that names the dependency and its version when a release changes what we rely on.
The producer and the worker both import from here. (Connection mixins that extend redis-py's
connection classes, ``producer/connection.py`` and ``worker/core/replicas.py``, use the
classes' own methods and stay with their owners.)

- :mod:`.json`   CPython's C JSON encoder, built once (the producer's size check)
- :mod:`.redis`  redis-py: a pooled connection and its raw send/read, the Sentinel
  connection's plain read, ``Retry.call_with_retry``'s parameters, the Sentinel client, a
  bounded pubsub-thread stop
- :mod:`.rq`     rq: the worker methods we override, the dequeue helper, the "stuck" message,
  the job-hash layout ``lua/enqueue.lua`` writes, the scheduler process, the worker's pubsub
- :mod:`.json` CPython's json below its public API: the C encoder, built once
"""
