"""Entry points' wiring: the worker process and the context its jobs run in.

- :mod:`.process`  ``cio-pipeline worker``: the RQ worker and the Track drainer
- :mod:`.dequeue`  taking a job off several queues without a moment where it is in no list
- :mod:`.unreadable`  a dequeued job RQ cannot read: dead-lettered, never a reason to quit
- :mod:`.context`  :class:`WorkerContext`: builds clients and limiters and wires the
  capabilities together for the jobs of one process
- :mod:`.dequeue` taking a job off several RQ queues without a moment where it is in no list
"""
