"""Property-based tests (hypothesis): good and bad inputs thrown at the public functions.

Every call either succeeds (and then the result has the documented shape, range and invariants) or raises one of the
documented exceptions (ValueError or TypeError; ``ParameterError`` is a ValueError) with a message naming the
offending parameter. Any other exception type fails the test. About 1,400 generated inputs in all, a few seconds
per test (``SPECTRAL_HYPOTHESIS_SCALE=N`` multiplies the number of examples by N).
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spectral_lib import data, explain, spectral
from spectral_lib import spectral as spectrum
from spectral_lib.nn import SP, GaussianReLU, make_activation
from spectral_lib.nn import MODEL_NAMES, build_model
from spectral_lib.companion.parameters import RULES, ParameterError, check_params
from spectral_lib.training import TrainConfig

DOCUMENTED = (ValueError, TypeError)


# SPECTRAL_HYPOTHESIS_SCALE=10 runs ten times as many examples (a deeper, slower search than CI's)
SCALE = max(1, int(os.environ.get("SPECTRAL_HYPOTHESIS_SCALE", "1")))


def fast(n: int):
    return settings(max_examples=n * SCALE, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def attempt(fn, *args, **kwargs):
    """(True, result) or (False, exception) for a documented exception; anything else propagates (test fails)."""
    try:
        return True, fn(*args, **kwargs)
    except DOCUMENTED as e:
        return False, e


def raises_naming(fn, words, *args, **kwargs):
    ok, err = attempt(fn, *args, **kwargs)
    assert not ok, f"expected a ValueError/TypeError, got result {err!r}"
    msg = str(err)
    assert any(w in msg for w in words), f"message {msg!r} names none of {words}"
    return err


# --------------------------------------------------------------------------------------------- strategies

MODERATE = st.one_of(st.just(0.0), st.floats(1e-3, 1e6), st.floats(-1e6, -1e-3))
WILD = st.floats(allow_nan=True, allow_infinity=True, width=32)


@st.composite
def arrays_any(draw, max_dims=4, max_side=7, wild=True):
    """numpy arrays of any rank (0..max_dims, sides 0..max_side) and dtype, possibly with NaN/inf, as torch tensors
    (mostly) or as other objects."""
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float64, np.float16, np.int64, np.bool_]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))
    if dtype in (np.float32, np.float64, np.float16):
        elems = st.one_of(MODERATE, WILD) if wild else MODERATE
        # float16 attributions: moderate values only (a channel sum of large ones overflows the format itself)
        elems = elems.map(lambda v: float(np.clip(v, -100, 100))) if dtype == np.float16 else elems
    elif dtype == np.int64:
        elems = st.integers(-5, 5)
    else:
        elems = st.booleans()
    arr = draw(hnp.arrays(dtype, shape, elements=elems))
    kind = draw(st.sampled_from(["tensor"] * 8 + ["numpy", "list", "none"]))
    if kind == "tensor":
        return torch.from_numpy(arr)
    if kind == "numpy":
        return arr
    if kind == "list":
        return arr.tolist()
    return None


def is_valid_maps(x, ndims=(2, 3)) -> bool:
    return (isinstance(x, torch.Tensor) and x.ndim in ndims and x.numel() > 0 and min(x.shape) >= 1
            and x.is_floating_point() and bool(torch.isfinite(x).all()))


# --------------------------------------------------------------------------------------------- spectra


@fast(120)
@given(arrays_any())
def test_radial_profile_and_ef_on_anything(maps):
    ok, prof = attempt(spectrum.radial_profile, maps)
    assert ok == is_valid_maps(maps), (ok, prof)
    if not ok:
        assert "maps" in str(prof)
        raises_naming(spectrum.expected_frequency, ["maps"], maps)
        return
    n_bins = spectrum.radial_bins(*maps.shape[-2:])
    assert prof.shape == (*maps.shape[:-2], n_bins)
    assert bool(torch.isfinite(prof).all()) and bool((prof >= 0).all())
    ef = spectrum.expected_frequency(maps, "paper")
    assert ef.shape == maps.shape[:-2]
    zero = (maps == 0).flatten(-2).all(-1)
    assert bool((torch.isnan(ef) == zero).all())  # undefined (0/0) only for an all-zero map
    efv = ef[~zero]
    assert bool(((efv >= 0) & (efv <= 1.0 / n_bins + 1e-6)).all())  # mean over R bins of f_r p_r, f_r <= 1
    ok, efn = attempt(spectrum.expected_frequency, maps, "nyquist")
    size = min(maps.shape[-2:])
    assert ok == (size >= 2)
    if ok:
        flat = maps.flatten(-2).amax(-1) == maps.flatten(-2).amin(-1)
        assert bool((torch.isnan(efn) == flat).all())  # NaN (documented) exactly for constant maps
        fv = efn[~flat]
        assert bool(((fv >= 1.0 / size - 1e-5) & (fv <= (n_bins - 1) / size + 1e-5)).all())
    else:
        assert "nyquist" in str(efn)


@fast(30)
@given(arrays_any(), st.sampled_from(["paper", "nyquist", "Paper", "", "median", None, 3]))
def test_expected_frequency_definition(maps, definition):
    ok, res = attempt(spectrum.expected_frequency, maps, definition)
    if definition not in ("paper", "nyquist"):
        assert not ok and "definition" in str(res)


@fast(60)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(0, 1), st.integers(0, 1),
       st.sampled_from(["ef", "radial_spectrum_l2", "l1", None]), st.sampled_from(["paper", "nyquist", "x"]),
       st.data())
def test_explanation_gap_properties(n, h, w, dh, dw, kind, definition, data_):
    elems = MODERATE
    a = torch.from_numpy(data_.draw(hnp.arrays(np.float64, (n, h, w), elements=elems)))
    b = torch.from_numpy(data_.draw(hnp.arrays(np.float64, (n, h + dh, w + dw), elements=elems)))
    ok, gap = attempt(spectrum.explanation_gap, a, b, kind, definition)
    valid = (dh == dw == 0) and kind in ("ef", "radial_spectrum_l2") and definition in ("paper", "nyquist")
    if definition == "nyquist" and kind == "ef" and min(h, w) < 2:
        valid = False
    assert ok == valid, gap
    if not ok:
        assert any(s in str(gap) for s in ("same shape", "kind", "definition", "nyquist"))
        return
    assert gap.shape == (n,)
    defined = torch.isfinite(gap)
    assert bool((gap[defined] >= 0).all())
    torch.testing.assert_close(gap, spectrum.explanation_gap(b, a, kind, definition), equal_nan=True)
    same = spectrum.explanation_gap(a, a, kind, definition)
    assert bool(((same == 0) | torch.isnan(same)).all())
    if kind == "radial_spectrum_l2":
        assert bool((gap[defined] <= 2 + 1e-9).all())


FIT_RANGES = st.one_of(
    st.tuples(st.floats(0, 1), st.floats(0, 1)),
    st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)),
    st.lists(st.floats(0, 1), max_size=3).map(tuple),
    st.sampled_from([None, "0.1,0.5", (True, 1.0), ("a", "b"), [0.2, 0.9]]),
)


@fast(100)
@given(arrays_any(max_dims=3, max_side=12), FIT_RANGES, st.booleans(), st.data())
def test_tail_exponent_on_anything(profile, fit_range, give_freqs, data_):
    freqs = None
    if give_freqs and isinstance(profile, torch.Tensor) and profile.ndim >= 1:
        freqs = torch.from_numpy(data_.draw(hnp.arrays(np.float64, profile.shape[-1:], elements=st.one_of(
            st.floats(0, 100), st.floats(allow_nan=True, allow_infinity=True)))))
    ok, slope = attempt(spectrum.tail_exponent, profile, fit_range, freqs)
    if not ok:
        assert any(s in str(slope) for s in ("profile", "fit_range", "frequencies")), slope
        return
    # only a valid call gets here: a non-negative finite profile of rank 1 or 2, a proper fit range
    assert is_valid_maps(profile, (1, 2)) and bool((profile >= 0).all())
    lo, hi = fit_range
    assert 0 <= lo < hi <= 1
    assert slope.shape == profile.shape[:-1]
    assert not bool(torch.isinf(slope).any())


@fast(40)
@given(st.floats(-6, 1), st.floats(0.01, 1e3), st.integers(8, 60), st.floats(0, 0.5))
def test_tail_exponent_recovers_any_power_law(slope, scale, n_bins, lo):
    f = torch.arange(n_bins, dtype=torch.float64)
    prof = scale * f.clamp(min=1) ** slope
    assume(int(((f / f.max() >= lo) & (f > 0)).sum()) >= 2)
    assert float(spectrum.tail_exponent(prof, (lo, 1.0))) == pytest.approx(slope, abs=1e-8)


# --------------------------------------------------------------------------------------------- maps


@fast(100)
@given(arrays_any(), st.sampled_from(["sum", "abs_sum", "l2", "max"]), st.sampled_from(["rank", "none", "minmax", "z"]))
def test_to_map_on_anything(attr, reduce, normalize):
    ok, m = attempt(spectral.to_map, attr, reduce, normalize)
    valid = is_valid_maps(attr, (3, 4)) and reduce != "max" and normalize != "z"
    assert ok == valid, m
    if not ok:
        assert any(s in str(m) for s in ("attribution", "reduce", "normalize")), m
        return
    assert m.shape == (attr.shape[0], *attr.shape[-2:])
    if normalize == "rank":
        p = attr.shape[-1] * attr.shape[-2]
        assert bool(((m > 0) & (m <= 1)).all())
        # average ranks of P pixels always sum to P (P + 1) / 2, ties or not
        torch.testing.assert_close(m.double().flatten(1).sum(1), torch.full((len(m),), (p + 1) / 2, dtype=torch.float64),
                                   rtol=2e-3 if m.dtype == torch.float16 else 1e-6, atol=0)
    elif normalize == "minmax":
        assert bool(((m >= 0) & (m <= 1)).all())


@fast(60)
@given(arrays_any(max_dims=4), st.sampled_from(["average", "ordinal", "dense"]))
def test_rank_normalize_on_anything(maps, ties):
    ok, r = attempt(spectral.rank_normalize, maps, ties)
    valid = (isinstance(maps, torch.Tensor) and maps.ndim == 3 and maps.numel() > 0 and min(maps.shape) >= 1
             and maps.is_floating_point() and ties != "dense")  # NaN allowed here: they rank last
    assert ok == valid, r
    if ok:
        assert r.shape == maps.shape and bool(((r > 0) & (r <= 1)).all())
    else:
        assert "maps" in str(r) or "ties" in str(r)


# --------------------------------------------------------------------------------------------- activations

NUM_NAMES = ["sp", "softplus", "spc", "gaussian", "gaussian_relu", "gaussianc"]
SIMPLE = ["relu", "gelu", "sigmoid", "tanh", "elu", "silu"]
PARAM_TEXT = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=4),
                       st.sampled_from(["", "0", "-1", "1e-3", "2", "inf", "nan", "1e400", " 3 ", "1_0"]))


def spec_oracle(spec: str) -> bool:
    """The documented grammar of activation specs (see make_activation's docstring)."""
    name, sep, arg = spec.strip().lower().partition(":")
    if name in SIMPLE:
        return not arg
    try:
        value = float(arg) if arg else None
    except ValueError:
        return False
    if name in NUM_NAMES:
        return value is not None and math.isfinite(value) and value > 0
    if name in ("leaky_relu", "leakyrelu"):
        return value is None or math.isfinite(value)
    return False


@fast(200)
@given(st.one_of(
    st.tuples(st.sampled_from(SIMPLE + NUM_NAMES + ["leaky_relu", "leakyrelu", "relu6", "SP", " Gaussian"]),
              st.sampled_from([":", "", "::"]), PARAM_TEXT).map("".join),
    st.text(max_size=12),
))
def test_make_activation_on_any_string(spec):
    ok, m = attempt(make_activation, spec)
    assert ok == spec_oracle(spec), (spec, m)
    if ok:
        arg = spec.strip().partition(":")[2]
        if not arg or 1e-3 <= abs(float(arg)) <= 1e3:  # (a slope of 1e300 overflows, as it should)
            x = torch.linspace(-20, 20, 81, dtype=torch.float64)
            assert bool(torch.isfinite(m.double()(x)).all())
    else:
        assert isinstance(m, ValueError) and repr(spec) in str(m)


BETA_LIKE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 10**6), st.booleans(),
                      st.none(), st.text(max_size=3), st.just([1.0]))


