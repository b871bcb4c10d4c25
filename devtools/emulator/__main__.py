"""``python -m cio_pipeline.devtools.emulator [options]``: the same as ``cio-pipeline emulator
[options]``.

It builds a parser with only this sub-command, so the emulator starts without importing the
worker's other commands (and cannot be broken by them): what
:mod:`cio_pipeline.devtools.emulator_process` runs by default.
"""

from __future__ import annotations

import argparse
import sys

from cio_pipeline.devtools.emulator.cli import register
from cio_pipeline.worker.core.extras import MissingExtra


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` as ``cio-pipeline emulator`` options and serve; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m cio_pipeline.devtools.emulator")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["emulator", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = args.func(args)
    except MissingExtra as exc:
        print(f"python -m cio_pipeline.devtools.emulator: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
