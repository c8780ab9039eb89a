"""Command line: ``python -m spectral_lib analyze`` (also installed as ``spectral-lib analyze``).

Examples::

    # a torchvision architecture with your weights (nothing is downloaded)
    python -m spectral_lib analyze --model resnet18 --checkpoint ckpt.pt --num-classes 10 --images imgs/ \\
        --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 --methods vanilla_grad smooth_grad grad_cam \\
        --n-images 16 --out results/
    # a TorchScript model (torch.jit.save), images in an .npz (key "images")
    python -m spectral_lib analyze --torchscript model.pt --images batch.npz --out results/
    # one of spectral_lib.nn.MODEL_NAMES: give --in-shape (and --activation)
    python -m spectral_lib analyze --model simple_cnn --in-shape 1 28 28 --num-classes 10 --checkpoint w.pt ...

``--model NAME`` with ``--in-shape C H W`` builds ``spectral_lib.nn.build_model(NAME, activation, in_shape, K)``;
without ``--in-shape`` it builds ``getattr(torchvision.models, NAME)(weights=None, num_classes=K)``. Writes
``OUT/results.csv`` (per image and method), ``OUT/summary.csv``, ``OUT/results.json`` (config, summary, results) and
``OUT/figure.png``. Every problem found in the arguments, images, checkpoint or model stops the run before any
explanation is computed, with exit status 2 and a one-line message.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


class CLIError(ValueError):
    """A problem with the command line's inputs; reported as ``error: <message>`` with exit status 2."""


# --------------------------------------------------------------------------------------------------- images
def load_folder(
    folder: Path, channels: int | None = None, n_images: int | None = None
) -> tuple[torch.Tensor, list[str]]:
    """PNG/JPEG files of ``folder`` (sorted by name) as (N, C, H, W) float32 in [0, 1], and their names.

    ``channels`` 1 or 3 converts every image to "L" or "RGB"; None picks "L" when all are grayscale, else "RGB".
    All files must have the same size (checked on every file's header first); ``n_images`` loads the first ones."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CLIError(f"no images ({'/'.join(IMAGE_SUFFIXES)}) in folder {folder}")
    sizes, modes = [], []
    for p in files:
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
                modes.append(im.mode)
        except Exception as e:  # noqa: BLE001
            raise CLIError(f"cannot read image {p}: {e}") from e
    for p, size in zip(files, sizes):
        if size != sizes[0]:
            raise CLIError(f"images must all have the same size: {files[0].name} is {sizes[0][0]}x{sizes[0][1]} "
                           f"but {p.name} is {size[0]}x{size[1]} (width x height); resize them first")
    if channels is None:
        channels = 1 if all(m in _GRAY_MODES for m in modes) else 3
    if channels not in (1, 3):
        raise CLIError(f"image folders give 1 (L) or 3 (RGB) channels, but the model takes {channels}; use an .npz")
    files = files[: n_images or len(files)]
    arrays = []
    for p in files:
        with Image.open(p) as im:
            a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
        arrays.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(arrays)), [p.name for p in files]


def load_npz(path: Path, n_images: int | None = None) -> torch.Tensor:
    """Key ``images`` of an .npz: (N, C, H, W), (N, H, W, C) (C in 1, 3, 4) or (N, H, W); uint8 is scaled by 1/255,
    floats are kept. Returns (N, C, H, W) float32."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise CLIError(f"{path} has no key 'images' (keys: {', '.join(z.files) or 'none'})")
            a = z["images"]
    except (OSError, ValueError) as e:
        if isinstance(e, CLIError):
            raise
        raise CLIError(f"cannot read {path} as an .npz: {e}") from e
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.size == 0:
        raise CLIError(f"{path}: 'images' must have shape (N, C, H, W) or (N, H, W, C), got {a.shape}")
    if a.shape[1] not in (1, 3, 4) and a.shape[-1] in (1, 3, 4):
        a = a.transpose(0, 3, 1, 2)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise CLIError(f"{path}: 'images' must be uint8 or floating point, got dtype {a.dtype}")
    a = a[: n_images or len(a)]
    return torch.from_numpy(np.ascontiguousarray(a))