@fast(80)
@given(BETA_LIKE, st.booleans())
def test_sp_and_gaussian_relu_constructors(value, centered):
    valid = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0)
    for cls, name in ((SP, "beta"), (GaussianReLU, "sigma")):
        ok, m = attempt(cls, value, centered=centered)
        assert ok == valid, (cls, value, m)
        if not ok:
            assert name in str(m)
            continue
        if 1e-4 <= value <= 1e4:  # the documented working range: finite values and gradients for |x| <= 1e4
            x = torch.linspace(-1e4, 1e4, 2001, requires_grad=True)
            y = m(x)
            (g,) = torch.autograd.grad(y.sum(), x)
            assert bool(torch.isfinite(y).all()) and bool(torch.isfinite(g).all())
            # slopes in [0, 1] (GaussianReLU's autograd derivative cancels terms: ~1e-16 round-off around 0)
            assert bool(((g >= -1e-6) & (g <= 1 + 1e-6)).all())
    if not isinstance(value, (str, list, type(None))):
        ok, m = attempt(make_activation, value)  # a number is SP's beta
        if not isinstance(value, bool):
            assert ok == valid


# --------------------------------------------------------------------------------------------- explanations

torch.manual_seed(0)
_NET = build_model("simple_cnn", "sp:2", (1, 6, 6), 3, width=2, fc=8, depth=1).double().eval()
_X = torch.randn(2, 1, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

NUMBER_LIKE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 6), st.booleans(),
                        st.none(), st.just("0.1"))
