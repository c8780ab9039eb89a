"""Lemma 1's tail without a window artefact: closed-form spectra of every activation, checked against a window-free
measurement (second differences, no window), window independence of the tail power against the windowed tail mass's
fall with the window, and the chapters' tail statements on hand-made tables."""
from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from scipy.integrate import quad

from spectral_lib.experiments import verdicts_lemma1 as vl
from spectral_lib.theory import activation_tail
from spectral_lib.theory.lemma1 import (activation_power, measure_power_1d_free, measured_tail_power, tail_band_ratio,
                                        tail_power)

FAMILIES = ["relu", "leaky_relu:0.1", "sp:5", "sp:1", "sp:0.3", "gaussian:0.3", "gaussian:1.8", "gelu", "silu", "elu",
            "tanh", "sigmoid"]


def _ideal(spec):
    """SP without nn.Softplus's threshold (above it the module returns x: a jump of about exp(-20)/beta)."""
    if spec.startswith("sp:"):
        b = float(spec[3:])
        return lambda x: torch.logaddexp(torch.zeros_like(x), b * x) / b
    from spectral_lib.nn import make_activation

    return make_activation(spec)


@pytest.mark.parametrize("spec", FAMILIES)
def test_closed_form_spectrum_matches_the_window_free_measurement(spec):
    """Each closed form of activation_power (derived in its docstring) against the second-difference FFT of the
    sampled activation, on omega in [0.5, 20] wherever the power is above double precision's reach."""
    omega, measured = measure_power_1d_free(_ideal(spec))
    sel = (omega > 0.5) & (omega < 20)
    exact = activation_power(spec, omega[sel])
    ok = exact > 1e-22
    assert ok.sum() > 20
    rel = ((measured[sel][ok] - exact[ok]).abs() / exact[ok]).max()
    assert rel < 3e-3, f"{spec}: largest relative difference {float(rel):.2e}"


def test_second_differences_of_relu_give_the_discrete_symbol_exactly():
    """ReLU's second difference is one sample of 1/h at the kink, so the measured power is (h/2)^4 / sin^4(omega h/2)
    to round-off: the method has no window and no approximation beyond sampling."""
    L, n = 50.0, 4096
    h = 2 * L / n
    omega, power = measure_power_1d_free(torch.relu, half_width=L, n_points=n)
    assert float(omega[1] - omega[0]) <= 0.02 + 1e-12  # zero-padded to the requested spacing
    expected = (h / 2) ** 4 / torch.sin(omega * h / 2).pow(4)
    assert torch.allclose(power, expected, rtol=1e-9)


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_tail_power_closed_forms_against_quadrature():
    for c in (0.5, 2.0, 5.0):
        assert tail_power("relu", c) == pytest.approx(1 / (3 * math.pi * c**3), rel=1e-12)
        assert tail_power("leaky_relu:0.0", c) == pytest.approx(tail_power("relu", c), rel=1e-7)  # by quadrature
        for spec in ("tanh", "sigmoid"):
            f = lambda w: float(activation_power(spec, torch.tensor([w]))[0])  # noqa: E731
            q = sum(quad(f, a, b, epsabs=0.0, epsrel=1e-11, limit=200)[0]
                    for a, b in ((c, c + 1), (c + 1, c + 10), (c + 10, math.inf)))
            assert tail_power(spec, c) == pytest.approx(q / math.pi, rel=1e-7)
    assert tail_power("leaky_relu:0.1", 2.0) == pytest.approx(0.81 * tail_power("relu", 2.0), rel=1e-7)


@pytest.mark.parametrize("spec", ["relu", "tanh", "sigmoid", "gelu", "elu", "silu", "gaussian:0.3", "sp:5"])
def test_window_free_tail_does_not_depend_on_the_range(spec):
    """The measured tail power is the closed form's at every half-width (within 1%), where the windowed tail mass
    moves by a large factor."""
    exact = tail_power(spec, 2.0)
    for L in (25.0, 50.0, 100.0, 200.0):
        assert measured_tail_power(spec, 2.0, half_width=L, n_points=2**17) == pytest.approx(exact, rel=1e-2)
    windowed = [activation_tail(spec, 2.0, half_width=L) for L in (25.0, 200.0)]
    if spec in ("relu", "tanh", "sigmoid"):
        assert windowed[0] / windowed[1] > 10  # the artefact the window-free measure removes


def test_tail_power_orders_smoothing_and_reaches_its_limits():
    sp = [tail_power(f"sp:{b}", 2.0) for b in (0.3, 1.0, 5.0, 50.0)]
    assert all(a < b for a, b in zip(sp, sp[1:])) and sp[-1] < tail_power("relu", 2.0)
    assert tail_power("sp:1000", 2.0) == pytest.approx(tail_power("relu", 2.0), rel=1e-3)
    assert tail_power("gaussian:0.001", 2.0) == pytest.approx(tail_power("relu", 2.0), rel=1e-3)
    assert tail_power("spc:1", 2.0) == tail_power("sp:1", 2.0)  # an offset changes only omega = 0
    assert tail_band_ratio("relu", 2.0, 0.5) == pytest.approx((0.5 / 2.0) ** 3)
    assert tail_band_ratio("sp:0.3", 2.0, 0.5) < tail_band_ratio("sp:1", 2.0, 0.5) < tail_band_ratio("relu", 2.0, 0.5)


