#!/usr/bin/env bash
# The test command: set everything up (scripts/setup.sh), then run the whole test suite on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/cpu_env.sh  # threads and the allocator (measured there)
export MPLBACKEND=Agg
# two pytest-xdist workers (SPECTRAL_TEST_WORKERS=0: one process); whole modules that share the tiny book, its SLURM
# sweep and the local cluster stay on one worker (xdist_group "book_and_slurm"), the paper smoke run on the other
workers=${SPECTRAL_TEST_WORKERS:-2}
if [ "$workers" = "0" ]; then exec .venv/bin/python -m pytest -q "$@"; fi
exec .venv/bin/python -m pytest -q -n "$workers" --dist loadgroup "$@"
