"""Validation of notebook parameters: value rules by name (:func:`check_params`), the device (:func:`check_device`)
and offsets within the test split (:func:`check_offsets`). :mod:`spectral_lib.companion.profiles` applies them, with
:func:`spectral_lib.training.check_networks` (every network built on the ``meta`` device), to every grid point of a
profile before any work."""
from __future__ import annotations

from typing import Any, Mapping

from ..checks import ConfigError, ParameterError
from ..data import DATASETS, dataset_info
from ..explain import METHODS, parse_method_spec
from ..nn.activations import make_activation
from ..nn.models import MODEL_NAMES

__all__ = ["check_params", "check_device", "check_offsets", "cuda_available", "ParameterError", "ConfigError"]


def _err(name: str, value: Any, expected: str) -> ParameterError:
    return ParameterError(f"parameter {name!r} = {value!r} is invalid: expected {expected}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pos_int(name, v):
    if not _is_int(v) or v < 1:
        raise _err(name, v, "a positive integer")


def _nonneg_int(name, v):
    if not _is_int(v) or v < 0:
        raise _err(name, v, "a non-negative integer")


def _fraction(name, v):
    if not _is_num(v) or not 0 < v <= 1:
        raise _err(name, v, "a number in (0, 1]")


def _pos_num(name, v):
    if not _is_num(v) or not v > 0 or v != v or v == float("inf"):
        raise _err(name, v, "a positive finite number")


def _nonneg_num(name, v):
    if not _is_num(v) or not v >= 0 or v == float("inf"):
        raise _err(name, v, "a non-negative finite number")


def _list_of(check, what):
    def inner(name, v):
        if not isinstance(v, (list, tuple)) or len(v) == 0:
            raise _err(name, v, f"a non-empty list of {what}")
        for i, item in enumerate(v):
            check(f"{name}[{i}]", item)
    return inner


def _activation(name, v):
    try:
        make_activation(v)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"parameter {name!r} = {v!r} is invalid: {e}") from None


def _method_spec(name, v):
    # "lowpass_grad:0.25": a method of METHODS with its one parameter
    try:
        parse_method_spec(v)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"parameter {name!r} = {v!r} is invalid: {e}") from None


def _choice(choices):
    def inner(name, v):
        if v not in choices:
            raise _err(name, v, f"one of {list(choices)}")
    return inner


def _str(name, v):
    if not isinstance(v, str) or not v:
        raise _err(name, v, "a non-empty string")


def _opt(check):
    def inner(name, v):
        if v is not None:
            check(name, v)
    return inner


def _bool(name, v):
    if not isinstance(v, bool):
        raise _err(name, v, "true or false")


def _dict(name, v):
    if not isinstance(v, dict):
        raise _err(name, v, "a mapping")


RULES = {
    "profile": _str,
    "cache_dir": _opt(_str),
    "dataset": _choice(DATASETS),
    "model": _choice(MODEL_NAMES),
    "model_options": _dict,
    "activations": _list_of(_activation, "activation specs ('relu', 'spc:0.5', ...)"),
    "activation": _activation,
    "reference_activation": _activation,
    "seeds": _list_of(_nonneg_int, "non-negative integer seeds"),
    "seed": _nonneg_int,
    "accuracy_cap": _opt(_fraction),
    "max_epochs": _pos_int,
    "lr": _pos_num,
    "lr_gamma": _fraction,
    "batch_size": _pos_int,
    "eval_every": _opt(_pos_int),
    "n_images": _pos_int,
    "n_examples": _pos_int,
    "noise_std": _nonneg_num,
    "n_samples": _pos_int,
    "ig_steps": _pos_int,
    "methods": _list_of(_method_spec, f"explanation methods ({', '.join(METHODS)}, or 'name:value')"),
    "betas": _list_of(_pos_num, "positive betas"),
    "depths": _list_of(_pos_int, "positive depths"),
    "image_sizes": _list_of(_pos_int, "image sizes in pixels"),
    "train_noise_stds": _list_of(_nonneg_num, "non-negative noise levels"),
    "train_blur_sigmas": _list_of(_nonneg_num, "non-negative blur widths"),
    "skip_bn": _list_of(_list_of(_bool, "booleans"), "[skip, bn] pairs"),
    "width": _pos_int,
    "n_lines": _pos_int,
    "half_width": _pos_num,
    "device": _choice(("auto", "cpu", "cuda")),
    "augment": _bool,
    "image_size": _opt(_pos_int),
    "weight_decays": _list_of(_nonneg_num, "non-negative L2 coefficients"),
    "pools": _list_of(_choice(("max", "avg")), "pooling types ('max', 'avg')"),
    "theorem1_images": _pos_int,
    "theorem1_points": _pos_int,
    "n_train": _opt(_pos_int),
    "train_missing": _bool,
    "equal_epochs": _pos_int,
    "gap_images": _pos_int,
    "faithfulness_images": _pos_int,
    "jpeg_seeds": _list_of(_nonneg_int, "non-negative integer seeds"),
    "trajectory_seeds": _list_of(_nonneg_int, "non-negative integer seeds"),
    "slow_relu_lrs": _list_of(_pos_num, "positive learning rates"),
}