def test_tail_measures_validate():
    with pytest.raises(ValueError, match="cutoff"):
        tail_power("relu", 0.0)
    with pytest.raises(ValueError, match="reference"):
        tail_band_ratio("relu", 2.0, 2.0)
    with pytest.raises(ValueError, match="no closed form"):
        activation_power(lambda: torch.nn.Hardtanh(), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="half_width"):
        measure_power_1d_free(torch.relu, half_width=0)
    with pytest.raises(ValueError, match="shape"):
        measure_power_1d_free(lambda x: x[:-1])
    with pytest.raises(ValueError, match="highest measured frequency"):
        measured_tail_power("relu", 1e6)


# ------------------------------------------------------------------------------------------- statements
def test_window_table_and_sentences():
    t = vl.window_table(["relu", "tanh", "sp:1"], 2.0, [25.0, 100.0, 200.0])
    assert list(t.index) == ["ReLU", "Tanh", "SP(1)"]
    assert t.loc["ReLU", vl.POWER] == pytest.approx(1 / (3 * math.pi * 8))
    text = vl.window_sentences(t, [25.0, 100.0, 200.0])
    assert "From L = 25 to L = 200" in text and "ReLU 0.00058 → 1e-06" in text
    assert "(∝ L^-3.1)" in text  # about L^-3, as the module docstring derives
    assert "stays within 2% of its closed form from L = 25 for ReLU, Tanh, SP(1)" in text
    slow = vl.window_sentences(vl.window_table(["sp:0.3"], 2.0, [25.0, 100.0, 200.0]), [25.0, 100.0, 200.0])
    assert "at the round-off floor" in slow and "from L = 100 for SP(0.3)" in slow  # needs [-L, L] to hold phi"
    assert "same at every window here but not the window-free order (SP(1), Tanh, ReLU)" in text
    moving = vl.window_sentences(vl.window_table(["relu", "tanh", "sigmoid"], 0.5, [10.0, 200.0]), [10.0, 200.0])
    assert "depends on the window" in moving
    same = vl.window_sentences(vl.window_table(["relu", "sp:1"], 2.0, [25.0, 100.0]), [25.0, 100.0])
    assert "the same at every window and without one" in same
    assert vl.window_sentences(t.iloc[:0], [25.0]) == "No activation to measure."
    with pytest.raises(ValueError, match="half_widths"):
        vl.window_table(["relu"], 2.0, [])


def test_lemma1_sentence_branches():
    acts = pd.DataFrame({"activation": ["SP(0.3)", "SP(1)", "ReLU"], "beta": [0.3, 1.0, math.inf],
                         "tail": [1e-9, 1e-5, 1e-3]})
    good = vl.lemma1_sentence(-4.0, 0.01, (2, 20), acts, acts, 5.0)
    assert "slope of -4.00" in good and "increases monotonically with β and stays below ReLU's" in good
    bad = acts.assign(tail=[1e-5, 1e-9, 1e-3])
    assert "is not monotone in β" in vl.lemma1_sentence(-4.0, 0.01, (2, 20), bad, acts, 5.0)
    above = acts.assign(tail=[1e-9, 1e-2, 1e-3])
    assert "does not stay below ReLU's" in vl.lemma1_sentence(-4.0, 0.01, (2, 20), above, acts, 5.0)
    assert "cannot be ordered" in vl.lemma1_sentence(-4.0, 0.01, (2, 20), acts.iloc[:1], acts, 5.0)
    floor = acts.assign(tail=[1e-17, 1e-16, 1e-3])  # both SP masses are round-off
    text = vl.lemma1_sentence(-4.0, 0.01, (2, 20), floor, acts, 5.0)
    assert "SP(0.3), SP(1) at the round-off floor, tied" in text and "increases monotonically" in text


def _rec(spec, seed, ef, epochs):
    from spectral_lib.nn import activation_name

    return {"activation": activation_name(spec), "beta": math.nan, "seed": seed, "config": {"activation": spec},
            "train": {"test_accuracy": 0.91, "epochs": epochs, "cap_reached": True},
            "ef": {"vanilla_grad": torch.tensor(ef, dtype=torch.float64) * 1e-5}}


def test_tail_measures_table_and_ranking_sentences():
    recs = [_rec("relu", 0, [20.0, 22.0], 2), _rec("relu", 1, [21.0, 21.0], 3), _rec("tanh", 0, [19.0], 6),
            _rec("sp:1", 0, [14.0, float("nan")], 9), _rec("sp:0.3", 0, [11.0], 19), _rec("sigmoid", 0, [15.0], 15)]
    t = vl.tail_measures_table(recs, 2.0, [25.0, 200.0], 0.5)
    assert list(t.index) == ["SP(0.3)", "SP(1)", "Sigmoid", "Tanh", "ReLU"]  # lightest window-free tail first
    assert t.loc["ReLU", "networks"] == 2 and t.loc["ReLU", "EF mean"] == pytest.approx(21.0)
    assert t.loc["SP(1)", "EF mean"] == pytest.approx(14.0) and math.isnan(t.loc["Tanh", "EF std"])
    assert t.loc["ReLU", vl.RATIO] == pytest.approx(1 / 64)
    text = vl.tail_ranking_sentences(t, [25.0, 200.0], 2.0)
    assert "Over the 5 activations" in text and "(n = 5" in text
    assert "* tail power (closed form): ρ = +1.00 (n = 5" in text  # EF follows the window-free tail here
    assert "windowed mass L=25" in text and "not lighter-tailed than ReLU: Tanh" in text
    assert "Training length:" in text and "given epochs" in text
    assert "Too few activations" in vl.tail_ranking_sentences(t.iloc[:1], [25.0], 2.0)
    assert len(vl.tail_measures_table([], 2.0, [25.0], 0.5)) == 0
