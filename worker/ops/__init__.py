"""Operating the pipeline: the counters workers keep, stats, health probes, metrics.

Workers count what they do (:mod:`.counters`): per surface and outcome, requests, 429s,
operations per Track request and end-to-end latency, in an all-time hash and per-minute
hashes for the last hour, written along with the Redis writes delivery makes anyway.
:mod:`.stats` reads one snapshot of everything an operator asks about (queues and their
oldest job, partition leases and pauses, rate use per surface, counters over 1/5/60
minutes, dead letters, live workers) in a few pipelined round trips; ``cio-pipeline stats``
prints it (:mod:`.view`; ``--watch`` with rich), :mod:`.health` turns it into a probe's exit
code, and :mod:`.metrics` serves it to Prometheus. ``cio-pipeline import`` runs
:mod:`.imports`: rows read and turned into operations by :mod:`cio_pipeline.producer.rows`,
enqueued through ``pipeline()`` in windows, waiting while the Track backlog (:mod:`.backlog`)
is over its bound, with a progress view (:mod:`.import_view`), stopped by a signal at any
point (:mod:`.import_stop`), and an exact resume line when stopped.
Nothing here imports the runner or the CLI.
"""