# --------------------------------------------------------------------------------------------------- models
def _first_conv_channels(model: nn.Module) -> int | None:
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


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load the state_dict in ``path`` into ``model``; CLIError listing missing / unexpected keys (a few of each) or
    shape mismatches when it does not fit the architecture. spectral_lib cache files are read too."""
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
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CLIError(f"cannot load checkpoint {path} (a state_dict saved with torch.save is expected): "
                       f"{first}") from e
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
                       " (check --num-classes and --in-shape)")
    model.load_state_dict(state, strict=True)


def build(args: argparse.Namespace) -> nn.Module:
    """The model the arguments describe (weights from --checkpoint only), in eval mode on --device."""
    if args.torchscript is not None:
        import warnings

        try:
            with warnings.catch_warnings():  # recent torch deprecates TorchScript; it is the user's chosen format
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(args.torchscript), map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise CLIError(f"cannot load TorchScript model {args.torchscript}: {str(e).strip().splitlines()[0]}") from e
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
            import torchvision

            names = torchvision.models.list_models(module=torchvision.models)
            if args.model not in names:
                hint = " (a spectral_lib model: add --in-shape C H W)" if args.model in MODEL_NAMES else ""
                raise CLIError(f"unknown --model {args.model!r}{hint}; torchvision classification models: "
                               f"{_few(names, 8)}; spectral_lib models (with --in-shape): {', '.join(MODEL_NAMES)}")
            model = getattr(torchvision.models, args.model)(weights=None, num_classes=args.num_classes or 1000)
        if args.checkpoint is not None:
            load_checkpoint(model, args.checkpoint)
        else:
            print("warning: no --checkpoint: the model has random weights", file=sys.stderr)
    return model.to(args.device).eval()


# --------------------------------------------------------------------------------------------------- CLI
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def make_parser() -> argparse.ArgumentParser:
    """The ``spectral_lib`` argument parser (one sub-command, ``analyze``)."""
    from ..explain import METHODS
    from .analyze import DEFAULT_METHODS

    parser = argparse.ArgumentParser(prog="python -m spectral_lib", description="spectral_lib command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="EF and explanation gap of explanation methods on your model and images",
                       description="EF (paper and nyquist definitions) and the explanation gap |EF - EF(vanilla_grad)|"
                                   " per image and method; writes results.csv, results.json, figure.png")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="torchvision architecture name, or a spectral_lib model name with --in-shape")
    src.add_argument("--torchscript", type=Path, help="a TorchScript model file (torch.jit.save)")
    p.add_argument("--checkpoint", type=Path, help="state_dict file for --model (nothing is downloaded)")
    p.add_argument("--num-classes", type=_positive_int, help="classes of --model (torchvision default: 1000)")
    p.add_argument("--in-shape", type=_positive_int, nargs=3, metavar=("C", "H", "W"),
                   help="build --model from spectral_lib.nn.models with this input shape")
    p.add_argument("--activation", default="relu", help="activation of a spectral_lib model (default: relu)")
    p.add_argument("--images", type=Path, required=True, help="folder of .png/.jpg images, or an .npz (key 'images')")
    p.add_argument("--mean", type=float, nargs="+", help="per-channel mean (images are in [0, 1])")
    p.add_argument("--std", type=float, nargs="+", help="per-channel std")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                   help=f"explanation methods (vanilla_grad is always added); valid: {', '.join(METHODS)}")
    p.add_argument("--n-images", type=_positive_int, help="analyse the first N images (default: all)")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--target", type=int, help="class to explain (default: the predicted class)")
    p.add_argument("--seed", type=int, default=0, help="seed of SmoothGrad's noise")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(parser=p)  # errors are reported with the sub-command's usage
    return parser


def run_analyze(args: argparse.Namespace) -> dict[str, Path]:
    """Validate everything, analyse, write the outputs; returns their paths. Raises CLIError / ValueError."""
    from .analyze import analyze_details, check_methods, plot_analysis, summarize, table_records

    methods = check_methods(args.methods)
    if args.torchscript is None and args.model is None:
        raise CLIError("give --model or --torchscript")
    if args.torchscript is not None and (args.checkpoint or args.in_shape):
        raise CLIError("--checkpoint and --in-shape go with --model, not --torchscript")
    if (args.mean is None) != (args.std is None):
        raise CLIError("give both --mean and --std, or neither (images already normalised)")
    if not args.images.exists():
        raise CLIError(f"--images {args.images} does not exist")
    if args.checkpoint is not None and not args.checkpoint.is_file():
        raise CLIError(f"--checkpoint {args.checkpoint} is not a file")
    if args.torchscript is not None and not args.torchscript.is_file():
        raise CLIError(f"--torchscript {args.torchscript} is not a file")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device}: CUDA is not available")
    model = build(args)
    files: list[str] | None = None
    if args.images.is_dir():
        images, files = load_folder(args.images, _first_conv_channels(model), args.n_images)
    elif args.images.suffix.lower() == ".npz":
        images = load_npz(args.images, args.n_images)
    else:
        raise CLIError(f"--images must be a folder of images or an .npz file, got {args.images}")
    result = analyze_details(model, images, methods, n_images=args.n_images, batch_size=args.batch_size,
                             mean=args.mean, std=args.std, target=args.target, progress=not args.no_progress,
                             seed=args.seed)
    table = result.table
    if files is not None:
        table.insert(1, "file", [files[i] for i in table["image"]])
    summary = summarize(table)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "summary_csv": out / "summary.csv", "json": out / "results.json",
             "figure": out / "figure.png"}
    table.to_csv(paths["csv"], index=False)
    summary.to_csv(paths["summary_csv"], index=False)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k not in ("command", "parser")}
    config.update(methods=methods, n_images=len(images), image_shape=list(images.shape[1:]))
    doc = {"config": config, "summary": table_records(summary), "results": table_records(table)}
    paths["json"].write_text(json.dumps(doc, indent=1, allow_nan=False))
    plot_analysis(result, str(paths["figure"]))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m spectral_lib``; returns 0, or exits with status 2 and a one-line error."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command == "analyze":
        try:
            paths = run_analyze(args)
        except ValueError as e:  # CLIError included: one line, before any explanation was computed
            args.parser.error(" ".join(str(e).split()))
        summary = json.loads(paths["json"].read_text())["summary"]
        for row in summary:
            print(f"{row['method']:>28s}  EF(paper) {row['ef_paper']:.4g}  gap {row['gap_ef_paper']:.3g}")
        print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0
