"""``python -m spectral_lib analyze``: see :mod:`spectral_lib.tools.cli`."""
import sys

from .tools.cli import main

sys.exit(main())
