"""``python -m spectral_lib.sweep``: see :mod:`spectral_lib.sweep.cli`."""
import sys

from .cli import main

sys.exit(main())
