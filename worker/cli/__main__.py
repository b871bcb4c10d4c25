"""``python -m cio_pipeline.worker.cli``: the same as the ``cio-pipeline`` command."""

import sys

from cio_pipeline.worker.cli import main

sys.exit(main())
