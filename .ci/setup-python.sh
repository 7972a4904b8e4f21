#!/usr/bin/env bash
# Creates .venv-celery with real Python Celery (see ../shared/python-celery.md): the one recipe, used
# by CI, `npm test` and `npm run demo` (through examples/ensure-peers.ts).
# Tries a plain pip install first; falls back to the recipe for the partial mirror.
#   bash .ci/setup-python.sh          creates the venv unless a working one is there (then says so)
#   bash .ci/setup-python.sh --check  only says whether a working venv is there (exit 0) or not (exit 1)
# CELERIAC_BASE_PYTHON picks the Python the venv is made from (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
CELERY_VERSION=5.6.3
KOMBU_VERSION=5.6.2
VENV=.venv-celery
PY=${CELERIAC_BASE_PYTHON:-python3}
# Celery's solar schedule imports ephem (PyEphem), which the package index lacks: the venv links Debian's
# python3-ephem (built for Debian's python3, the same minor version as the venv's Python).
have_ephem() { "$VENV/bin/python" -c "import ephem" 2>/dev/null; }
link_ephem() {
  have_ephem && return 0
  if ! dpkg -s python3-ephem >/dev/null 2>&1; then
    { apt-get update -qq && apt-get install -y -qq python3-ephem >/dev/null; } \
      || { echo "python celery: apt-get install python3-ephem failed (needs root)"; return 1; }
  fi
  local sp
  sp=$("$VENV/bin/python" -c "import site; print(site.getsitepackages()[0])")
  ln -sfn /usr/lib/python3/dist-packages/ephem "$sp/ephem"
  have_ephem || { echo "python celery: Debian's python3-ephem does not import in $VENV ($("$VENV/bin/python" --version 2>&1))"; return 1; }
}
# Python RedBeat (../shared/peers/redbeat, the Redis beat store's peer) needs tenacity: .ci/setup-redbeat.sh
have_redbeat() { bash .ci/setup-redbeat.sh --check >/dev/null 2>&1; }
# Flower (../shared/peers/flower, the Flower interop test's peer) needs tornado & co: .ci/setup-flower.sh
have_flower() { bash .ci/setup-flower.sh --check >/dev/null 2>&1; }
# The tracing interop test's Python side propagates trace context with opentelemetry-api (its W3C propagator)
have_otel() { "$VENV/bin/python" -c "import opentelemetry.propagate" 2>/dev/null; }
# The message-signing tests (auth serializer) run a Python worker with app.setup_security(): cryptography
have_crypto() { "$VENV/bin/python" -c "import cryptography.x509" 2>/dev/null; }
if [ -x "$VENV/bin/celery" ] && "$VENV/bin/python" -c "import celery, kombu, brotli, zstandard" 2>/dev/null; then
  if ! have_redbeat; then
    if [ "${1:-}" = "--check" ]; then
      echo "python celery: $VENV lacks what RedBeat needs: bash .ci/setup-python.sh installs it"; exit 1
    fi
    bash .ci/setup-redbeat.sh || exit 1
  fi
  if ! have_flower; then
    if [ "${1:-}" = "--check" ]; then
      echo "python celery: $VENV lacks what Flower needs: bash .ci/setup-python.sh installs it"; exit 1
    fi
    bash .ci/setup-flower.sh || exit 1
  fi
  if ! have_ephem; then
    if [ "${1:-}" = "--check" ]; then
      echo "python celery: $VENV lacks ephem (solar schedules): bash .ci/setup-python.sh links Debian's python3-ephem"; exit 1
    fi
    link_ephem || exit 1
    echo "python celery: linked Debian's python3-ephem into $VENV"
  fi
  if ! have_otel; then
    if [ "${1:-}" = "--check" ]; then
      echo "python celery: $VENV lacks opentelemetry-api (tracing tests): bash .ci/setup-python.sh installs it"; exit 1
    fi
    "$VENV/bin/pip" --disable-pip-version-check -q --retries 1 --timeout 20 install opentelemetry-api \
      || { echo "python celery: pip install opentelemetry-api failed"; exit 1; }
    echo "python celery: installed opentelemetry-api into $VENV"
  fi
  if ! have_crypto; then
    if [ "${1:-}" = "--check" ]; then
      echo "python celery: $VENV lacks cryptography (message signing tests): bash .ci/setup-python.sh installs it"; exit 1
    fi
    "$VENV/bin/pip" --disable-pip-version-check -q --retries 1 --timeout 20 install cryptography \
      || { echo "python celery: pip install cryptography failed"; exit 1; }
    echo "python celery: installed cryptography into $VENV"
  fi
  echo "python celery: $("$VENV/bin/celery" --version) (cached venv)"; exit 0
fi
if [ "${1:-}" = "--check" ]; then
  echo "python celery: no working $VENV (celery $CELERY_VERSION): bash .ci/setup-python.sh creates it"; exit 1
fi
command -v "$PY" >/dev/null || {
  echo "python celery: $PY not found: install Python 3 (with venv and pip), or set CELERIAC_BASE_PYTHON"; exit 1; }
echo "python celery: creating $VENV from $("$PY" --version 2>&1) with celery $CELERY_VERSION"
rm -rf "$VENV"
"$PY" -m venv "$VENV" || { echo "python celery: $PY -m venv failed (on Debian's python3: apt-get install python3-venv)"; exit 1; }
PIP="$VENV/bin/pip --disable-pip-version-check -q --retries 1 --timeout 20"
EXTRA="brotli zstandard msgpack pyyaml pytest opentelemetry-api cryptography"
if $PIP download --no-deps -d "$(mktemp -d)" click-didyoumean >/dev/null 2>&1 && \
   timeout 300 $PIP install "celery[redis]==$CELERY_VERSION" "kombu==$KOMBU_VERSION" amqp $EXTRA 2>/dev/null; then
  echo "python celery: installed with plain pip"
else
  echo "python celery: the package index lacks part of celery's dependencies; using the partial-mirror recipe"
  if ! dpkg -s python3-click-didyoumean python3-click-repl >/dev/null 2>&1; then
    { apt-get update -qq && apt-get install -y -qq python3-click-didyoumean python3-click-repl >/dev/null; } \
      || { echo "python celery: apt-get install python3-click-didyoumean python3-click-repl failed (needs root)"; exit 1; }
  fi
  $PIP install --no-deps "celery==$CELERY_VERSION" "kombu==$KOMBU_VERSION" billiard vine click click-plugins \
    python-dateutil six tzlocal tzdata redis==8.1.0 amqp msgpack pyyaml packaging prompt_toolkit wcwidth \
    brotli zstandard pytest iniconfig pluggy opentelemetry-api typing-extensions cryptography cffi pycparser \
    || { echo "python celery: pip install from the package index failed"; exit 1; }
  SP=$("$VENV/bin/python" -c "import site; print(site.getsitepackages()[0])")
  for m in click_didyoumean click_repl; do ln -sf "/usr/lib/python3/dist-packages/$m" "$SP/$m"; done
fi
link_ephem || exit 1
bash .ci/setup-redbeat.sh || exit 1
bash .ci/setup-flower.sh || exit 1
echo "python celery: $("$VENV/bin/celery" --version)"