TARGET_LIKE = st.one_of(st.none(), st.integers(-2, 4), st.lists(st.integers(-1, 3), max_size=3),
                        st.floats(0, 2), st.just(torch.tensor([0, 1])), st.just(torch.tensor([True, False])),
                        st.just(torch.tensor([[0, 1]])))


def _ok_number(v, minimum, integer):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if integer and not isinstance(v, int):
        return False
    return math.isfinite(v) and v >= minimum


def _ok_target(t):
    if t is None:
        return True
    tt = torch.as_tensor(t)
    if tt.dtype.is_floating_point or tt.dtype == torch.bool:
        return False
    if tt.ndim == 0:
        tt = tt.expand(2)
    return tt.shape == (2,) and bool(((tt >= 0) & (tt < 3)).all())


@fast(80)
@given(NUMBER_LIKE, NUMBER_LIKE, NUMBER_LIKE, TARGET_LIKE)
def test_smooth_grad_parameters(noise_std, n_samples, chunk_size, target):
    assume(not (isinstance(n_samples, int) and n_samples > 4))  # keep each call cheap
    ok, g = attempt(explain.smooth_grad, _NET, _X, noise_std, n_samples, target, chunk_size=chunk_size,
                    generator=torch.Generator().manual_seed(0))
    valid = {"noise_std": _ok_number(noise_std, 0, False), "n_samples": _ok_number(n_samples, 1, True),
             "chunk_size": _ok_number(chunk_size, 1, True), "target": _ok_target(target)}
    assert ok == all(valid.values()), (valid, g)
    if ok:
        assert g.shape == _X.shape
        if noise_std <= 1e3:  # (noise of std 1e300 overflows the input, as it should)
            assert bool(torch.isfinite(g).all())
    else:
        assert any(name in str(g) for name, good in valid.items() if not good), (valid, g)


