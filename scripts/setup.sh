#!/usr/bin/env bash
# Create .venv (if absent) and install the pinned requirements and this package (editable). Idempotent: a second run
# installs nothing new. Used by scripts/test.sh and scripts/book.sh; a fresh clone needs nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.spectral-installed
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
  echo "$want" > "$stamp"
fi
# A one-node SLURM cluster with accounting for the sweep's tests (tests/test_slurm.py): Debian's slurmctld, slurmd,
# slurm-client, munge, slurmdbd and mariadb-server through scripts/slurm_local.sh install (idempotent: nothing to do
# when they are there). Needs root and apt-get; elsewhere the SLURM tests are skipped and say why.
if [ "${SPECTRAL_SKIP_SLURM:-0}" != "1" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  bash scripts/slurm_local.sh install >/dev/null 2>&1 \
    || echo "setup: could not install SLURM (scripts/slurm_local.sh install); the SLURM tests will be skipped" >&2
fi
# Headless Chromium for the book's rendering test and its PDF, and poppler-utils (pdftoppm, pdftotext) for the
# test that reads the PDF (Debian packages; need root and the package registry).
if [ "${SPECTRAL_SKIP_CHROMIUM:-0}" != "1" ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; }; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils) >/dev/null 2>&1 \
      || echo "setup: could not install chromium/poppler-utils; the book rendering and PDF tests will be skipped" >&2
  fi
fi
