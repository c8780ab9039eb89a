"""The paper's architectures with a chosen activation, and one entry point, :func:`build_model`.

* ``simple_cnn``: the paper's simple CNN with a depth parameter. Block 1: 3x3 conv to ``width`` (16) channels,
  activation, 2x2 max-pool; each further block doubles the channels. Then a ``fc`` (512) unit fully connected layer,
  activation, and the classifier. Convolutions without bias (the paper's final runs).
* ``skip_bn_cnn``: the small CNN of the SK/BN ablation: bias-free 3x3 convs with 32-64-128 channels (in every arm,
  with or without BN, as the authors' ``SimpleConvSKBN`` with ``bias=False``, so that BN is not confounded with conv
  biases), each followed by (optional) batch norm, activation and a 2x2 max-pool, with (optional) residual skips
  through 1x1 projections; then a 512-unit FC layer (with bias) and the classifier. The topology is simpler than the
  authors' (theirs: a stem conv without activation, two residual pairs of convs, 1x1 convs with padding and 4
  max-pools); the difference is listed on the book's deviations page.
* ``mlp``: a fully connected network (flatten, ``hidden`` layers of Linear + activation, then the classifier), with
  biases. It has no notion of pixel neighbours: permuting the input pixels by a fixed permutation and the first
  layer's input columns by the same permutation leaves its function unchanged, so an MLP trained on permuted pixels is
  (from the permuted initialisation, exactly; from its own, in distribution) the permuted MLP. The
  spatial-correlation chapter uses it to separate the inputs' correlation from convolutional locality.
* ``resnet18`` / ``resnet34`` / ``resnet50``: torchvision's ResNets (random init), with a 3x3 stride-1 stem and no
  max-pool for small inputs (H <= 64, the CIFAR convention), the first conv adapted to the input channels, every
  ReLU swapped for the chosen activation.
* ``vit_b_16``: torchvision's ViT-B/16 (random init) at the given image size; its GELUs swapped when the activation
  is not ``"gelu"``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..checks import check_choice, check_positive_int
from .activations import GaussianReLU, make_activation, swap_activations

__all__ = ["SimpleCNN", "SkipBNCNN", "MLP", "permute_mlp_inputs", "build_model", "MODEL_NAMES",
           "commutes_with_max_pool"]


def commutes_with_max_pool(act: nn.Module, pool: nn.Module) -> bool:
    """Whether ``pool(act(x)) == act(pool(x))`` for every x: ``pool`` is a max-pool and ``act`` a non-decreasing
    elementwise activation (ReLU, SoftPlus with beta > 0, centred or not, the Gaussian-smoothed ReLU), since the
    largest input of a window then has the largest output. Pooling first runs the activation on a quarter of the
    values (2x2 windows), forward and backward; the gradient reaches the same input of each window (for ReLU the
    results are bit-identical). GELU and SiLU are not monotone, and keep the standard order."""
    if not isinstance(pool, nn.MaxPool2d):
        return False
    if isinstance(act, nn.Softplus):
        return act.beta > 0
    return isinstance(act, (nn.ReLU, GaussianReLU))


class SimpleCNN(nn.Module):
    """The paper's simple CNN: ``depth`` blocks of conv3x3 (no bias) -> activation -> max-pool 2x2, then
    FC(``fc``) -> activation -> FC(num_classes). Input (N, C, H, W) with H, W >= 2**depth; output (N, num_classes).
    ``width_mult`` scales every block's channels and the FC units (rounded, at least 1) for finite-width studies.

    ``pool="avg"`` swaps max-pooling (piecewise linear, with kinks like ReLU's) for average pooling, so that the
    activation is the network's only non-linearity: an SP network is then smooth everywhere (see the Theorem 1
    chapter, where max-pooling's kinks keep an SP network's spectrum heavy-tailed)."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        activation="relu",
        depth: int = 2,
        width: int = 16,
        fc: int = 512,
        bias: bool = False,
        pool: str = "max",
        width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        c, h, w = in_shape
        depth = check_positive_int("depth", depth)
        width = check_positive_int("width", width)
        fc = check_positive_int("fc", fc)
        if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or not (
                math.isfinite(width_mult) and width_mult > 0):
            raise ValueError(f"width_mult must be a positive finite number, got {width_mult!r}")
        width, fc = max(1, round(width * width_mult)), max(1, round(fc * width_mult))  # channels and FC units
        check_choice("pool", pool, ("max", "avg"))
        pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        if min(h, w) < 2**depth:
            raise ValueError(f"depth={depth} needs inputs of at least {2**depth}x{2**depth}, got {h}x{w}")
        layers: list[nn.Module] = []
        ch = c
        for i in range(depth):
            out = width * 2**i
            layers += [nn.Conv2d(ch, out, 3, padding=1, bias=bias), make_activation(activation), pool_cls(2)]
            ch, h, w = out, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(ch * h * w, fc), make_activation(activation), nn.Linear(fc, num_classes)
        )

    pool_first = False  # pool before the activation where they commute (spectral_lib.nn.layout.pooling_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, num_classes)
        if not self.pool_first:
            return self.classifier(self.features(x))
        f = self.features
        for i in range(0, len(f), 3):  # conv, activation, pool
            conv, act, pool = f[i], f[i + 1], f[i + 2]
            x = act(pool(conv(x))) if commutes_with_max_pool(act, pool) else pool(act(conv(x)))
        return self.classifier(x)