@fast(40)
@given(TARGET_LIKE, st.sampled_from(["vanilla_grad", "integrated_gradients", "grad_cam", "guided_backprop"]))
def test_explanation_targets(target, method):
    opts = {"n_steps": 2} if method == "integrated_gradients" else {}
    ok, g = attempt(explain.explain, method, _NET, _X, target, **opts)
    assert ok == _ok_target(target), g
    if ok:
        assert g.shape == _X.shape and bool(torch.isfinite(g).all())
    else:
        assert "target" in str(g)


@fast(60)
@given(st.integers(0, 3), st.sampled_from(["none", "nan", "inf", "int", "bool", "rank1", "rank6", "numpy", "list"]),
       st.sampled_from([torch.float64, torch.float32]))
def test_vanilla_grad_rejects_bad_inputs(n, corruption, dtype):
    x = torch.randn(n, 1, 6, 6, generator=torch.Generator().manual_seed(n), dtype=dtype)
    if n and corruption in ("nan", "inf"):
        x[-1, 0, n, 1] = float(corruption)
    x = {"int": x.long(), "bool": x > 0, "rank1": x.flatten(), "rank6": x[..., None, None], "numpy": x.numpy(),
         "list": x.tolist()}.get(corruption, x)
    ok, g = attempt(explain.vanilla_grad, _NET.to(dtype), x)
    assert ok == (n > 0 and corruption == "none"), g
    if ok:
        assert g.shape == x.shape and g.dtype == dtype and bool(torch.isfinite(g).all())
    else:
        assert "x" in str(g)


