"""cio-pipeline worker: everything that talks to Customer.io.

Modules:

- :mod:`.cli` the ``cio-pipeline`` command
- :mod:`.clients` HTTP clients for Customer.io: :class:`TrackClient`, :class:`AppClient` and
  their Outcomes
- :mod:`.core` plumbing shared by every part of the worker, importing nothing above it
- :mod:`.deadletters` dead letters: jobs parked in their queue's FailedJobRegistry with a reason
  a person can act on
- :mod:`.jobs` the job functions named by the job contract (:mod:`cio_pipeline.producer.jobs`)
- :mod:`.ops` operating the pipeline: the counters workers keep, stats, health probes, metrics
- :mod:`.policy` delivery policy: pure decisions about an HTTP outcome, backoff and giving up
- :mod:`.ratelimit` rate limiting shared by every worker on every host: one GCRA limiter per API
  surface
- :mod:`.runner` entry points' wiring: the worker process and the context its jobs run in
- :mod:`.track` the Track path: partitions leased by one worker at a time, drained in
  /api/v2/batch calls
- :mod:`.transactional` the transactional path: one RQ job per send, never e-mailed twice
  because of us
- :mod:`.webhooks` Customer.io reporting webhooks in: verify, enqueue, process once, keep a
  suppression store
"""
