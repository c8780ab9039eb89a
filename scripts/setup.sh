#!/usr/bin/env bash
# Create .venv (if absent) and install the pinned requirements and this package (editable), and the system packages
# the tests and the PDF use (Chromium, poppler-utils, a one-node SLURM). Idempotent: a second run installs nothing
# new. Used by scripts/test.sh and scripts/book.sh; a fresh clone needs nothing else.
#
# The apt part runs in the background while pip installs (apt mostly downloads and unpacks, pip mostly unzips), and
# pip does not byte-compile what it installs: `compileall` does that afterwards on both cores. Measured on a fresh
# venv (2 cores, 2026-12-04): pip alone 109 s; pip --no-compile 66 s + compileall -j 0 24 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

system_packages() {
  # A one-node SLURM cluster with accounting for the sweep's tests (tests/test_slurm.py): Debian's slurmctld,
  # slurmd, slurm-client, munge, slurmdbd and mariadb-server through scripts/slurm_local.sh install (nothing to do
  # when they are there). Needs root and apt-get; elsewhere the SLURM tests are skipped and say why.
  if [ "${SPECTRAL_SKIP_SLURM:-0}" != "1" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    bash scripts/slurm_local.sh install >/dev/null 2>&1 \
      || echo "setup: could not install SLURM (scripts/slurm_local.sh install); the SLURM tests will be skipped" >&2
  fi
  # Headless Chromium for the book's PDF and rendering test, and poppler-utils (pdftoppm, pdftotext) for the test
  # that reads the PDF (Debian packages; need root and the package registry).
  if [ "${SPECTRAL_SKIP_CHROMIUM:-0}" != "1" ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; }; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=120 chromium poppler-utils) >/dev/null 2>&1 \
        || echo "setup: could not install chromium/poppler-utils; the PDF and the book rendering tests will be skipped" >&2
    fi
  fi
}
system_packages &  # one apt at a time (dpkg's lock), beside pip
apt_pid=$!
# never leave apt running behind us (if pip fails, or on Ctrl-C): wait for it rather than kill dpkg mid-install
trap 'wait "$apt_pid" 2>/dev/null || true' EXIT

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.spectral-installed
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check -r requirements.txt
  .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check --no-deps -e .
  # byte-compile the installed packages on every core; a few packages ship templates that are not Python, which
  # compileall skips with an error message (pip's own compile step skips them too): its output is discarded
  .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    >/dev/null 2>&1 || true
  echo "$want" > "$stamp"
fi
wait "$apt_pid"
