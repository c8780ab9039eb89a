#!/usr/bin/env bash
# The test command: set everything up (scripts/setup.sh), then run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} MPLBACKEND=Agg
exec .venv/bin/python -m pytest -q "$@"
