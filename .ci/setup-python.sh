#!/usr/bin/env bash
# Creates .venv-celery with real Python Celery 5.6 (see ../shared/python-celery.md).
# Tries a plain pip install first; falls back to the recipe for the partial mirror.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-celery
PY=${CELERIAC_PYTHON:-python3}
if [ -x "$VENV/bin/celery" ] && "$VENV/bin/python" -c "import celery, kombu, brotli, zstandard" 2>/dev/null; then
  echo "python celery: $("$VENV/bin/celery" --version) (cached venv)"; exit 0
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
PIP="$VENV/bin/pip --disable-pip-version-check -q --retries 1 --timeout 20"
EXTRA="brotli zstandard msgpack pyyaml pytest"
if $PIP download --no-deps -d "$(mktemp -d)" click-didyoumean >/dev/null 2>&1 && \
   timeout 300 $PIP install "celery[redis]==5.6.3" "kombu==5.6.2" amqp $EXTRA 2>/dev/null; then
  echo "python celery: installed with plain pip"
else
  echo "python celery: plain pip failed; using the mirror recipe"
  if ! dpkg -s python3-click-didyoumean python3-click-repl >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-click-didyoumean python3-click-repl >/dev/null
  fi
  $PIP install --no-deps celery==5.6.3 kombu==5.6.2 billiard vine click click-plugins \
    python-dateutil six tzlocal tzdata redis==8.1.0 amqp msgpack pyyaml packaging prompt_toolkit wcwidth \
    brotli zstandard pytest iniconfig pluggy
  SP=$("$VENV/bin/python" -c "import site; print(site.getsitepackages()[0])")
  for m in click_didyoumean click_repl; do ln -sf "/usr/lib/python3/dist-packages/$m" "$SP/$m"; done
fi
echo "python celery: $("$VENV/bin/celery" --version)"
