"""Entry points' wiring: the worker process and the context its jobs run in.

- :mod:`.startup`  ``cio-pipeline worker``: early stop signals, connecting, then the RQ
  worker beside the Track drainer
- :mod:`.process`  :class:`CioWorker`, the RQ worker: job outcomes to RQ's states, a bounded stop
- :mod:`.dequeue`  taking a job off several queues without a moment where it is in no list
- :mod:`.unreadable`  a dequeued job RQ cannot read: dead-lettered, never a reason to quit
- :mod:`.context`  :class:`WorkerContext`: builds clients and limiters and wires the
  capabilities together for the jobs of one process
"""