# --------------------------------------------------------------------------------------------- models


SHAPE_LIKE = st.one_of(st.tuples(st.integers(-1, 3), st.integers(0, 16), st.integers(0, 16)),
                       st.tuples(st.integers(1, 3), st.integers(1, 16)),
                       st.sampled_from([None, "1x8x8", (1.0, 8, 8), (True, 8, 8), [1, 8, 8]]))
OPTIONS = st.fixed_dictionaries({}, optional={
    "depth": st.one_of(st.integers(-1, 5), st.just(2.0), st.just(True)),
    "width": st.one_of(st.integers(-1, 6), st.just("4")),
    "fc": st.one_of(st.integers(-1, 16), st.just(None)),
    "pool": st.sampled_from(["max", "avg", "min"]),
    "colour": st.just("red"),
})


@fast(80)
@given(st.sampled_from(["simple_cnn", "skip_bn_cnn", "bogus", "", "ResNet18"]),
       st.sampled_from(["relu", "spc:0.5", "sp:-2", "nope", 0.5]), SHAPE_LIKE,
       st.one_of(st.integers(-1, 5), st.just(2.5), st.just(True)), OPTIONS)
def test_build_model_arguments(name, activation, in_shape, num_classes, options):
    if name == "skip_bn_cnn":
        options = {k: v for k, v in options.items() if k in ("fc", "colour")}
    ok, model = attempt(build_model, name, activation, in_shape, num_classes, **options)
    if not ok:
        words = ["name", "activation", "in_shape", "num_classes", "invalid options", "depth", "width", "fc", "pool",
                 "inputs", "pixels"]
        assert any(w in str(model) for w in words), model
        return
    assert name in MODEL_NAMES
    with torch.no_grad():
        assert model(torch.zeros(2, *in_shape)).shape == (2, num_classes)


@fast(40)
@given(st.integers(1, 3), st.integers(4, 12), st.integers(4, 12), st.integers(2, 6), st.integers(1, 2),
       st.sampled_from(["relu", "spc:0.5", "gaussian:0.3", "leaky_relu:0.2"]), st.sampled_from(["max", "avg"]))
def test_build_model_valid_arguments_always_build(c, h, w, k, depth, activation, pool):
    model = build_model("simple_cnn", activation, (c, h, w), k, depth=depth, width=2, fc=4, pool=pool)
    with torch.no_grad():
        assert model(torch.zeros(1, c, h, w)).shape == (1, k)


# --------------------------------------------------------------------------------------------- params


def _numbers(minimum=None, maximum=None, integer=False):
    if integer:
        return st.integers(min_value=minimum, max_value=maximum)
    return st.floats(min_value=minimum, max_value=maximum, allow_nan=False, allow_infinity=False)


JUNK = st.one_of(st.none(), st.text(max_size=3), st.booleans(), st.just([]), st.just({"a": 1}),
                 st.just(float("nan")), st.just(float("inf")))
