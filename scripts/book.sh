#!/usr/bin/env bash
# The book command: set everything up, execute every notebook with papermill under a profile (default: quick), and
# build the static HTML book into _build/html. Extra arguments go to scripts/build_book.py, e.g.
#   bash scripts/book.sh --profile paper        bash scripts/book.sh --only 04_ef_vs_beta --param seeds=[0]
#   bash scripts/book.sh --profile paper --smoke   # every chapter on stand-in data, shrunk counts, time and memory
set -euo pipefail
cd "$(dirname "$0")/.."
# the book needs no SLURM; Chromium only for the PDF (installed beside pip, see setup.sh): not for --no-pdf, nor for
# --check and --no-build, which make no PDF
case " $* " in *" --no-pdf "*|*" --check "*|*" --no-build "*) export SPECTRAL_SKIP_CHROMIUM=1 ;; esac
SPECTRAL_SKIP_SLURM=1 bash scripts/setup.sh
source scripts/cpu_env.sh  # threads and the allocator (measured there)
export SPECTRAL_LIB_CACHE=${SPECTRAL_LIB_CACHE:-$PWD/.cache}
export SPECTRAL_BOOK_JOBS=${SPECTRAL_BOOK_JOBS:-2}  # two lanes of chapters side by side (build_book.py --jobs)
case " $* " in *" --profile "*) exec .venv/bin/python scripts/build_book.py --strict "$@" ;; esac
exec .venv/bin/python scripts/build_book.py --strict --profile quick "$@"
