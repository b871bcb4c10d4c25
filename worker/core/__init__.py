"""Plumbing shared by every part of the worker, importing nothing above it.

- :mod:`.settings`  :class:`WorkerSettings`, the frozen settings read from the environment
- :mod:`.logs`      structlog configuration (JSON lines in production, console in a terminal)
- :mod:`.errors`    the outcomes a job raises: :class:`RetryLater`, :class:`DeadLetter`
- :mod:`.lifecycle` child processes that die with their parent
- :mod:`.extras`    which pip extra a command needs, checked before it is imported
- :mod:`.install`   how this copy was installed: the command that adds an extra, script paths
- :mod:`.allowed_jobs` only our job functions run: the per-queue allow-list a worker checks
  before it runs a job
- :mod:`.lua` running the worker's Lua scripts: one loader for every ``.lua`` file
- :mod:`.outage` riding out Redis outages: a worker that loses Redis waits for it instead of
  dying
- :mod:`.replicas` the worker's durable writes: waiting for replicas after a claim or a settle
- :mod:`.serving` serving an ASGI app with uvicorn for a command (the emulator, the webhook
  receiver)
"""
