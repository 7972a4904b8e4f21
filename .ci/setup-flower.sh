#!/usr/bin/env bash
# What Flower (../shared/peers/flower, put on PYTHONPATH by test/interop/flower.test.ts) needs in
# .venv-celery beyond Celery: tornado, prometheus_client, humanize, pytz. Idempotent: installs only when
# Flower does not import (--no-deps, as the package index here is a partial mirror). Run after
# .ci/setup-python.sh (which calls it).
#   bash .ci/setup-flower.sh          installs what is missing
#   bash .ci/setup-flower.sh --check  only says whether Flower imports (exit 0) or not (exit 1)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-celery
# the peers folder beside the project; CELERIAC_FLOWER_PATH overrides (a clone elsewhere)
PEER=${CELERIAC_FLOWER_PATH:-../shared/peers/flower}
[ -d "$PEER/flower" ] || [ ! -d /work/shared/peers/flower/flower ] || PEER=/work/shared/peers/flower
[ -x "$VENV/bin/python" ] || { echo "flower: no $VENV: run bash .ci/setup-python.sh first"; exit 1; }
[ -d "$PEER/flower" ] || { echo "flower: $PEER not found (the peers folder beside the project)"; exit 1; }
imports() { PYTHONPATH="$PEER" "$VENV/bin/python" -c "import flower.app, tornado, prometheus_client, humanize, pytz" 2>/dev/null; }
if imports; then echo "flower: importable in $VENV (cached)"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "flower: not importable in $VENV: bash .ci/setup-flower.sh installs its dependencies"; exit 1; fi
"$VENV/bin/pip" install --disable-pip-version-check -q --retries 1 --timeout 20 --no-deps tornado prometheus_client humanize pytz \
  || { echo "flower: pip install tornado prometheus_client humanize pytz failed"; exit 1; }
imports || { echo "flower: still not importable:"; PYTHONPATH="$PEER" "$VENV/bin/python" -c "import flower.app"; exit 1; }
echo "flower: installed tornado, prometheus_client, humanize, pytz into $VENV"
