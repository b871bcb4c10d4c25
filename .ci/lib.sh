# Shared by .ci/run, .ci/deps and demo.sh: the pinned uv, installed once into .ci/.uv.
UV_VERSION=0.13.10
UV="$PWD/.ci/.uv/bin/uv"

ensure_uv() {
  local python=$1
  if [ ! -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "== installing uv $UV_VERSION into .ci/.uv"
    "$python" -m venv --clear .ci/.uv
    .ci/.uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  fi
}
