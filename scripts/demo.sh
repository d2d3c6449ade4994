#!/usr/bin/env bash
# The README's first command: install what the demo needs, then train a small instrumented
# model, run rules over its trial and print what they found.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo
exec .venv/bin/python examples/demo.py "$@"