POS_INT = (st.integers(1, 10**6), st.one_of(st.integers(max_value=0), st.floats(0.5, 10), JUNK))
NONNEG_INT = (st.integers(0, 10**6), st.one_of(st.integers(max_value=-1), st.floats(0.5, 10), JUNK))
FRACTION = (st.one_of(st.floats(1e-9, 1.0), st.just(1)), st.one_of(st.floats(max_value=0.0), st.floats(1.0001, 1e9),
                                                                    st.integers(2, 9), JUNK))
POS_NUM = (st.one_of(st.floats(1e-9, 1e9), st.integers(1, 10)), st.one_of(st.floats(max_value=0.0), st.integers(-5, 0),
                                                                         JUNK))
NONNEG_NUM = (st.one_of(st.floats(0, 1e9), st.integers(0, 10)), st.one_of(st.floats(max_value=-1e-9), JUNK))
ACTIVATION = (st.sampled_from(["relu", "sp:0.5", "spc:1", "gaussian:0.2", "leaky_relu:0.1", 0.5]),
              st.sampled_from(["", "sp:-1", "foo", None, True, [1], "gaussian:nan"]))
TEXT = (st.text(min_size=1, max_size=5), st.one_of(st.just(""), st.integers(), st.none(), st.just(["a"])))
BOOL = (st.booleans(), st.one_of(st.integers(0, 1), st.text(max_size=2), st.none()))


def choice(options):
    return st.sampled_from(list(options)), st.one_of(st.text(max_size=4).filter(lambda s: s not in options),
                                                     st.integers(), st.none())


def opt(pair):
    return st.one_of(st.none(), pair[0]), pair[1].filter(lambda v: v is not None)


def list_of(pair):
    good, bad = pair
    return (st.lists(good, min_size=1, max_size=3),
            st.one_of(st.just([]), st.text(max_size=2), st.none(),
                      st.tuples(st.lists(good, max_size=2), bad).map(lambda t: t[0] + [t[1]])))


from spectral_lib.data import DATASETS
from spectral_lib.explain import METHODS

RULE_STRATEGIES = {
    "profile": TEXT, "cache_dir": opt(TEXT), "dataset": choice(DATASETS), "model": choice(MODEL_NAMES),
    "model_options": (st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                      st.one_of(st.lists(st.integers(), max_size=2), st.text(max_size=2), st.none())),
    "activations": list_of(ACTIVATION), "activation": ACTIVATION, "reference_activation": ACTIVATION,
    "seeds": list_of(NONNEG_INT), "seed": NONNEG_INT, "accuracy_cap": opt(FRACTION), "max_epochs": POS_INT,
    "lr": POS_NUM, "lr_gamma": FRACTION, "batch_size": POS_INT, "eval_every": opt(POS_INT), "n_images": POS_INT,
    "n_examples": POS_INT, "noise_std": NONNEG_NUM, "n_samples": POS_INT, "ig_steps": POS_INT,
    "methods": list_of(choice(METHODS)), "betas": list_of(POS_NUM), "depths": list_of(POS_INT),
    "image_sizes": list_of(POS_INT), "train_noise_stds": list_of(NONNEG_NUM), "train_blur_sigmas": list_of(NONNEG_NUM),
    "skip_bn": list_of(list_of(BOOL)), "width": POS_INT, "n_lines": POS_INT, "half_width": POS_NUM,
    "device": choice(("auto", "cpu", "cuda")), "augment": BOOL, "image_size": opt(POS_INT),
    "weight_decays": list_of(NONNEG_NUM), "pools": list_of(choice(("max", "avg"))), "theorem1_images": POS_INT,
    "theorem1_points": POS_INT, "n_train": opt(POS_INT), "train_missing": BOOL, "equal_epochs": POS_INT, "gap_images": POS_INT,
    "faithfulness_images": POS_INT, "jpeg_seeds": list_of(NONNEG_INT), "trajectory_seeds": list_of(NONNEG_INT),
    "slow_relu_lrs": list_of(POS_NUM),
}


def test_every_parameter_rule_has_a_strategy():
    assert set(RULE_STRATEGIES) == set(RULES)


