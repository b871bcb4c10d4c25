"""Development tooling, shipped in the wheel but never imported by the product.

- :mod:`.emulator` a local stand-in for Customer.io's Track and App APIs (the ``emulator``
  extra; ``cio-pipeline emulator``);
- :mod:`.emulator_process` runs the emulator as a subprocess, for tests and benchmarks;
- :mod:`.receiver` runs the webhook receiver as a subprocess, for tests and benchmarks;
- :mod:`.redis_server` a private ``redis-server`` on a free loopback port, for the demo and the
  benchmarks;
- :mod:`.demo` ``cio-pipeline demo``: the pipeline end to end on a private Redis (the ``demo``
  extra).
"""
