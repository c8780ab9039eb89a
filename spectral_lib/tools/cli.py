"""Command line: ``python -m spectral_lib analyze`` (also installed as ``spectral-lib analyze``).

Examples::

    # a torchvision architecture with your weights, preprocessed like its ImageNet weights (nothing downloaded)
    python -m spectral_lib analyze --model resnet50 --checkpoint ckpt.pt --weights IMAGENET1K_V2 --images photos/ \\
        --methods smooth_grad grad_cam integrated_gradients deeplift guided_backprop --out results/
    # your own normalisation, images already at the model's size
    python -m spectral_lib analyze --model resnet18 --checkpoint ckpt.pt --num-classes 10 --images imgs/ \\
        --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225 --methods vanilla_grad smooth_grad --out results/
    # a TorchScript model (torch.jit.save), images in an .npz (key "images")
    python -m spectral_lib analyze --torchscript model.pt --images batch.npz --out results/
    # one of spectral_lib.nn.MODEL_NAMES: give --in-shape (and --activation)
    python -m spectral_lib analyze --model simple_cnn --in-shape 1 28 28 --num-classes 10 --checkpoint w.pt ...

``--model NAME`` with ``--in-shape C H W`` builds ``spectral_lib.nn.build_model(NAME, activation, in_shape, K)``;
without ``--in-shape`` it builds ``torchvision.models.NAME(weights=None, ...)``: with ``--weights`` the
architecture those weights fit (their number of classes, ViT's image size, ...), whose transforms (resize, centre
crop, normalisation) and class names are used too. Writes ``OUT/results.csv`` (per image and method, with a
``flag`` column for degenerate maps), ``OUT/summary.csv``, ``OUT/results.json`` (config, model notes, per-method
plan, failures, summary, results) and ``OUT/figure.png``.

Exit status: 0; 2 for a problem found before any explanation is computed (arguments, images, checkpoint, model, a
refused method: one line each, ``--skip-refused`` runs the others); 1 when a method failed during the run (the
other methods' results are written); 130 when interrupted (the finished batches are written). No traceback is
shown (``--debug`` shows it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from .memory import parse_memory
from .models import DTYPES, CLIError, build, first_conv_channels, load_checkpoint
from .plan import MethodRefused
from .preprocess import IMAGE_SUFFIXES, ImageError, Preprocess, load_folder, load_npz, resolve_weights
from .validate import model_device, model_dtype

__all__ = ["main", "make_parser", "run_analyze", "load_folder", "load_npz", "load_checkpoint", "build", "CLIError",
           "IMAGE_SUFFIXES"]


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def _memory(text: str) -> str:
    try:
        parse_memory(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def make_parser() -> argparse.ArgumentParser:
    """The ``spectral_lib`` argument parser (one sub-command, ``analyze``)."""
    from ..explain import METHODS
    from .validate import DEFAULT_METHODS

    parser = argparse.ArgumentParser(prog="python -m spectral_lib", description="spectral_lib command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("analyze", help="EF and explanation gap of explanation methods on your model and images",
                       description="EF (paper and nyquist definitions) and the explanation gap |EF - EF(vanilla_grad)|"
                                   " per image and method; writes results.csv, results.json, figure.png")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="torchvision architecture name, or a spectral_lib model name with --in-shape")
    src.add_argument("--torchscript", type=Path, help="a TorchScript model file (torch.jit.save)")
    p.add_argument("--checkpoint", type=Path, help="state_dict file for --model (nothing is downloaded)")
    p.add_argument("--weights", help="torchvision weights enum name (IMAGENET1K_V2, DEFAULT, or a full name such as "
                                     "ResNet50_Weights.IMAGENET1K_V2): its transforms, class names, architecture")
    p.add_argument("--download", action="store_true", help="download --weights (needs a network) instead of "
                                                           "--checkpoint")
    p.add_argument("--num-classes", type=_positive_int, help="classes of --model (torchvision default: 1000, or "
                                                             "those of --weights)")
    p.add_argument("--in-shape", type=_positive_int, nargs=3, metavar=("C", "H", "W"),
                   help="build --model from spectral_lib.nn.models with this input shape")
    p.add_argument("--activation", default="relu", help="activation of a spectral_lib model (default: relu)")
    p.add_argument("--images", type=Path, required=True, help="folder of .png/.jpg images, or an .npz (key 'images')")
    p.add_argument("--image-size", type=_positive_int, metavar="S",
                   help="without --weights: resize the shorter side to S and centre-crop S x S")
    p.add_argument("--mean", type=float, nargs="+", help="per-channel mean (images are in [0, 1])")
    p.add_argument("--std", type=float, nargs="+", help="per-channel std")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                   help=f"explanation methods (vanilla_grad is always added); valid: {', '.join(METHODS)}")
    p.add_argument("--skip-refused", action="store_true", help="run the other methods when some are refused")
    p.add_argument("--n-images", type=_positive_int, help="analyse the first N images (default: all)")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="images per batch, at most (default 32)")
    p.add_argument("--max-memory", type=_memory, help="memory bound of a gradient pass, e.g. 4GiB (default: a "
                                                      "quarter of the free memory)")
    p.add_argument("--target", type=int, help="class to explain (default: the predicted class)")
    p.add_argument("--seed", type=int, default=0, help="seed of SmoothGrad's noise")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=sorted(DTYPES), help="cast the model (default: the checkpoint's dtype)")
    p.add_argument("--out", type=Path, default=Path("results"), help="output folder (default: results/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    p.set_defaults(parser=p)  # errors are reported with the sub-command's usage
    return parser


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def _check_args(args: argparse.Namespace) -> None:
    if args.torchscript is not None and (args.checkpoint or args.in_shape or args.download):
        raise CLIError("--checkpoint, --in-shape and --download go with --model, not --torchscript")
    if (args.mean is None) != (args.std is None):
        raise CLIError("give both --mean and --std, or neither")
    if args.download and args.checkpoint is not None:
        raise CLIError("give --checkpoint or --download, not both")
    if args.weights is not None and args.image_size is not None:
        raise CLIError("--image-size resizes images without --weights; --weights brings its own sizes")
    if args.in_shape is not None and (args.weights is not None or args.download):
        raise CLIError("--weights and --download are torchvision's; a spectral_lib model (--in-shape) takes neither")
    if not args.images.exists():
        raise CLIError(f"--images {args.images} does not exist")
    for flag in ("checkpoint", "torchscript"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            raise CLIError(f"--{flag} {path} is not a file")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise CLIError(f"--device {args.device}: CUDA is not available")


def run_analyze(args: argparse.Namespace) -> tuple[dict[str, Path], Any]:
    """Validate everything, analyse, write the outputs; returns their paths and the AnalysisResult. Raises
    CLIError / ImageError / MethodRefused (ValueErrors) for problems found before the run."""
    from .analyze import REFERENCE_METHOD, analyze_details, check_methods, plot_analysis, summarize, table_records

    methods = check_methods(args.methods)
    _check_args(args)
    weights = None
    if args.weights is not None:
        weights = resolve_weights(args.weights, args.model if args.torchscript is None else None)
    prep = Preprocess.from_weights(weights) if weights is not None else (
        Preprocess.square(args.image_size) if args.image_size else None)
    mean, std = args.mean, args.std
    if mean is None and prep is not None and prep.mean is not None:
        mean, std = prep.mean, prep.std
    if mean is None:
        _warn("the inputs are not normalised (no --weights, no --mean/--std): the images reach the model as they "
              "are (in [0, 1] for image files)")
    model = build(args, weights)
    files: list[str] | None = None
    if args.images.is_dir():
        images, files = load_folder(args.images, first_conv_channels(model), args.n_images, prep)
    elif args.images.suffix.lower() == ".npz":
        images = load_npz(args.images, args.n_images, prep)
    else:
        raise CLIError(f"--images must be a folder of images or an .npz file, got {args.images}")
    names = None
    if weights is not None and args.num_classes in (None, len(weights.meta["categories"])):
        names = list(weights.meta["categories"])
    model_name = args.model or args.torchscript.name
    result = analyze_details(model, images, methods, n_images=args.n_images, batch_size=args.batch_size,
                             mean=mean, std=std, target=args.target, progress=not args.no_progress, seed=args.seed,
                             model_name=model_name, class_names=names, max_memory=args.max_memory,
                             on_refused="skip" if args.skip_refused else "raise", warn=False, report=_warn)
    table = result.table
    if files is not None:
        table.insert(1, "file", [files[i] for i in table["image"]])
    summary = summarize(table) if REFERENCE_METHOD in set(table["method"]) else None
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "results.csv", "summary_csv": out / "summary.csv", "json": out / "results.json",
             "figure": out / "figure.png"}
    table.to_csv(paths["csv"], index=False)
    if summary is not None:
        summary.to_csv(paths["summary_csv"], index=False)
    else:
        paths.pop("summary_csv")
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k not in ("command", "parser")}
    config.update(methods=methods, n_images=len(images), image_shape=list(images.shape[1:]), mean=mean, std=std)
    plan = {m: {"status": "refused" if p.refused else "failed" if m in result.failed else "run",
                "reason": p.refused or result.failed.get(m), "notes": p.notes, "info": p.info}
            for m, p in result.plans.items()}
    doc = {"config": config,
           "model": {"name": model_name, "dtype": str(model_dtype(model)), "device": str(model_device(model)),
                     "notes": result.notes,
                     "class_names": names is not None},
           "preprocessing": None if prep is None else {"source": prep.source, "resize": prep.resize_size,
                                                       "crop": prep.crop_size, "mean": mean, "std": std},
           "memory": None if result.chunk is None else vars(result.chunk),
           "plan": plan, "failed": result.failed, "interrupted": result.interrupted,
           "summary": table_records(summary) if summary is not None else [], "results": table_records(table)}
    paths["json"].write_text(json.dumps(doc, indent=1, allow_nan=False, default=str))
    try:
        plot_analysis(result, str(paths["figure"]))
    except Exception as e:  # noqa: BLE001: the numbers are written; a figure problem must not lose them
        _warn(f"the figure could not be drawn: {type(e).__name__}: {e}")
        paths.pop("figure")
    return paths, result


def _print_summary(paths: dict[str, Path], result) -> None:
    for line in result.flag_lines():
        _warn(line)
    doc = json.loads(paths["json"].read_text())
    for row in doc["summary"]:
        if row["ef_paper"] is None:
            print(f"{row['method']:>28s}  EF not measured: {row['n_images'] - row['n_measured']} of "
                  f"{row['n_images']} maps degenerate")
        else:
            gap = "n/a" if row["gap_ef_paper"] is None else f"{row['gap_ef_paper']:.3g}"
            measured = "" if row["n_measured"] == row["n_images"] else \
                f"  ({row['n_measured']} of {row['n_images']} maps measured)"
            print(f"{row['method']:>28s}  EF(paper) {row['ef_paper']:.4g}  gap {gap}{measured}")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m spectral_lib``: 0, or 1 / 130 (results of the other methods / finished batches
    written), or exits with status 2 and one line per problem found before the run."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command != "analyze":  # pragma: no cover - argparse allows only analyze
        return 2
    prog = args.parser.prog
    try:
        paths, result = run_analyze(args)
    except MethodRefused as e:
        for line in e.lines:
            print(f"{prog}: error: {line}", file=sys.stderr)
        everything = any(": all methods: refused: " in line for line in e.lines)  # no other method to run
        hint = "" if args.skip_refused or everything else " (--skip-refused runs the other methods)"
        print(f"{prog}: error: nothing was computed{hint}", file=sys.stderr)
        sys.exit(2)
    except (CLIError, ImageError, ValueError) as e:  # one line, before any explanation was computed
        args.parser.error(" ".join(str(e).split()))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted before the run; nothing was written", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001: no traceback reaches the user unless asked for
        if args.debug:
            raise
        print(f"{prog}: error: unexpected {type(e).__name__}: {' '.join(str(e).split())[:500]} (rerun with --debug "
              "for the traceback)", file=sys.stderr)
        return 1
    _print_summary(paths, result)
    if result.failed:
        print(f"{prog}: error: {', '.join(result.failed)} failed during the run; the other methods' results are "
              "written", file=sys.stderr)
        return 1
    if result.interrupted:
        print(f"{prog}: interrupted: the finished batches are written", file=sys.stderr)
        return 130
    return 0