@fast(150)
@given(st.lists(st.sampled_from(sorted(RULES)), min_size=1, max_size=6, unique=True), st.booleans(), st.data())
def test_check_params(names, break_one, data_):
    params = {n: data_.draw(RULE_STRATEGIES[n][0], label=n) for n in names}
    bad = None
    if break_one:
        bad = data_.draw(st.sampled_from(names), label="broken")
        params[bad] = data_.draw(RULE_STRATEGIES[bad][1], label=f"bad {bad}")
    ok, res = attempt(check_params, params)
    assert ok == (bad is None), (params, res)
    if ok:
        assert res == params
    else:
        assert isinstance(res, ParameterError) and f"'{bad}" in str(res)  # 'name' or 'name[i]'
    # names outside `allowed` are rejected, naming them
    err = raises_naming(check_params, [names[0]], params, allowed=set(names[1:]))
    assert isinstance(err, ParameterError)


TRAIN_FIELDS = {
    "dataset": choice(DATASETS), "model": choice(MODEL_NAMES), "activation": ACTIVATION,
    "model_options": (st.dictionaries(st.sampled_from(["width", "fc"]), st.integers(1, 8), max_size=2),
                      st.one_of(st.lists(st.integers(), max_size=1), st.none(), st.text(max_size=2))),
    "seed": NONNEG_INT, "lr": (POS_NUM[0], POS_NUM[1].filter(lambda v: not isinstance(v, list))),
    "lr_gamma": FRACTION, "batch_size": POS_INT, "max_epochs": POS_INT, "accuracy_cap": opt(FRACTION),
    "cap_split": choice(("test", "train")), "eval_every": opt(POS_INT), "weight_decay": NONNEG_NUM,
    "train_noise_std": NONNEG_NUM, "train_blur_sigma": NONNEG_NUM,
    "image_size": (st.one_of(st.none(), st.integers(4, 512)), st.one_of(st.integers(-2, 3), st.floats(4, 9), JUNK)
                   .filter(lambda v: v is not None)),
    "device": choice(("auto", "cpu", "cuda")),
}


@fast(120)
@given(st.lists(st.sampled_from(sorted(TRAIN_FIELDS)), min_size=1, max_size=5, unique=True), st.booleans(), st.data())
def test_train_config_validate(fields, break_one, data_):
    values = {f: data_.draw(TRAIN_FIELDS[f][0], label=f) for f in fields}
    bad = None
    if break_one:
        bad = data_.draw(st.sampled_from(fields), label="broken")
        values[bad] = data_.draw(TRAIN_FIELDS[bad][1], label=f"bad {bad}")
    if "eval_every" in values:  # eval_every belongs to the "steps" cap rule (the authors' rule checks epoch ends)
        values["cap_rule"] = "steps"
    cfg = TrainConfig(**values)
    ok, res = attempt(cfg.validate)
    assert ok == (bad is None), (values, res)
    if ok:
        assert res is cfg and isinstance(cfg.key(), str)
        assert cfg.key() == dataclasses.replace(cfg).key()
    else:
        words = [bad] + (["activation spec", "beta", "sigma"] if bad == "activation" else [])
        assert any(w in str(res) for w in words), (bad, res)


# --------------------------------------------------------------------------------------------- data


@fast(30)
@given(st.one_of(st.text(max_size=12), st.sampled_from(list(DATASETS)), st.none(), st.integers()),
       st.one_of(st.none(), st.integers(-1, 40), st.floats(1, 20), st.booleans()))
def test_data_load_names(name, image_size):
    if name in data.TORCHVISION or name in data.JPEG_COPY_NAMES:
        name = name.upper()  # never touch torchvision or the JPEG copies here: an unknown spelling instead
    if name in ("mnist5k", "lfw") + data.DEGRADED_NAMES:
        name = "digits"  # the cheapest embedded set
    ok, res = attempt(data.load, name, image_size=image_size)
    good_size = image_size is None or (isinstance(image_size, int) and not isinstance(image_size, bool)
                                       and image_size >= 4)
    assert ok == (name == "digits" and good_size), res
    if ok:
        side = image_size or 8
        assert res.info.in_shape == (1, side, side) and res.train.tensors[0].shape[1:] == (1, side, side)
    else:
        assert "name" in str(res) or "image_size" in str(res)
