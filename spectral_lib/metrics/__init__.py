"""Metrics through Quantus (0.6): the paper's Expected Frequency and the EF difference as Quantus ``Metric`` classes
(:mod:`.quantus_ef`; importing it needs ``quantus``).

May import the root infrastructure, :mod:`spectral_lib.nn`, :mod:`spectral_lib.spectral`,
:mod:`spectral_lib.explain` and :mod:`spectral_lib.training`. Nothing is imported here eagerly, so that the package
works without Quantus; import ``spectral_lib.metrics.quantus_ef``."""