def _lr_map(name, v):
    if not isinstance(v, dict):
        raise _err(name, v, "a mapping activation spec -> learning rate")
    for act, lr in v.items():
        _activation(f"{name} key", act)
        _pos_num(f"{name}[{act!r}]", lr)


# rules by the shape of a name, for names not in RULES: a position in the test split (``image_offset``), an extra
# activation grid of a chapter (``centred_activations``), a learning rate per activation (``lr_by_activation``)
PATTERN_RULES = (("offset", _nonneg_int), ("_activations", RULES["activations"]), ("_by_activation", _lr_map))


def _rule(name: str):
    """The rule of a parameter: its entry in RULES, else the first of PATTERN_RULES whose suffix ends the name."""
    if name in RULES:
        return RULES[name]
    return next((rule for suffix, rule in PATTERN_RULES if name.endswith(suffix)), None)


def check_params(params: Mapping[str, Any], allowed: set[str] | None = None) -> dict[str, Any]:
    """Validate notebook parameters before any expensive work and return them as a dict.

    Every name with a rule in :data:`RULES` is checked (type and range); ``allowed`` (if given) lists the names the
    notebook accepts, and any other name is rejected. Raises :class:`ParameterError` naming the parameter.
    """
    if allowed is not None:
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ParameterError(f"unknown parameter(s) {unknown}; this notebook accepts {sorted(allowed)}")
    for name, value in params.items():
        rule = _rule(name)
        if rule is not None:
            rule(name, value)
    return dict(params)


def cuda_available() -> bool:
    """Whether torch can use a CUDA device here (False with ``CUDA_VISIBLE_DEVICES=""``)."""
    import torch

    return bool(torch.cuda.is_available())


def check_device(value: Any, name: str = "device", where: str | None = None) -> None:
    """Refuse ``value == "cuda"`` when CUDA is not available here (``where`` None) and say so when the device will
    be elsewhere: ``where`` is then a reason string such as "slurm jobs without GPUs"."""
    if value != "cuda":
        return
    if where is None:
        if cuda_available():
            return
        import torch

        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "built without CUDA"
        where = f"this machine (torch {torch.__version__}, {build}, no usable GPU)"
    raise ParameterError(f"parameter {name!r} = 'cuda' is invalid: CUDA is not available on {where}; use 'auto' "
                         f"(CUDA when available, else CPU) or 'cpu'")


def check_offsets(params: Mapping[str, Any]) -> None:
    """Every ``*offset`` parameter (a position in the test split) must be below the test split's size."""
    dataset = params.get("dataset", "mnist5k")
    if dataset not in DATASETS:
        return
    n_test = dataset_info(dataset).n_test
    for name, value in params.items():
        if name.endswith("offset") and isinstance(value, int) and not isinstance(value, bool) and value >= n_test:
            raise ParameterError(f"parameter {name!r} = {value!r} is out of range: dataset {dataset!r} has {n_test} "
                                 f"test images (offsets 0..{n_test - 1})")
