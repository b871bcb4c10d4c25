"""Delivery policy: pure decisions about an HTTP outcome, backoff and giving up.

Every decision the Track and transactional paths act on comes from here (:mod:`.retry`),
tested with tables; the I/O code only carries decisions out.
"""
