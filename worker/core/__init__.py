"""Plumbing shared by every part of the worker, importing nothing above it.

- :mod:`.settings`  :class:`WorkerSettings`, the frozen settings read from the environment
- :mod:`.logs`      structlog configuration (JSON lines in production, console in a terminal)
- :mod:`.errors`    the outcomes a job raises: :class:`RetryLater`, :class:`DeadLetter`
- :mod:`.lifecycle` child processes that die with their parent
- :mod:`.extras`    which pip extra a command needs, checked before it is imported
- :mod:`.install`   how this copy was installed: the command that adds an extra, script paths
"""
