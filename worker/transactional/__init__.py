"""The transactional path: one RQ job per send, never e-mailed twice because of us.

- :mod:`.deliver`  a send from claim to dead letter: the story of invariant I
- :mod:`.records`  delivery records keyed by idempotency key (``claim_send.lua``,
  ``release_send.lua``, ``forget_send.lua``), each attempt in the send's history, and the
  reporting-webhook join by ``delivery_id`` (``delivery_event.lua``)
- :mod:`.suppressed`  the ``skip_if_suppressed`` check

The producer's side of a send's record (queued, cancelled, reading a send's life back) is in
:mod:`cio_pipeline.producer.send_records` and :mod:`cio_pipeline.producer.send_status`.
"""
