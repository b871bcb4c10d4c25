"""Delivery policy: pure decisions about an HTTP outcome, backoff and giving up.

Every decision the Track and transactional paths act on comes from here (:mod:`.retry`),
tested with tables; the I/O code only carries decisions out.

Modules:

- :mod:`.decisions` what the worker does after one HTTP attempt: the whole decision table, in
  one place
"""
