"""``python -m worker.cli``: the same as the ``cio-pipeline`` command."""

import sys

from worker.cli import main

sys.exit(main())
