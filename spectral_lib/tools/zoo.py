"""torchvision's model zoo as the test matrix of :func:`spectral_lib.tools.analyze`: every classification
architecture (``torchvision.models.list_models(module=torchvision.models)``), freshly initialised, against every
method of :data:`spectral_lib.explain.METHODS`.

* :func:`plan_zoo_model` decides, for one architecture, which methods run and which are refused (with the one-line
  reason), from one forward pass of a *zero-size batch* (shape (0, 3, S, S), S the input size of the architecture's
  ImageNet weights) through the model built without initialisation (:func:`uninitialised`): every module and
  function is called as for a real batch and every shape is known, but no kernel touches an element, so the whole
  zoo takes well under a minute. (The ``meta`` device does the same 3-5x slower: its kernels are Python.)
* :func:`run_zoo_model` runs :func:`analyze_details` for real (CPU, one small image, few SmoothGrad samples and
  integration steps) and says, per method, whether it returned maps (finite, or flagged as degenerate), was
  refused before any work, or failed.

``python -m spectral_lib.tools.zoo [--run] [--models NAME ...] [--out zoo.csv]`` prints the matrix and a table of
refusals by reason (``--run``: real runs; the default plans from zero-size batches).
"""
from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
import warnings
from collections import Counter
from typing import Iterator, Sequence

import pandas as pd
import torch
from torch import nn

from ..explain import METHODS
from .analyze import analyze_details
from .inspection import probe_model
from .plan import MethodRefused, plan_methods

__all__ = ["zoo_names", "build_zoo_model", "uninitialised", "zoo_input_size", "plan_zoo_model", "run_zoo_model",
           "reason_category", "ZOO_RUN_OPTIONS"]

# few passes: the matrix asks whether a method works on an architecture, not for its EF
ZOO_RUN_OPTIONS = {"smooth_grad": {"n_samples": 2}, "integrated_gradients": {"n_steps": 2},
                   "captum_integrated_gradients": {"n_steps": 2}}


def zoo_names() -> list[str]:
    """torchvision's classification architectures (80 in torchvision 0.29)."""
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


@contextlib.contextmanager
def uninitialised() -> Iterator[None]:
    """While active, the initialisers of ``torch.nn.init`` (``kaiming_normal_``, ``trunc_normal_``, ...) leave
    their tensor as it is: a model is built with allocated but uninitialised weights, in a fraction of the time
    (for a structural probe; never for a run)."""
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(nn.init, n) for n in names}
    for n in names:
        setattr(nn.init, n, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


def zoo_input_size(name: str, small: bool = False) -> int:
    """Side of the square input the architecture built with ``weights=None`` takes: 224 (299 for Inception-v3); or
    with ``small`` a small side at which its last conv layer is at least 2x2: 64 px, two patches for the ViTs (built
    with that ``image_size``), 112 for Inception-v3 (its last conv is 1x1 up to 106 px), 224 for MaxViT (its
    partitions need it)."""
    if not small:
        return 299 if name == "inception_v3" else 224
    if name.startswith("vit_"):
        return 2 * int(re.search(r"_(\d+)$", name).group(1))  # two patches a side
    if name == "inception_v3":
        return 112
    if name.startswith("maxvit"):
        return 224
    return 64


def build_zoo_model(name: str, *, probe_only: bool = False, small: bool = False, num_classes: int = 10) -> nn.Module:
    """``torchvision.models.get_model(name, weights=None, num_classes=num_classes)`` in eval mode, freshly
    initialised (with ``probe_only``: not initialised at all, :func:`uninitialised`); ``small`` builds the ViTs
    for their small input (``image_size``, see :func:`zoo_input_size`)."""
    import torchvision

    kwargs = {"num_classes": num_classes}
    if small and name.startswith("vit_"):
        kwargs["image_size"] = zoo_input_size(name, small=True)
    with warnings.catch_warnings(), (uninitialised() if probe_only else contextlib.nullcontext()):
        warnings.simplefilter("ignore", FutureWarning)  # GoogLeNet / Inception: their default init
        return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def plan_zoo_model(name: str, methods: Sequence[str] = tuple(METHODS)) -> dict[str, str | None]:
    """Method -> None (accepted) or the refusal reason, for architecture ``name`` at its input size
    (:func:`zoo_input_size`), from a zero-size batch (structure only: no trials, no logits)."""
    model = build_zoo_model(name, probe_only=True)
    s = zoo_input_size(name)
    x1 = torch.zeros(0, 3, s, s)
    probe = probe_model(model, x1)
    plans = plan_methods(model, x1, list(methods), {}, probe, trial=False)
    return {m: p.refused for m, p in plans.items()}


def run_zoo_model(name: str, methods: Sequence[str] = tuple(METHODS), *, model: nn.Module | None = None,
                  size: int | None = None, seed: int = 0) -> dict[str, tuple[str, str]]:
    """Method -> (status, detail) for a real run of :func:`analyze_details` on one random image of side ``size``
    (default :func:`zoo_input_size` small) with ``model`` (default: :func:`build_zoo_model` small, seeded):
    ``("ran", "")``, ``("flagged", reason)`` (maps returned but degenerate, EF not measured), ``("refused",
    reason)`` or ``("failed", error)``."""
    if model is None:
        torch.manual_seed(seed)
        model = build_zoo_model(name, small=True)
    s = size or zoo_input_size(name, small=True)
    x = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(seed))
    options = {m: dict(o) for m, o in ZOO_RUN_OPTIONS.items() if m in methods}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = analyze_details(model, x, list(methods), progress=False, method_options=options,
                                     model_name=name, on_refused="skip", warn=False, max_memory="1GiB")
    except MethodRefused as e:  # constant logits, or vanilla_grad refused: every method
        return {m: ("refused", e.lines[0].split(": refused: ", 1)[-1]) for m in methods}
    out: dict[str, tuple[str, str]] = {}
    for m in dict.fromkeys(["vanilla_grad", *methods]):
        if m in result.refused:
            out[m] = ("refused", result.refused[m])
        elif m in result.failed:
            out[m] = ("failed", result.failed[m])
        else:
            rows = result.table[result.table["method"] == m]
            flags = [f for f in rows["flag"] if f is not None]
            if flags:
                out[m] = ("flagged", flags[0])
            elif len(rows) and rows["ef_paper"].notna().all():
                out[m] = ("ran", "")
            else:
                out[m] = ("failed", "no finite EF")
    return out