class _SkipBlock(nn.Module):
    def __init__(self, cin: int, cout: int, activation, skip: bool, bn: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)  # bias-free in every arm, as the authors
        self.bn = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.proj = nn.Conv2d(cin, cout, 1, bias=False) if skip else None
        self.act = make_activation(activation)
        self.pool = nn.MaxPool2d(2)

    pool_first = False  # as SimpleCNN.pool_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        if self.proj is not None:
            y = y + self.proj(x)
        if self.pool_first and commutes_with_max_pool(self.act, self.pool):
            return self.act(self.pool(y))
        return self.pool(self.act(y))


class SkipBNCNN(nn.Module):
    """Small CNN for the skip-connection / batch-norm ablation (channels 32-64-128, FC 512).
    Input (N, C, H, W) with H, W >= 8; output (N, num_classes)."""

    def __init__(
        self,
        in_shape: tuple[int, int, int],
        num_classes: int,
        activation="relu",
        skip: bool = False,
        bn: bool = False,
        channels: tuple[int, ...] = (32, 64, 128),
        fc: int = 512,
    ) -> None:
        super().__init__()
        c, h, w = in_shape
        if not isinstance(channels, (tuple, list)) or not channels:
            raise ValueError(f"channels must be a non-empty tuple of positive ints, got {channels!r}")
        for i, ch in enumerate(channels):
            check_positive_int(f"channels[{i}]", ch)
        fc = check_positive_int("fc", fc)
        if min(h, w) < 2 ** len(channels):
            raise ValueError(f"skip_bn_cnn needs inputs of at least {2**len(channels)} pixels a side, got {h}x{w}")
        blocks = []
        for out in channels:
            blocks.append(_SkipBlock(c, out, activation, skip, bn))
            c, h, w = out, h // 2, w // 2
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, fc), make_activation(activation), nn.Linear(fc, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """A fully connected network: flatten (N, C, H, W) -> (N, C*H*W), then for each width of ``hidden`` a Linear layer
    (with bias) and the activation, then a Linear classifier; output (N, num_classes). Parameters:
    ``sum_i (d_i + 1) d_{i+1}`` over the layer sizes ``d = (C*H*W, *hidden, num_classes)``.

    Permuting the pixels of every input by a fixed permutation ``perm`` (``x.flatten(2)[..., perm]``) and the columns
    of ``layers[0].weight`` by the same permutation (of every channel's block) gives the same outputs: the network has
    no notion of pixel neighbours (see :func:`permute_mlp_inputs`)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, activation="relu",
                 hidden: tuple[int, ...] | list[int] = (256, 256)) -> None:
        super().__init__()
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, (tuple, list)) or not hidden:
            raise ValueError(f"hidden must be a non-empty list of positive ints, got {hidden!r}")
        widths = [check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden)]
        c, h, w = in_shape
        layers: list[nn.Module] = [nn.Flatten()]
        d = c * h * w
        for width in widths:
            layers += [nn.Linear(d, width), make_activation(activation)]
            d = width
        layers.append(nn.Linear(d, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def permute_mlp_inputs(model: MLP, perm: torch.Tensor, in_shape: tuple[int, int, int]) -> MLP:
    """A copy of ``model`` that reads pixel-permuted inputs: ``copy(x.flatten(2)[..., perm].view_as(x)) ==
    model(x)`` (up to float rounding) for (N, C, H, W) inputs of ``in_shape``. ``perm`` is an (H*W,) permutation of
    the pixels, the same for every channel (:func:`spectral_lib.data.pixel_permutation`); the first layer's input
    columns are permuted accordingly, nothing else changes."""
    import copy

    if not isinstance(model, MLP):
        raise TypeError(f"model must be an MLP, got {type(model).__name__}")
    c, h, w = in_shape
    perm = torch.as_tensor(perm, dtype=torch.long)
    if tuple(perm.shape) != (h * w,) or not torch.equal(perm.sort().values, torch.arange(h * w)):
        raise ValueError(f"perm must be a permutation of the {h * w} pixels of a {h}x{w} image, got shape "
                         f"{tuple(perm.shape)}")
    first = model.layers[1]
    if first.in_features != c * h * w:
        raise ValueError(f"in_shape {in_shape} does not match the MLP's {first.in_features} inputs")
    out = copy.deepcopy(model)
    cols = (torch.arange(c)[:, None] * h * w + perm[None, :]).reshape(-1)  # input index of permuted column j
    with torch.no_grad():
        out.layers[1].weight.copy_(first.weight[:, cols])
    return out


def _resnet(name: str, in_shape, num_classes: int, activation, small_input: bool | None = None) -> nn.Module:
    import torchvision

    c, h, w = in_shape
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    small = (min(h, w) <= 64) if small_input is None else small_input
    if small:
        model.conv1 = nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif c != 3:
        model.conv1 = nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False)
    if str(activation).lower() != "relu":
        swap_activations(model, activation)
    return model


def _vit(in_shape, num_classes: int, activation, patch_size: int = 16) -> nn.Module:
    import torchvision

    c, h, w = in_shape
    patch_size = check_positive_int("patch_size", patch_size)
    if h != w or h % patch_size:
        raise ValueError(f"vit_b_16 needs square inputs with a side divisible by {patch_size}, got {h}x{w}")
    # ViT-B's sizes (as torchvision's vit_b_16(weights=None), which hard-codes patch 16) with the requested patch size
    model = torchvision.models.VisionTransformer(image_size=h, patch_size=patch_size, num_layers=12, num_heads=12,
                                                 hidden_dim=768, mlp_dim=3072, num_classes=num_classes)
    if c != 3:
        model.conv_proj = nn.Conv2d(c, model.hidden_dim, patch_size, stride=patch_size)
    if str(activation).lower() != "gelu":
        swap_activations(model, activation, include_gelu=True)
    return model


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "simple_cnn": lambda in_shape, k, act, **o: SimpleCNN(in_shape, k, act, **o),
    "skip_bn_cnn": lambda in_shape, k, act, **o: SkipBNCNN(in_shape, k, act, **o),
    "mlp": lambda in_shape, k, act, **o: MLP(in_shape, k, act, **o),
    "resnet18": lambda in_shape, k, act, **o: _resnet("resnet18", in_shape, k, act, **o),
    "resnet34": lambda in_shape, k, act, **o: _resnet("resnet34", in_shape, k, act, **o),
    "resnet50": lambda in_shape, k, act, **o: _resnet("resnet50", in_shape, k, act, **o),
    "vit_b_16": lambda in_shape, k, act, **o: _vit(in_shape, k, act, **o),
}
MODEL_NAMES = tuple(_BUILDERS)


def build_model(
    name: str,
    activation="relu",
    in_shape: tuple[int, int, int] = (1, 28, 28),
    num_classes: int = 10,
    **options,
) -> nn.Module:
    """Build one of :data:`MODEL_NAMES` with the given activation spec (see
    :func:`spectral_lib.nn.activations.make_activation`), input shape (C, H, W) and number of classes.

    ``options`` go to the architecture: ``depth``, ``width``, ``fc``, ``bias``, ``pool`` ("max"/"avg") (simple_cnn);
    ``skip``, ``bn`` (skip_bn_cnn); ``hidden`` (mlp); ``small_input`` (ResNets); ``patch_size`` (ViT). Randomly
    initialised; seed torch first for reproducible weights.
    """
    check_choice("name", name, MODEL_NAMES)
    make_activation(activation)  # validate the spec early
    if (
        not isinstance(in_shape, (tuple, list))
        or len(in_shape) != 3
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in in_shape)
    ):
        raise ValueError(f"in_shape must be (C, H, W) with positive ints, got {in_shape!r}")
    num_classes = check_positive_int("num_classes", num_classes, minimum=2)
    try:
        return _BUILDERS[name](tuple(in_shape), num_classes, activation, **options)
    except TypeError as e:
        raise TypeError(f"invalid options {sorted(options)} for model {name!r}: {e}") from None
