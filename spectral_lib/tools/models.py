"""The command line's models: a torchvision architecture (freshly built, your state_dict; the architecture of
``--weights`` when given, downloaded only with ``--download``), a spectral_lib model, or a TorchScript file; the
dtype follows the checkpoint (or ``--dtype``), the device ``--device``."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from .preprocess import weights_build_kwargs

__all__ = ["CLIError", "build", "load_checkpoint", "first_conv_channels", "DTYPES"]

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


class CLIError(ValueError):
    """A problem with the command line's inputs; reported as ``error: <message>`` with exit status 2."""


def first_conv_channels(model: nn.Module) -> int | None:
    """Input channels of the model's first ``nn.Conv2d`` (TorchScript included), or None."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
        if getattr(m, "original_name", None) == "Conv2d" and hasattr(m, "weight"):  # a TorchScript Conv2d
            return int(m.weight.shape[1])
    return None


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):  # common wrappers, spectral_lib's train cache
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CLIError(f"{path} is not a state_dict (a dict of tensors, or one under 'state_dict'/'model'); save "
                       f"model.state_dict(), or use --torchscript for a whole model")
    keys = list(obj)
    for prefix in ("module.", "_orig_mod."):  # DataParallel / torch.compile wrappers
        if all(k.startswith(prefix) for k in keys):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
            keys = list(obj)
    return obj


def _few(names: Sequence[str], k: int = 5) -> str:
    names = sorted(names)
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def _first(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def load_checkpoint(model: nn.Module, path: Path) -> torch.dtype | None:
    """Load the state_dict in ``path`` into ``model``; CLIError listing missing / unexpected keys (a few of each) or
    shape mismatches when it does not fit the architecture. spectral_lib cache files are read too. The model takes
    the checkpoint's floating dtype when all its floating tensors share one (returned; None otherwise)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if head == b"SPCACHE1":
            from ..cache import load as cache_load

            obj = cache_load(path)
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except CLIError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CLIError(f"cannot load checkpoint {path} (a state_dict saved with torch.save is expected): "
                       f"{_first(e)}") from e
    state = _extract_state_dict(obj, path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        raise CLIError(f"checkpoint {path} does not match the architecture ({'; '.join(parts)})")
    bad = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if state[k].shape != own[k].shape]
    if bad:
        raise CLIError(f"checkpoint {path} does not match the architecture (shape checkpoint vs model): {_few(bad, 3)}"
                       " (check --num-classes, --in-shape and --weights)")
    dtypes = {v.dtype for v in state.values() if v.is_floating_point()}
    dtype = dtypes.pop() if len(dtypes) == 1 else None
    if dtype is not None:
        model.to(dtype)
    model.load_state_dict(state, strict=True)
    return dtype


def _torchvision(args: argparse.Namespace, weights) -> nn.Module:
    import torchvision

    from ..nn.models import MODEL_NAMES

    names = torchvision.models.list_models(module=torchvision.models)
    if args.model not in names:
        hint = " (a spectral_lib model: add --in-shape C H W)" if args.model in MODEL_NAMES else ""
        raise CLIError(f"unknown --model {args.model!r}{hint}; torchvision classification models: "
                       f"{_few(names, 8)}; spectral_lib models (with --in-shape): {', '.join(MODEL_NAMES)}")
    builder = getattr(torchvision.models, args.model)
    kwargs: dict[str, Any] = {"num_classes": args.num_classes or 1000}
    if weights is not None and weights in list(torchvision.models.get_model_weights(args.model)):
        kwargs = weights_build_kwargs(args.model, weights)
        if args.num_classes is not None:
            kwargs["num_classes"] = args.num_classes  # fine-tuned on other classes: the weights' other settings
    if args.download:
        if weights is None:
            raise CLIError("--download needs --weights NAME (the weights to download)")
        if args.num_classes is not None and args.num_classes != len(weights.meta["categories"]):
            raise CLIError(f"--download: {weights} has {len(weights.meta['categories'])} classes, not "
                           f"--num-classes {args.num_classes}")
        try:
            return builder(weights=weights, progress=not args.no_progress)
        except Exception as e:  # noqa: BLE001: no network, a proxy, a bad hash...
            raise CLIError(f"cannot download {weights}: {_first(e)} (no network? download the file elsewhere and "
                           "give it as --checkpoint)") from e
    with warnings.catch_warnings():  # GoogLeNet/Inception warn about their default init (scipy's truncnorm)
        warnings.simplefilter("ignore", FutureWarning)
        return builder(weights=None, **kwargs)


def build(args: argparse.Namespace, weights=None) -> nn.Module:
    """The model the arguments describe (weights from --checkpoint, or --download), in eval mode on --device, in the
    checkpoint's dtype or --dtype."""
    if args.torchscript is not None:
        try:
            with warnings.catch_warnings():  # recent torch deprecates TorchScript; it is the user's chosen format
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(args.torchscript), map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise CLIError(f"cannot load TorchScript model {args.torchscript}: {_first(e)}") from e
    else:
        from ..nn.models import MODEL_NAMES, build_model

        if args.in_shape is not None:
            if args.model not in MODEL_NAMES:
                raise CLIError(f"--in-shape builds a spectral_lib model, one of {', '.join(MODEL_NAMES)}; got "
                               f"--model {args.model!r} (omit --in-shape for a torchvision architecture)")
            if args.num_classes is None:
                raise CLIError("--num-classes is required for spectral_lib models")
            try:
                model = build_model(args.model, args.activation, tuple(args.in_shape), args.num_classes)
            except (TypeError, ValueError) as e:
                raise CLIError(f"cannot build {args.model!r}: {e}") from e
        else:
            model = _torchvision(args, weights)
        if args.checkpoint is not None:
            load_checkpoint(model, args.checkpoint)
        elif not args.download:
            print("warning: no --checkpoint: the model has random weights", file=sys.stderr)
    if args.dtype is not None:
        model = model.to(DTYPES[args.dtype])
    try:
        return model.to(args.device).eval()
    except Exception as e:  # noqa: BLE001: e.g. an unknown device string
        raise CLIError(f"cannot move the model to --device {args.device}: {_first(e)}") from e