_CATEGORIES = (
    ("TorchScript", "TorchScript: no module hooks"),
    ("no authors' GradCAM layer", "captum_guided_grad_cam: no authors' GradCAM layer for this architecture"),
    ("nothing can be guided", "Guided Backprop: no activation module (functional activations only)"),
    ("DeepLIFT rule for none", "DeepLIFT: captum has a rule for none of the nonlinearities"),
    ("smooths only nn.ReLU", "BetaSmooth: activation modules other than nn.ReLU"),
    ("found no nn.ReLU", "BetaSmooth: no nn.ReLU module (functional relus)"),
    ("1x1 output", "Grad-CAM: last conv layer is 1x1 at this input size"),
    ("no nn.Conv2d", "Grad-CAM: no conv layer runs"),
    ("logits are identical", "constant logits (zero-initialised head): every map would be constant"),
    ("one-image trial", "failed on the one-image trial"),
    ("VanillaGrad's, which was refused", "VanillaGrad refused"),
)


def reason_category(reason: str) -> str:
    """A short category for a refusal reason (for the table by reason); the reason itself when unknown."""
    for key, category in _CATEGORIES:
        if key in reason:
            return category
    return reason


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m spectral_lib.tools.zoo``: the matrix (plans, or ``--run``), a CSV and the reasons table."""
    p = argparse.ArgumentParser(prog="python -m spectral_lib.tools.zoo", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", help="architectures (default: all of torchvision's)")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--run", action="store_true", help="real runs on CPU (default: plans from zero-size batches)")
    p.add_argument("--out", help="CSV of model, method, status, detail, seconds")
    args = p.parse_args(argv)
    rows = []
    for name in args.models or zoo_names():
        t0 = time.perf_counter()
        try:
            if args.run:
                verdicts = run_zoo_model(name, args.methods)
            else:
                verdicts = {m: ("refused", r) if r else ("accepted", "")
                            for m, r in plan_zoo_model(name, args.methods).items()}
        except Exception as e:  # noqa: BLE001: a hole in the matrix is a result, not a crash
            verdicts = {m: ("error", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                        for m in args.methods}
        dt = time.perf_counter() - t0
        for m, (status, detail) in verdicts.items():
            rows.append({"model": name, "method": m, "status": status, "detail": detail, "seconds": round(dt, 2)})
        line = Counter(v[0] for v in verdicts.values())
        print(f"{name:22s} {dt:7.1f}s  " + "  ".join(f"{k} {n}" for k, n in sorted(line.items())), flush=True)
    frame = pd.DataFrame(rows)
    if args.out:
        frame.to_csv(args.out, index=False)
    print("\n" + frame["status"].value_counts().to_string())
    refused = frame[frame["status"] == "refused"]
    if len(refused):
        table = refused.assign(reason=refused["detail"].map(reason_category)).groupby("reason").agg(
            pairs=("model", "size"), models=("model", "nunique"))
        print("\nrefused, by reason:\n" + table.sort_values("pairs", ascending=False).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
