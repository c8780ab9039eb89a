"""The scorecard's rows (:mod:`spectral_lib.experiments.scorecard`), one function per claim, each reading the CSV
tables its chapter saved (``tables/<stem>/<name>.csv``). :data:`NEEDS` says, per row, the table and columns it reads;
a row whose table is absent says "not computed in this build" and names them.

Per-network tables (one row per trained network) use the columns of ``cifar10_ef_vs_beta.csv``: ``activation, beta,
lr, seed, epochs, test_accuracy, cap_reached, ef_paper, ef_nyquist`` (``beta`` = inf for ReLU); only networks that
reached the accuracy cap are used, as the authors' code uses them. Intervals are 95% percentile bootstraps (seeded)
over the networks (seeds) of each group, or over settings where a row pools settings (it says so).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np

from .scorecard import (CANNOT_TELL, Build, Row, correlation_row, correlation_verdict, interval_row,
                        interval_verdict, not_computed)
from .scorecard_tables import _boot_rhos, _col, _geomean_ratio_over_settings, networks, rho_over_seeds
from ..theory import LINE_FLOOR_FACTOR
from .stats import Interval, bootstrap_ratio_ci, spearman_test
from .verdicts_theorem1 import MOSTLY_TIED, floor_status, mostly_tied, ranked_tail_mass

__all__ = ["ROWS", "NEEDS", "networks", "rho_over_seeds"]

NETWORK_COLUMNS = "activation, beta, seed, cap_reached, ef_paper (one row per network)"
NEEDS = {
    "lemma1": "02_lemma1/activation_tail_mass.csv: activation, beta, 'tail mass ...' (first such column)",
    "theorem1": "03_theorem1/theorem1_networks.csv: pool, activation, beta, seed, 'log10 line tail mass', "
                "'grad EF x1e5' (and 'log10 line floor mass', the measurement floor)",
    "ef_beta_mnist": f"04_ef_vs_beta/ef_vs_beta_networks.csv: {NETWORK_COLUMNS}",
    "ef_beta_cifar": f"07_cifar10/cifar10_ef_vs_beta.csv: {NETWORK_COLUMNS}",
    "gap": "05_explanation_gap/gap_networks.csv (or faithfulness.csv): activation, beta, seed, method, ef_paper, "
           "delta_ef (one row per network x method; delta_ef = |mean EF(method) - mean EF(VanillaGrad)| over that "
           "network's images)",
    "ablations": "06_ablations/ablations.csv: the wide table (axis, value) x ('SP / ReLU', 'EF x1e5 SP(...)')",
    "training_length": f"04_ef_vs_beta/training_length_control.csv: {NETWORK_COLUMNS}, lr (slow ReLU = ReLU rows "
                       f"with a learning rate below the largest ReLU learning rate)",
    "faithfulness": "05_explanation_gap/faithfulness.csv: activation, method, delta_ef and a Quantus "
                    "FaithfulnessCorrelation or RegionPerturbation (higher: more faithful), or Infidelity or "
                    "PixelFlipping (lower: more faithful) column",
    "spatial": "09_spatial_correlation/theorem1_per_condition.csv: (arm,) condition, activation, beta, seed, "
               "grad_ef (x1e5)",
    "width": "10_width_and_size/width_training_and_ef.csv: width, activation, seed, 'EF x1e5'",
    "size": "10_width_and_size/size_ef.csv: size, activation, 'EF x1e5'",
    "smoothings": "11_smooth_alternatives/activation_tail_vs_ef.csv: activation, 'tail power (closed form)' (or "
                  "a 'windowed mass' column), 'EF mean'",
    "penalty": "12_spectral_penalty/networks.csv: setting, family ('ReLU', 'penalty', 'SP'), penalty, seed, EF "
               "(one row per network that reached the cap)",
}
ROWS: list[Callable[[Build], Row]] = []


def row(label: str, claim: str, source: str, chapter: str, kind: str = "paper"):
    """Register a row function ``fn(build, base) -> Row`` (``base``: the row's fixed fields)."""
    def wrap(fn):
        meta = {"label": label, "claim": claim, "source": source, "chapter": chapter, "kind": kind}

        def run(build: Build) -> Row:
            return fn(build, {**meta, "dataset": build.dataset(chapter)})

        run.__name__ = fn.__name__
        run.meta = {**meta, "dataset": ""}
        ROWS.append(run)
        return run
    return wrap


# ------------------------------------------------------------------------------------------- the paper's claims
@row("Lemma 1",
     "Lemma 1: smoothing ReLU lightens the tail of the activation's power spectrum (SP(β)'s tail mass falls as β "
     "falls; ReLU's is the heaviest)", "the third-party summary", "02_lemma1")
def lemma1(build: Build, base: dict) -> Row:
    df = build.table("02_lemma1", "activation_tail_mass")
    if df is None:
        return not_computed(base, NEEDS["lemma1"])
    tail = _col(df, "tail mass", prefix=True)
    d = df[["beta", tail]].astype(float).sort_values("beta")
    t = spearman_test(d["beta"], d[tail])
    floor = 1e-14  # below: round-off of the measurement (double precision), no ordering information
    pairs = [(a, b) for a, b in zip(d[tail][:-1], d[tail][1:]) if max(a, b) > floor]
    if len(pairs) == 0 or len(d) < 2:
        verdict = CANNOT_TELL
    else:
        verdict = "reproduced" if all(b > a for a, b in pairs) else "not reproduced"
    return Row(**base, measure=f"Spearman ρ(β, measured tail mass) over the activations ({tail}); an exact "
               f"computation: the verdict asks for every pair of neighbouring β to be ordered",
               value=t["rho"], n=t["n"], verdict=verdict,
               detail="Deterministic (no seeds, no interval): tail masses below 1e-14 are round-off and order "
                      "nothing.")


def _theorem1(build: Build, base: dict, pool: str) -> Row:
    df = build.table("03_theorem1", "theorem1_networks")
    if df is None:
        return not_computed(base, NEEDS["theorem1"])
    d = df[df["pool"] == pool]
    if len(d) == 0:
        return not_computed(base, f"{NEEDS['theorem1']} with rows for pool {pool!r}")
    mass = 10.0 ** d[_col(d, "log10 line tail mass")].to_numpy(float)
    floor = (10.0 ** d["log10 line floor mass"].to_numpy(float)) if "log10 line floor mass" in d else None
    ranked, n_low = ranked_tail_mass(mass, floor)
    r = correlation_row(base, ranked, d[_col(d, "grad EF x1e5", "grad_ef")],
                        "positive", "(line tail mass, VanillaGrad EF) over networks")
    note = ("A correlation over networks: n and the p-value (exact up to 9 networks, t-approximate above) instead of "
            "an interval.")
    status = floor_status(len(d), n_low, ranked)
    if status == "all below":
        note += (f" All {n_low} line tail masses are below their measurement floor (under {LINE_FLOOR_FACTOR:g}x its "
                 "tail mass): the run cannot rank these networks, so the correlation is not measured.")
    elif status == "misordered":
        note += (f" {n_low} of {len(d)} line tail masses are below their measurement floor and one of them measures "
                 "above a resolved one: no ranking can be made, so the correlation is not measured.")
    elif n_low:
        note += (f" {n_low} of {len(d)} line tail masses are below their measurement floor (under "
                 f"{LINE_FLOOR_FACTOR:g}x its tail mass) and are ranked as one tie at the bottom.")
        if mostly_tied(len(d), n_low, ranked):
            note += f" Its verdict stands {MOSTLY_TIED}."
    if floor is None:
        note += " The table has no measurement floor ('log10 line floor mass'): the masses are ranked as measured."
    return replace(r, detail=note)


@row("Theorem 1 (max-pool CNN)",
     "Theorem 1: a network's spectral tail carries over to its explanation's (line tail mass and VanillaGrad EF "
     "rise together), on the paper's max-pool CNN", "the third-party summary", "03_theorem1")
def theorem1_max(build: Build, base: dict) -> Row:
    return _theorem1(build, base, "max")


@row("Theorem 1 (average-pool CNN)",
     "Theorem 1's link on the average-pool CNN, where the activation is the only non-linearity",
     "this companion", "03_theorem1", kind="ours")
def theorem1_avg(build: Build, base: dict) -> Row:
    return _theorem1(build, base, "avg")


def _ef_beta(build: Build, base: dict, stem: str, name: str, need: str) -> Row:
    df = build.table(stem, name)
    if df is None:
        return not_computed(base, NEEDS[need])
    d = networks(df)
    if d["beta"].nunique() < 2:
        return not_computed(base, NEEDS[need] + " (at least two β values with networks at the cap)")
    test, iv = rho_over_seeds(d)
    v_corr, v_int = correlation_verdict(test, "positive"), interval_verdict(iv, "above")
    verdict = v_corr if v_corr == v_int else CANNOT_TELL
    seeds = d.groupby("beta").size()
    return Row(**base, measure=f"Spearman ρ(β, per-β mean VanillaGrad EF) over {test['n']} activations (ReLU = "
               f"β ∞), networks at the cap; p = {test['p']:.3g}" if np.isfinite(test["p"]) else
               "Spearman ρ(β, per-β mean VanillaGrad EF): undefined", value=iv.value, interval_low=iv.low,
               interval_high=iv.high, n=int(len(d)), verdict=verdict,
               detail=f"Interval: bootstrap over the networks (seeds) of each β, {int(seeds.min())}-"
                      f"{int(seeds.max())} per β; the verdict needs p < 0.05 and the interval above 0.")


@row("EF falls with β (digits)",
     "EF falls with β at equal accuracy: smoother SP(β) networks at the accuracy cap have simpler VanillaGrad "
     "explanations (summary: EF rises monotonically with β on CIFAR-10, Fashion-MNIST and Imagenette); here on "
     "digits", "the third-party summary", "04_ef_vs_beta")
def ef_beta_mnist(build: Build, base: dict) -> Row:
    return _ef_beta(build, base, "04_ef_vs_beta", "ef_vs_beta_networks", "ef_beta_mnist")


@row("EF falls with β (CIFAR-10)",
     "EF falls with β at equal accuracy, on CIFAR-10", "the third-party summary", "07_cifar10")
def ef_beta_cifar(build: Build, base: dict) -> Row:
    return _ef_beta(build, base, "07_cifar10", "cifar10_ef_vs_beta", "ef_beta_cifar")


def _gap_table(build: Build):
    for name in ("gap_networks", "faithfulness"):
        df = build.table("05_explanation_gap", name)
        if df is not None and {"method", "ef_paper", "delta_ef"} <= set(df.columns):
            return df
    return None


def _per_network(df, method: str, column: str):
    d = df[df["method"] == method]
    keys = [c for c in ("activation", "seed") if c in d.columns]
    return d.groupby(keys)[column].mean().reset_index()


@row("post-hoc methods lower EF (SmoothGrad)",
     "Post-hoc methods lower EF by explaining a smoother surrogate: SmoothGrad's EF is below the ReLU network's "
     "own VanillaGrad EF (summary, Imagenette CNN: .286 against .390)", "the third-party summary",
     "05_explanation_gap")
def posthoc_gap(build: Build, base: dict) -> Row:
    df = _gap_table(build)
    if df is None:
        return not_computed(base, NEEDS["gap"])
    relu = df[df["activation"] == "ReLU"]
    sg, vg = _per_network(relu, "smooth_grad", "ef_paper"), _per_network(relu, "vanilla_grad", "ef_paper")
    iv = bootstrap_ratio_ci(sg["ef_paper"], vg["ef_paper"])
    return replace(interval_row(base, iv, "below", 1.0, "mean EF(SmoothGrad) / mean EF(VanillaGrad), ReLU networks"),
                   detail="Interval: bootstrap over the ReLU networks (seeds).")


@row("SP keeps the gap near zero",
     "SP keeps the gap near zero: SmoothGrad's explanation gap ΔEF on the smoothest SP network is below the ReLU "
     "network's (summary, Imagenette CNN: .005 for SP(0.9) against .104 for ReLU)", "the third-party summary",
     "05_explanation_gap")
def sp_gap(build: Build, base: dict) -> Row:
    df = _gap_table(build)
    if df is None:
        return not_computed(base, NEEDS["gap"])
    sp = df[df["activation"].astype(str).str.startswith("SP(")]
    if len(sp) == 0 or "beta" not in df.columns:
        return not_computed(base, NEEDS["gap"] + " with SP networks")
    smallest = sp[sp["beta"].astype(float) == sp["beta"].astype(float).min()]
    a = _per_network(smallest, "smooth_grad", "delta_ef")["delta_ef"]
    b = _per_network(df[df["activation"] == "ReLU"], "smooth_grad", "delta_ef")["delta_ef"]
    iv = bootstrap_ratio_ci(a, b)
    label = smallest["activation"].iloc[0]
    return replace(interval_row(base, iv, "below", 1.0, f"ΔEF(SmoothGrad) of {label} / of ReLU"),
               detail="Interval: bootstrap over the networks (seeds) of each activation.")


@row("the ablations",
     "The activation's effect survives the ablations (depth, SK/BN, input size, training noise, blur, L2): the SP "
     "network's VanillaGrad EF stays below the ReLU network's", "the paper's abstract", "06_ablations")
def ablations(build: Build, base: dict) -> Row:
    df = build.table("06_ablations", "ablations", header=[0, 1], index_col=[0, 1])
    if df is None:
        return not_computed(base, NEEDS["ablations"])
    cols = [c for c in df.columns if str(c[0]).startswith("SP / ReLU") and str(c[1]).startswith("EF x1e5")]
    if not cols:
        raise KeyError("no ('SP / ReLU', 'EF x1e5 ...') column")
    ratios = df[cols[0]].apply(lambda v: float(v) if str(v).strip() not in ("", "nan") else math.nan)
    iv = _geomean_ratio_over_settings(ratios.to_numpy())
    return replace(interval_row(base, iv, "below", 1.0, f"geometric mean over the settings of the SP/ReLU ratio of "
                              f"VanillaGrad EF ({cols[0][1]})"),
               detail="Interval: bootstrap over the ablation settings (one network per activation and setting: "
                      "seed-to-seed spread enters only through the spread between settings).")


# ------------------------------------------------------------------------------------------------ our questions
@row("training length",
     "Training length: is it the activation? ReLU trained slowly to the cap (as many epochs as SP) keeps a higher "
     "EF than the smoothest SP network", "this companion", "04_ef_vs_beta", kind="ours")
def training_length(build: Build, base: dict) -> Row:
    df = build.table("04_ef_vs_beta", "training_length_control")
    if df is None:
        return not_computed(base, NEEDS["training_length"])
    d = networks(df)
    relu = d[d["activation"] == "ReLU"]
    slow = relu[relu["lr"].astype(float) < relu["lr"].astype(float).max()]
    sp = d[d["activation"] != "ReLU"]
    if len(slow) == 0 or len(sp) == 0:
        return not_computed(base, NEEDS["training_length"] + " with slow-ReLU and SP rows")
    smallest = sp[sp["beta"] == sp["beta"].min()]
    iv = bootstrap_ratio_ci(slow["ef_paper"], smallest["ef_paper"])
    return replace(interval_row(base, iv, "above", 1.0,
                                f"mean EF(slow ReLU) / mean EF({smallest['activation'].iloc[0]})"),
                   detail="Interval: bootstrap over the networks (seeds) of each arm.")


@row("independent faithfulness",
     "Independent faithfulness: the paper's gap ΔEF agrees with a Quantus faithfulness test (a larger gap, a less "
     "faithful explanation)", "this companion", "05_explanation_gap", kind="ours")
def faithfulness(build: Build, base: dict) -> Row:
    df = build.table("05_explanation_gap", "faithfulness")
    if df is None or "delta_ef" not in df.columns:
        return not_computed(base, NEEDS["faithfulness"])
    for metric, expect in (("FaithfulnessCorrelation", "negative"), ("Infidelity", "positive"),
                           ("PixelFlipping", "positive"), ("RegionPerturbation", "negative")):
        if metric in df.columns and df[metric].notna().any():
            keep = ~df["method"].isin(["vanilla_grad", "random_map"])
            d = df[keep][["delta_ef", metric]].astype(float).dropna()
            r = correlation_row(base, d["delta_ef"], d[metric], expect, f"(ΔEF, {metric}) over network x method")
            return replace(r, detail=f"Expected sign: {expect} ({metric}: "
                                     f"{'higher' if expect == 'negative' else 'lower'} is more faithful); VanillaGrad "
                                     f"rows and the random-map control left out (their ΔEF is zero by construction "
                                     f"or meaningless).")
    return not_computed(base, NEEDS["faithfulness"])


@row("spatial correlation",
     "Spatial correlation: without it (pixels permuted) the EF-vs-β relation weakens", "this companion",
     "09_spatial_correlation", kind="ours")
def spatial(build: Build, base: dict) -> Row:
    df = build.table("09_spatial_correlation", "theorem1_per_condition")
    if df is None:
        return not_computed(base, NEEDS["spatial"])
    df = df.rename(columns={_col(df, "grad EF x1e5", "grad_ef"): "ef_paper"})
    if "arm" in df.columns:  # the CNN arm (the MLP arm is a separate control)
        df = df[df["arm"].astype(str) == "cnn"]
    if not {"natural", "permuted"} <= set(df["condition"]):
        return not_computed(base, NEEDS["spatial"] + " for the natural and permuted conditions")
    parts = {c: df[df["condition"] == c] for c in ("natural", "permuted")}
    (tn, ivn), (tp, ivp) = rho_over_seeds(parts["natural"]), rho_over_seeds(parts["permuted"])
    diff = tn["rho"] - tp["rho"]
    if np.isfinite(ivn.low) and np.isfinite(ivp.low):
        draws = []
        for c in ("natural", "permuted"):
            g = {b: d["ef_paper"].to_numpy(float) for b, d in parts[c].groupby("beta")}
            keys = sorted(g)
            draws.append(_boot_rhos(keys, [g[k] for k in keys], 2000, np.random.default_rng(0)))
        n = min(len(d) for d in draws)
        diffs = draws[0][:n] - draws[1][:n]
        lo, hi = np.quantile(diffs, [0.025, 0.975]) if n else (math.nan, math.nan)
        iv = Interval(diff, float(lo), float(hi), ivn.n + ivp.n)
    else:
        iv = Interval(diff, math.nan, math.nan, ivn.n + ivp.n)
    return replace(interval_row(base, iv, "above", 0.0, "ρ(β, mean VanillaGrad EF) natural − permuted (array order, "
                              "Theorem-1 images)"),
               detail="Interval: bootstrap over the networks (seeds) of each condition and β; one seed gives none.")


def _sp_relu_ratios(df, key: str, ef: str) -> list[float]:
    out = []
    for _, g in df.groupby(key):
        relu = g[g["activation"] == "ReLU"][ef].astype(float)
        sp = g[g["activation"].astype(str).str.startswith("SP(")]
        if len(relu) and len(sp):
            out.append(float(sp[ef].astype(float).mean() / relu.mean()))
    return out


@row("width", "Width: the SP network's lower VanillaGrad EF persists at every width", "this companion",
     "10_width_and_size", kind="ours")
def width(build: Build, base: dict) -> Row:
    df = build.table("10_width_and_size", "width_training_and_ef")
    if df is None:
        return not_computed(base, NEEDS["width"])
    iv = _geomean_ratio_over_settings(_sp_relu_ratios(df, "width", _col(df, "EF x1e5", "ef_paper")))
    return replace(interval_row(base, iv, "below", 1.0, "geometric mean over widths of mean EF(SP) / mean EF(ReLU)"),
                   detail="Interval: bootstrap over the widths.")


@row("input size", "Input size: the SP network's lower VanillaGrad EF persists at every input size", "this companion",
     "10_width_and_size", kind="ours")
def size(build: Build, base: dict) -> Row:
    df = build.table("10_width_and_size", "size_ef")
    if df is None:
        return not_computed(base, NEEDS["size"])
    iv = _geomean_ratio_over_settings(_sp_relu_ratios(df, "size", _col(df, "EF x1e5", "ef_paper")))
    return replace(interval_row(base, iv, "below", 1.0, "geometric mean over sizes of EF(SP) / EF(ReLU)"),
               detail="Interval: bootstrap over the input sizes.")


@row("other smoothings",
     "Other smoothings: the activation's tail mass (Lemma 1's object) orders the networks' EF across activation "
     "families", "this companion", "11_smooth_alternatives", kind="ours")
def smoothings(build: Build, base: dict) -> Row:
    df = build.table("11_smooth_alternatives", "activation_tail_vs_ef")
    if df is None:
        return not_computed(base, NEEDS["smoothings"])
    tail = _col(df, "tail power (closed form)", "tail mass", "windowed mass L=100", prefix=True)
    d = df[[tail, _col(df, "EF mean")]].astype(float).dropna()
    r = correlation_row(base, d.iloc[:, 0], d.iloc[:, 1], "positive",
                        f"(activation's {tail}, its networks' mean EF) over activations")
    return replace(r, detail="A correlation over activations (tail masses at the round-off floor tie).")


@row("the spectral penalty",
     "The spectral penalty: a ReLU network trained with the strongest penalty has a lower VanillaGrad EF than the "
     "plain ReLU network at the same cap", "this companion", "12_spectral_penalty", kind="ours")
def penalty(build: Build, base: dict) -> Row:
    df = build.table("12_spectral_penalty", "networks")
    if df is None:
        return not_computed(base, NEEDS["penalty"])
    df = df.rename(columns={_col(df, "ef_paper", "EF"): "ef_paper"})
    if any(c in df.columns for c in ("cap_reached", "cap reached")):
        cap = _col(df, "cap_reached", "cap reached")
        d = df[df[cap].astype(str).str.lower().isin(["true", "1", "1.0"])]
    else:  # the chapter's table lists only the networks that reached the cap
        d = df
    pen = d[d["family"] == "penalty"]
    if len(pen) == 0:
        return not_computed(base, NEEDS["penalty"] + " with penalised networks")
    strongest = pen[pen["penalty"].astype(float) == pen["penalty"].astype(float).max()]
    iv = bootstrap_ratio_ci(strongest["ef_paper"], d[d["family"] == "ReLU"]["ef_paper"])
    return replace(interval_row(base, iv, "below", 1.0, "mean EF(strongest penalty) / mean EF(ReLU)"),
               detail="Interval: bootstrap over the networks (seeds) of each setting.")
