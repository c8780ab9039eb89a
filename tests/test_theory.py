"""Lemma 1's analytic spectra, their FFT measurement, tail ordering, and correlated inputs for Theorem 1."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from spectral_lib import theory
from spectral_lib.spectral import tail_exponent
from spectral_lib.nn import SP, GaussianReLU, beta_to_sigma
from spectral_lib.theory import (correlated_images, gaussian_relu_power, measure_power_1d, relu_power, softplus_power, tail_mass)

L, N = 100.0, 8192  # measure_power_1d's defaults
DX = 2 * L / N
WINDOW_FREQ_STD = 6.0 / L  # std (rad) of the Gaussian window's spectrum


def _sampling_factor(omega: torch.Tensor) -> torch.Tensor:
    """Sampling folds a kink's omega^-4 tail onto itself: the DFT of a sampled ReLU has power
    omega^-4 * ((omega dx / 2) / sin(omega dx / 2))^4 (sum over aliases of 1 / (omega + 2 pi k / dx)^2)."""
    a = omega * DX / 2
    return (a / torch.sin(a)) ** 4


def test_softplus_power_tends_to_relu_power():
    omega = torch.logspace(-1, 1.5, 40, dtype=torch.float64)
    prev = None
    for beta in (1.0, 10.0, 100.0, 1e3, 1e4):
        rel = (softplus_power(omega, beta) / relu_power(omega) - 1).abs().max()
        # (a / sinh a)^2 = 1 - a^2 / 3 + O(a^4), a = pi omega / beta
        a = math.pi * float(omega.max()) / beta
        if a < 0.1:
            assert float(rel) == pytest.approx(a * a / 3, rel=0.02)
        if prev is not None:
            assert rel < prev
        prev = rel
    assert float(prev) < 1e-4
    # and always below it: smoothing only removes power
    assert bool((softplus_power(omega, 2.0) < relu_power(omega)).all())


def test_gaussian_relu_power_tends_to_relu_power_and_orders_with_sigma():
    omega = torch.linspace(0.5, 20, 50, dtype=torch.float64)
    assert torch.allclose(gaussian_relu_power(omega, 1e-6), relu_power(omega), rtol=1e-9)
    p = torch.stack([gaussian_relu_power(omega, s) for s in (0.1, 0.3, 1.0)])
    assert bool((p[1:] < p[:-1]).all())


def test_softplus_power_is_stable_for_large_and_small_omega():
    omega = torch.tensor([1e-8, 1e-3, 1.0, 1e3, 1e6], dtype=torch.float64)
    p = softplus_power(omega, 0.1)
    assert bool(torch.isfinite(p).all()) and bool((p >= 0).all())
    assert float(p[0] * omega[0] ** 4) == pytest.approx(1.0, rel=1e-9)  # ReLU's value at low frequency


def test_measured_relu_power_is_omega_to_the_minus_4():
    omega, power = measure_power_1d(torch.relu)
    assert omega.shape == power.shape == (N // 2,)
    mid = (omega >= 1) & (omega <= 10)
    ratio = power[mid] / relu_power(omega[mid])
    assert float((ratio - 1).abs().max()) < 0.03
    # with the sampling (aliasing) factor, the law holds up to 100 rad, near Nyquist (128 rad)
    wide = (omega >= 1) & (omega <= 100)
    ratio = power[wide] / (relu_power(omega[wide]) * _sampling_factor(omega[wide]))
    assert float((ratio - 1).abs().max()) < 0.03
    # a fitted slope is -4
    fit = (omega >= 1) & (omega <= 10)
    slope = tail_exponent(power[fit], (0.0, 1.0), frequencies=omega[fit])
    assert float(slope) == pytest.approx(-4.0, abs=0.05)


@pytest.mark.parametrize("beta", [1.0, 2.0, 5.0])
def test_measured_softplus_matches_analytic_within_window_bias(beta):
    omega, power = measure_power_1d(SP(beta))
    _, relu_measured = measure_power_1d(torch.relu)
    analytic = softplus_power(omega, beta)
    sel = (omega >= 1) & (omega <= 6) & (analytic > 1e-9)  # above the measurement's floor (see theory's docstring)
    assert int(sel.sum()) > 20
    # the documented window bias on an exponential tail: power x exp((a * 6/L)^2 / 4), a = 2 pi / beta
    bias = math.exp((2 * math.pi / beta * WINDOW_FREQ_STD) ** 2 / 4)
    # divided by what the same measurement does to ReLU's power law (low-frequency window effect and sampling)
    ratio = power[sel] / analytic[sel] / (relu_measured[sel] / relu_power(omega[sel]))
    assert float((ratio / bias - 1).abs().max()) < 0.01
    # plainly: the measurement overestimates (window smoothing adds power to a decaying tail), by a few percent
    plain = power[sel] / analytic[sel]
    assert float(plain.min()) > 0.999 and float(plain.max()) < 1.08


def test_measured_gaussian_relu_matches_analytic():
    sigma = beta_to_sigma(4.0)
    omega, power = measure_power_1d(GaussianReLU(sigma))
    analytic = gaussian_relu_power(omega, sigma)
    sel = (omega >= 1) & (omega <= 6) & (analytic > 1e-9)
    # a Gaussian tail amplitude exp(-s^2 w^2 / 2) under a window of frequency std d is multiplied by
    # exp(s^4 d^2 w^2 / (2 (1 + s^2 d^2)))-ish; at these widths that is within 2%
    ratio = power[sel] / analytic[sel]
    assert float((ratio - 1).abs().max()) < 0.05


def test_lower_beta_means_less_tail_mass():
    cutoff = 2.0
    masses = []
    for act in (SP(0.5), SP(1.0), SP(2.0), SP(5.0), torch.nn.ReLU()):
        omega, power = measure_power_1d(act)
        masses.append(float(tail_mass(omega, power, cutoff)))
    assert all(a < b for a, b in zip(masses, masses[1:])), masses
    # the same ordering analytically
    omega = torch.linspace(0.05, 60, 4000, dtype=torch.float64)
    analytic = [float(tail_mass(omega, softplus_power(omega, b), cutoff)) for b in (0.5, 1.0, 2.0, 5.0)]
    analytic.append(float(tail_mass(omega, relu_power(omega), cutoff)))
    assert all(a < b for a, b in zip(analytic, analytic[1:])), analytic


def test_measure_power_1d_validates():
    with pytest.raises(ValueError, match="half_width"):
        measure_power_1d(torch.relu, half_width=0)
    with pytest.raises(ValueError, match="n_points"):
        measure_power_1d(torch.relu, n_points=8)
    with pytest.raises(ValueError, match="shape"):
        measure_power_1d(lambda x: x[:-1])


@pytest.mark.parametrize("corr_length", [1.0, 2.0, 3.0])
def test_correlated_images_have_the_requested_correlation_length(corr_length):
    x = correlated_images(64, 32, corr_length, seed=0).double()
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.float64
    assert torch.allclose(x.mean(dim=(2, 3)), torch.zeros(64, 1, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(2, 3)), torch.ones(64, 1, dtype=torch.float64), atol=1e-5)
    # white noise filtered by a Gaussian of std l has correlation exp(-d^2 / (4 l^2)) at lag d (periodic field)
    for lag in (1, 2):
        emp = 0.5 * ((x * torch.roll(x, lag, dims=2)).mean() + (x * torch.roll(x, lag, dims=3)).mean())
        assert float(emp) == pytest.approx(math.exp(-lag**2 / (4 * corr_length**2)), abs=0.04)


def test_lag1_correlation_increases_with_corr_length():
    lag1 = []
    for ell in (0.5, 1.0, 1.5, 2.5, 4.0):
        x = correlated_images(32, 32, ell, seed=1).double()
        lag1.append(float((x * torch.roll(x, 1, dims=3)).mean()))
    assert all(a < b for a, b in zip(lag1, lag1[1:])), lag1


def test_random_mlp_and_theorem1_summary_run():
    mlp = theory.random_mlp(3, 16, "sp:1", depth=2, seed=0)
    assert mlp(torch.randn(5, 3, dtype=torch.float64)).shape == (5, 1)
    torch.manual_seed(0)
    from spectral_lib.nn import build_model

    model = build_model("simple_cnn", "relu", (1, 16, 16), 3, width=4, fc=16).eval()
    x = correlated_images(4, 16, 2.0, seed=0)
    out = theory.theorem1_summary(model, x, n_points=64)
    assert set(out) == {"line_tail_slope", "line_tail_mass", "line_floor_mass", "line_window_mass", "line_dtype",
                        "grad_tail_slope", "grad_ef", "grad_ef_nyquist"}
    assert out["line_dtype"] == ("float32" if theory.tail_mass_resolved(out["line_tail_mass"], out["line_floor_mass"])
                                 else "float64")  # float64 only where float32 did not resolve the tail
    assert all(math.isfinite(v) for k, v in out.items() if k != "line_dtype")
    assert 0 < out["line_tail_mass"] < 1 and 0 < out["grad_ef_nyquist"] <= 0.5


# --- Theorem 1's line spectra: chunked evaluation and per-image targets (issue "Theorem 1 numerics") ---


def _tiny_cnn_and_images(n: int = 20):
    """A depth-1 simple CNN (float64, so that batch composition does not change the values beyond ~1e-15) and n
    correlated 16x16 images whose predicted classes differ between images."""
    from spectral_lib.nn import build_model

    torch.manual_seed(0)
    model = build_model("simple_cnn", "relu", (1, 16, 16), 10, depth=1).double().eval()
    x = correlated_images(n, 16, 2.0, seed=0).double()
    return model, x


def _reference_line_power(score, x, half_width, n_points, seed=0):
    """Independent per-image loop: image i's line ``x_i + t v_i`` (directions drawn as documented: one Gaussian
    tensor of x's shape from a generator seeded with ``seed``, each row normalised), scored by ``score(i, points)``
    -> (n_points,), mean removed, Gaussian window of std half_width / 6, |rfft|^2 dt^2 without the DC bin."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=g).to(x)
    v = v / v.flatten(1).norm(dim=1).view(-1, *[1] * (x.ndim - 1))
    t = torch.linspace(-half_width, half_width, n_points + 1, dtype=x.dtype)[:-1]
    rows = []
    with torch.no_grad():
        for i in range(len(x)):
            rows.append(score(i, x[i] + t.view(-1, *[1] * (x.ndim - 1)) * v[i]).double())
    vals = torch.stack(rows)
    vals = vals - vals.mean(1, keepdim=True)
    dt = 2 * half_width / n_points
    window = torch.exp(-0.5 * (t.double() / (half_width / 6)) ** 2)
    spec = torch.fft.rfft(vals * window, dim=1) * dt
    return (spec.real.square() + spec.imag.square())[:, 1 : n_points // 2 + 1]


def _line_numbers(omega, power):
    """theorem1_summary's two line numbers from (N, K) line power."""
    mean_line = power.mean(0)
    return (float(tail_exponent(mean_line, (0.25, 1.0), frequencies=omega)),
            float(tail_mass(omega, mean_line, float(omega.max()) / 4)))


def test_line_power_spectrum_passes_global_image_index_and_matches_per_image_loop():
    model, x = _tiny_cnn_and_images(20)
    target = model(x).argmax(1)
    assert len(set(target.tolist())) >= 2  # otherwise a target mix-up would go unnoticed

    def score(i, pts):
        return torch.log_softmax(model(pts), 1)[:, int(target[i])]

    ref = _reference_line_power(score, x, 3.0, 512)
    seen = []

    def fn(pts, image_index):
        assert len(pts) <= batch_size and image_index.shape == (len(pts),) and image_index.dtype == torch.int64
        seen.append(image_index)
        return torch.log_softmax(model(pts), 1).gather(1, target[image_index][:, None]).squeeze(1)

    # 8192: two chunks of 16 images (the old chunk-local index bug); 1536: 3 images a chunk; 700 / 300: chunks that
    # cut lines in the middle; all must equal the per-image loop
    for batch_size in (8192, 1536, 700, 300):
        seen.clear()
        omega, power = theory.line_power_spectrum(fn, x, half_width=3.0, n_points=512, batch_size=batch_size,
                                                  pass_index=True)
        assert omega.shape == (256,) and power.shape == (20, 256)
        assert torch.equal(torch.cat(seen), torch.arange(20 * 512) // 512)  # the global image of every point
        assert len(seen) == math.ceil(20 * 512 / batch_size)
        assert torch.allclose(power, ref, rtol=1e-7, atol=0)


def test_line_power_spectrum_chunked_points_equal_the_full_stack():
    # the points handed to fn, chunk by chunk, are bitwise the old all-at-once (N, T, ...) stack, for any batch size
    x = correlated_images(5, 8, 1.5, channels=2, seed=3)
    n_points = 32
    g = torch.Generator().manual_seed(7)
    v = torch.randn(x.shape, generator=g)
    v = v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    t = torch.linspace(-2.0, 2.0, n_points + 1)[:-1]
    full = (x[:, None] + t.view(1, -1, 1, 1, 1) * v[:, None]).reshape(-1, *x.shape[1:])
    w = torch.randn(x[0].numel(), generator=torch.Generator().manual_seed(1))

    def fn(pts):  # a row-wise function (no matmul, whose rounding may depend on the batch shape)
        got.append(pts.clone())
        return (pts.double().flatten(1) * w.double()).sum(1).abs()

    results = []
    for batch_size in (1000, 64, 50, 7):
        got = []
        omega, power = theory.line_power_spectrum(fn, x, half_width=2.0, n_points=n_points, seed=7,
                                                  batch_size=batch_size)
        assert max(len(p) for p in got) <= batch_size
        assert torch.equal(torch.cat(got), full)
        results.append(power)
    for p in results[1:]:
        assert torch.equal(p, results[0])


def test_line_power_spectrum_validates_batch_size_and_fn_output():
    x = correlated_images(2, 8, 1.0)
    with pytest.raises(ValueError, match="batch_size"):
        theory.line_power_spectrum(lambda p: p.sum((1, 2, 3)), x, n_points=16, batch_size=0)
    with pytest.raises(ValueError, match="fn must return"):
        theory.line_power_spectrum(lambda p: p.sum((1, 2, 3))[:-1], x, n_points=16)


def test_theorem1_summary_scores_every_line_with_its_own_images_target():
    # 20 images > 16 = 8192 // 512: with the default batch size the second chunk holds images 16..19, which the old
    # chunk-local index scored with the targets of images 0..3
    from spectral_lib.explain import predict

    model, x = _tiny_cnn_and_images(20)
    target = predict(model, x)
    assert len(set(target.tolist())) >= 2
    assert not torch.equal(target[16:], target[:4])  # so the old mix-up changes the numbers

    def spectrum_with(targets):
        power = _reference_line_power(lambda i, pts: torch.log_softmax(model(pts), 1)[:, int(targets[i])],
                                      x, 3.0, 512)
        omega = 2 * math.pi * torch.fft.rfftfreq(512, d=6.0 / 512, dtype=torch.float64)[1:257]
        return _line_numbers(omega, power)

    right = spectrum_with(target)
    wrong = spectrum_with(target[torch.arange(20) % 16])  # what the old code computed
    # the test can tell them apart: the mix-up moves the numbers far more than the tolerance below
    assert abs(wrong[1] / right[1] - 1) > 1e-3 or abs(wrong[0] - right[0]) > 1e-3
    out = theory.theorem1_summary(model, x)  # the default batch size: the old code failed here
    assert out["line_tail_slope"] == pytest.approx(right[0], rel=1e-7)
    assert out["line_tail_mass"] == pytest.approx(right[1], rel=1e-7)
    # several chunks, some cutting a line in two: the same numbers (the gradient side does not use batch_size)
    out_small = theory.theorem1_summary(model, x, batch_size=1000)
    assert out_small == pytest.approx(out, rel=1e-7)


# --- Theorem 1's line spectra: the measurement floor (float32 rounding, the window's leakage) ---


def _line_net(activation: str, pool: str):
    from spectral_lib.nn import build_model

    torch.manual_seed(0)
    return build_model("simple_cnn", activation, (1, 16, 16), 10, depth=1, pool=pool).eval()


def test_line_floor_mass_holds_the_rounding_noise_of_a_smooth_float32_network():
    """A smooth network (SP, average pooling) has a line tail far below float32's rounding noise: its float64 tail
    mass is orders of magnitude under the float32 one, and the float32 mass is the noise's: the tail share of
    (float32 - float64) over all 16 lines, measured here independently through line_power_spectrum. The summary's
    floor, from one line, is at least about that (it is meant to err high), so the mass is not resolved. A kinked
    network (ReLU, max-pool) stands clear of its floor, and float32 and float64 then agree. Float64 inputs have no
    rounding noise to estimate: their floor is the window's leakage alone."""
    from spectral_lib.explain import predict

    x = correlated_images(16, 16, 2.0, seed=0)
    smooth = _line_net("sp:1", "avg")
    s32 = theory.theorem1_summary(smooth, x, n_points=256, precision="as_given")
    assert s32["line_dtype"] == "float32"
    smooth64 = copy.deepcopy(smooth).double()
    s64 = theory.theorem1_summary(smooth64, x.double(), n_points=256)
    assert s64["line_dtype"] == "float64" and s64["line_floor_mass"] == s64["line_window_mass"] > 0
    assert s64["line_tail_mass"] < s32["line_tail_mass"] / 1e3  # float32 measures noise, not the network
    target = predict(smooth, x)

    def score(net, pts, idx):
        return torch.log_softmax(net(pts), 1).gather(1, target[idx][:, None]).squeeze(1)

    omega, signal = theory.line_power_spectrum(lambda p, i: score(smooth, p, i), x, n_points=256, pass_index=True)
    _, noise = theory.line_power_spectrum(
        lambda p, i: score(smooth, p, i).double() - score(smooth64, p.double(), i), x, n_points=256, pass_index=True)
    tail = omega > omega.max() / 4
    all_lines_floor = float(noise[:, tail].sum(-1).mean() / signal.sum(-1).mean())
    assert 0.5 < s32["line_tail_mass"] / all_lines_floor < 2  # the float32 tail is the noise's
    assert s32["line_floor_mass"] > 0.5 * all_lines_floor
    assert not theory.tail_mass_resolved(s32["line_tail_mass"], s32["line_floor_mass"])
    kinked = _line_net("relu", "max")
    k32 = theory.theorem1_summary(kinked, x, n_points=256)
    k64 = theory.theorem1_summary(kinked.double(), x.double(), n_points=256)
    assert theory.tail_mass_resolved(k32["line_tail_mass"], k32["line_floor_mass"])
    assert k32["line_tail_mass"] == pytest.approx(k64["line_tail_mass"], rel=0.1)


def test_an_unresolved_float32_line_tail_is_measured_again_in_float64():
    """precision="auto" (the default): the smooth network's float32 tail is unresolved, so its line side is the
    float64 copy's on the same lines (equal to measuring the float64 copy directly), while its gradient side stays
    float32's; the kinked network is resolved in float32 and is not measured again. 300 points a line: positions
    that float32 cannot hold exactly, so the float64 pass must make its own (widened float32 positions are unevenly
    spaced and measured 3e-15, five times the float64 network's tail). Bad precision: a clear error."""
    x = correlated_images(16, 16, 2.0, seed=0)
    smooth = _line_net("sp:1", "avg")
    auto = theory.theorem1_summary(smooth, x, n_points=300)
    given = theory.theorem1_summary(smooth, x, n_points=300, precision="as_given")
    s64 = theory.theorem1_summary(copy.deepcopy(smooth).double(), x.double(), n_points=300)
    assert given["line_dtype"] == "float32"
    assert not theory.tail_mass_resolved(given["line_tail_mass"], given["line_floor_mass"])  # why it is measured again
    assert auto["line_dtype"] == "float64"
    for k in ("line_tail_mass", "line_tail_slope", "line_floor_mass", "line_window_mass"):
        # the same lines up to float32's rounding of the directions and positions (auto keeps float32's exactly)
        assert auto[k] == pytest.approx(s64[k], rel=1e-5), k
    for k in ("grad_tail_slope", "grad_ef", "grad_ef_nyquist"):
        assert auto[k] == given[k], k
    kinked = _line_net("relu", "max")
    assert theory.theorem1_summary(kinked, x, n_points=256) == theory.theorem1_summary(kinked, x, n_points=256,
                                                                                       precision="as_given")
    with pytest.raises(ValueError, match="precision"):
        theory.theorem1_summary(kinked, x, n_points=256, precision="double")


def test_window_floor_is_what_a_function_without_a_tail_measures():
    """The window's leakage: a straight line along every direction (f = the pixel sum, linear in t) has no tail, so
    its whole measured line tail mass is leakage, and the summary's window floor estimates it exactly (the estimate
    is the windowed straight line through each line's ends); for curved smooth lines it is the measured tail within
    a factor 1.5. window_leakage gives the straight line's for f(t) = t, and a smooth float64 network's tail mass is within a
    factor 2 of its window floor (so it is not resolved)."""
    from spectral_lib.theory.theorem1 import _line_positions, _line_spectrum, _window_floor

    x = correlated_images(8, 16, 2.0, seed=0).double()
    omega, power = theory.line_power_spectrum(lambda p: p.sum(dim=(1, 2, 3)), x, n_points=256)
    mass = float(theory.tail_mass(omega, power.mean(0), float(omega.max()) / 4))
    t = _line_positions(x, 3.0, 256)
    v = torch.randn(8, 1, 1, 1, dtype=torch.float64)
    vals = 2.0 + v.flatten()[:, None] * t[None]  # the same lines as values: a + b t per line
    om, pw = _line_spectrum(vals, t, 3.0)
    assert _window_floor(vals, t, 3.0, om, pw) == pytest.approx(
        float(theory.tail_mass(om, pw.mean(0), float(om.max()) / 4)), rel=1e-9)
    assert theory.window_leakage(3.0, 256) == pytest.approx(mass, rel=1e-6)  # a straight line, any slope
    # curved but smooth lines (no tail of their own above the leakage): the estimate from the two ends is the
    # measured tail mass within a factor 1.5 (measured: t^2 1.07, tanh 1.01, sin 1.30, exp 0.99, t^3 0.98), well
    # inside the factor 10 by which a mass must clear its floor
    for f in (lambda s: s ** 2, lambda s: torch.tanh(2 * s), lambda s: torch.sin(s), lambda s: torch.exp(s / 2),
              lambda s: s ** 3):
        curved = f(t)[None].repeat(3, 1) + torch.arange(3.0, dtype=torch.float64)[:, None]
        om, pw = _line_spectrum(curved, t, 3.0)
        measured = float(theory.tail_mass(om, pw.mean(0), float(om.max()) / 4))
        assert 1 / 1.5 < _window_floor(curved, t, 3.0, om, pw) / measured < 1.5
    assert 1e-17 < theory.window_leakage() < 1e-14
    smooth64 = copy.deepcopy(_line_net("sp:1", "avg")).double()
    s64 = theory.theorem1_summary(smooth64, x, n_points=256)
    assert 0.5 < s64["line_tail_mass"] / s64["line_window_mass"] < 2
    assert not theory.tail_mass_resolved(s64["line_tail_mass"], s64["line_floor_mass"])
    with pytest.raises(ValueError, match="n_points"):
        theory.window_leakage(3.0, 4)
