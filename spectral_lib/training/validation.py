"""Cheap checks that a configuration's networks can be built, before any data is loaded or anything trains: each
network is built on the ``meta`` device (no memory, no data: milliseconds) and runs a 2-image forward pass there."""
from __future__ import annotations

import json
import re
from typing import Iterable

from ..checks import ParameterError
from ..data import dataset_info
from .config import TrainConfig

__all__ = ["check_model", "check_networks"]

def _known_options(model: str) -> list[str]:
    import inspect

    from ..nn import models as m

    target = {"simple_cnn": getattr(m, "SimpleCNN", None), "skip_bn_cnn": getattr(m, "SkipBNCNN", None),
              "mlp": getattr(m, "MLP", None),
              "vit_b_16": getattr(m, "_vit", None)}.get(model, getattr(m, "_resnet", None))
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return []
    return [n for n in params if n not in ("self", "name", "in_shape", "num_classes", "activation")]


def check_model(model: str, activation: str, model_options: dict, dataset: str, image_size: int | None) -> None:
    """Build the network on the ``meta`` device (no memory, no data: milliseconds) and run a 2-image forward pass
    through it, so that an unknown option or a shape the architecture cannot take (a depth too large for the image
    size, a ViT patch that does not divide it) fails now, naming ``model_options`` and its value."""
    import torch

    from ..nn.models import build_model

    info = dataset_info(dataset, image_size)
    c, h, w = info.in_shape
    where = f"(model {model!r} on {dataset!r} inputs {c}x{h}x{w}, image_size={image_size!r})"
    try:
        with torch.device("meta"):
            net = build_model(model, activation, info.in_shape, info.num_classes, **model_options)
        net.eval()
        with torch.no_grad():
            out = net(torch.empty(2, *info.in_shape, device="meta"))
        if tuple(out.shape) != (2, info.num_classes):
            raise ValueError(f"the network outputs shape {tuple(out.shape)}, not (2, {info.num_classes})")
    except NotImplementedError:  # an operation without a meta kernel: nothing more can be checked cheaply
        return
    except (TypeError, ValueError, RuntimeError) as e:
        msg = str(e)
        unknown = re.search(r"unexpected keyword argument '(\w+)'", msg)
        if unknown:
            known = _known_options(model)
            msg = f"unknown option {unknown.group(1)!r} for {model}" + (f" (known: {', '.join(known)})" if known
                                                                          else "")
        else:
            msg = f"{msg.split(': ', 1)[-1] if msg.startswith('invalid options') else msg} {where}"
        raise ParameterError(f"model_options={dict(model_options)!r}: {msg}") from None


def check_networks(configs: Iterable[TrainConfig], where: str = "") -> None:
    """:func:`check_model` once for every distinct network (model, activation, options, dataset, image size) among
    ``configs``; ParameterError prefixed with ``where`` (e.g. the chapter) when one cannot be built."""
    prefix = f"{where}: " if where else ""
    seen = set()
    for config in configs:
        ident = (config.model, config.activation, json.dumps(config.model_options, sort_keys=True, default=str),
                 config.dataset, config.image_size)
        if ident in seen:
            continue
        seen.add(ident)
        try:
            check_model(config.model, config.activation, config.model_options, config.dataset, config.image_size)
        except ParameterError as e:
            msg = str(e)
            raise ParameterError(msg if prefix and msg.startswith(prefix) else f"{prefix}{msg}") from None
