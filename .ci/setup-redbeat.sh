#!/usr/bin/env bash
# What Python RedBeat (../shared/peers/redbeat, put on PYTHONPATH by the tests) needs in .venv-celery
# beyond Celery and redis-py: tenacity. Idempotent: installs only what is missing (--no-deps, as the
# package index here is a partial mirror). Run after .ci/setup-python.sh.
#   bash .ci/setup-redbeat.sh          installs what is missing
#   bash .ci/setup-redbeat.sh --check  only says whether RedBeat imports (exit 0) or not (exit 1)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-celery
# the peers folder beside the project; CELERIAC_REDBEAT_PATH overrides (a clone elsewhere)
PEER=${CELERIAC_REDBEAT_PATH:-../shared/peers/redbeat}
[ -d "$PEER/redbeat" ] || [ ! -d /work/shared/peers/redbeat/redbeat ] || PEER=/work/shared/peers/redbeat
[ -x "$VENV/bin/python" ] || { echo "redbeat: no $VENV: run bash .ci/setup-python.sh first"; exit 1; }
[ -d "$PEER/redbeat" ] || { echo "redbeat: $PEER not found (the peers folder beside the project)"; exit 1; }
imports() { PYTHONPATH="$PEER" "$VENV/bin/python" -c "import redbeat.schedulers" 2>/dev/null; }
if imports; then echo "redbeat: importable in $VENV (cached)"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "redbeat: not importable in $VENV: bash .ci/setup-redbeat.sh installs tenacity"; exit 1; fi
"$VENV/bin/pip" install --disable-pip-version-check -q --retries 1 --timeout 20 --no-deps tenacity \
  || { echo "redbeat: pip install tenacity failed"; exit 1; }
imports || { echo "redbeat: still not importable:"; PYTHONPATH="$PEER" "$VENV/bin/python" -c "import redbeat.schedulers"; exit 1; }
echo "redbeat: installed tenacity into $VENV"
