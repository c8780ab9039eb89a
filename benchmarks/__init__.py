"""Speed benchmarks of spectral_lib against baselines: ``python -m benchmarks`` (see ``--help``).

Every target is a *ratio* measured in one run on one machine (so that it means the same on a laptop and a server):

* ``ef``: :func:`spectral_lib.spectral.expected_frequency` (``definition="paper"``, radial profile included) on
  5,000 maps of 32x32 and 200 of 224x224, against (a) a per-image numpy implementation of the published computation
  (fft2, fftshift, integer radius, bincount mean, normalise, linspace weights, mean) and (b) bare ``torch.fft.fft2``
  of the same batch, the floor. Targets: >= 10x (a) at 32x32, >= 3x (a) at 224x224, <= 2x the time of (b).
* ``vanilla``: :func:`spectral_lib.explain.vanilla_grad` against captum's ``Saliency(abs=False)`` on
  ``LogSoftmax(model)``, simple CNN, 256 images of 3x64x64; captum gets the same target tensor. Target: >= 1.0x.
* ``smooth``: :func:`spectral_lib.explain.smooth_grad` (50 samples, std 0.1) against captum's
  ``NoiseTunnel(Saliency)`` (smoothgrad, 50 samples, stdevs 0.1); same model and target; equality on identical noise
  (captum's noise draw is monkeypatched); peak memory (RSS, fresh subprocess per point) against ``chunk_size``.
  Target: >= 1.5x.
* ``train``: training throughput (images/s, Adam, cross-entropy, batch 256 of 1x28x28) of SP(beta) against ReLU in
  the simple CNN: the cost of the smooth activation. No target.

Timing: ``torch.set_num_threads(2)``, float32, warm-up calls, then the implementations are called *interleaved*
(rotating order) and the median of the repeats (``time.perf_counter``) is reported; the ratio is the median of the
per-repeat ratios, with their inter-quartile range, so that load from other processes hits both sides alike.
* ``train_loop``: :func:`spectral_lib.training.train` against a bare PyTorch loop (the floor) on the same model,
  batch size (256) and in-memory data, for the simple CNN on 1x28x28, 3x32x32 and 3x224x224. Target: >= 0.9x the
  floor's images per second.
* ``allocator``: the training loop in a fresh subprocess with ``scripts/cpu_env.sh``'s glibc malloc settings against
  glibc's defaults (SP(1), 3x32x32); weights must be bit-identical. Target: >= 1.05x.

No benchmark is a test: nothing here asserts on time.
"""
CASES = ("ef", "vanilla", "smooth", "train", "train_loop", "allocator")
