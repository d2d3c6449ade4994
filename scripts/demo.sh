#!/usr/bin/env bash
# The README's first command: install what the demo needs, then train a small instrumented
# model, run rules over its trial and print what they found. The commands it prints at the end
# run as printed (they name .venv/bin/smdbg by its full path).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh demo
.venv/bin/python examples/demo.py "$@"
echo
echo "smdbg is installed in $(pwd)/.venv; to use the smdbg command in this shell:"
echo "  source $(printf '%q' "$(pwd)/.venv/bin/activate")"
