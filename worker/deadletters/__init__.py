"""Dead letters: jobs parked in their queue's FailedJobRegistry with a reason a person can act on.

- :mod:`.attempts`  attempt bookkeeping in a job's meta, and the dead-letter record
- :mod:`.record`    the dead-letter record, one frozen type with its stored form
- :mod:`.unparsed`  dead letters for jobs whose hash RQ cannot parse
- :mod:`.store`     list, show, replay and purge dead letters across every queue
- :mod:`.record` the dead-letter record: why a job was parked, in one frozen type with its
  stored form
"""
