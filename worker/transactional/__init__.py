"""The transactional path: one RQ job per send, never e-mailed twice because of us.

- :mod:`.deliver`  a send from claim to dead letter: the story of invariant I
- :mod:`.records`  delivery records keyed by idempotency key (``claim_send.lua``)
"""
