"""Other roads to smooth explanations (issue 12): smooth activations other than SP, explain-time smoothing of a ReLU
network, and the spectral tail as a training objective. What the chapters "Smooth activations and explain-time
smoothing" and "The spectral tail as a training objective" compute from their records.

* Grids: :func:`smooth_alternatives_param_sets` and :func:`spectral_penalty_param_sets` turn a chapter's parameters
  into the parameter dicts fed to :func:`spectral_lib.experiments.points_from_params` (one per grid), validating the
  chapter-specific lists (explain-time betas, low-pass cut-offs, penalty strengths) first, so that a bad value fails
  before any training. Shared networks keep chapter 4's cache keys (the penalty options are set only on the penalised
  networks).
* The complexity-faithfulness plane: :func:`plane_table` gives one row per (model, method) with the mean EF and the
  explanation gap in the paper's arithmetic (``|mean EF(method) - mean EF(VanillaGrad)|``); :func:`pareto_front`
  marks the points no other point beats on both axes; :func:`surrogate_summary` the lowest-EF setting of each
  surrogate family and the trained networks whose own gradient is at least as simple.
* Lemma 1's object for any activation: :func:`activation_tail` (the FFT-measured share of the activation's power
  spectrum above a frequency), next to its network's EF in :func:`tail_vs_ef_table`.
* Training cost: :func:`setting_table` (per training setting: EF, accuracy, epochs, seconds as recorded, seconds per
  epoch), :func:`benchmark_epoch_seconds` (seconds per epoch measured back to back in one process, so that networks
  trained at different times under different machine load compare fairly) and :func:`budget_comparison` (for each
  setting of one family, the lowest EF the other family reaches within the same training cost).
"""
from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ._checks import check_nonnegative_finite, check_positive_finite, check_positive_int

__all__ = ["gaussian_spec", "activation_family", "explain_time_methods", "smooth_alternatives_param_sets",
           "penalty_strength_list", "spectral_penalty_param_sets", "activation_tail", "tail_vs_ef_table",
           "method_family", "method_label", "plane_table", "pareto_front", "surrogate_summary", "setting_label",
           "setting_family", "setting_table", "profile_tail_share", "benchmark_epoch_seconds", "best_within_budget",
           "budget_comparison", "TAIL_FLOOR", "PENALTY_PARAMS"]

# Tail masses below this are double-precision round-off of the FFT measurement (:func:`activation_tail`), not power.
TAIL_FLOOR = 1e-14

# TrainConfig fields of the spectral penalty: set only on the penalised networks, so the others keep their cache keys.
PENALTY_PARAMS = ("penalty_strength", "penalty_kind", "penalty_cutoff", "penalty_subsample")


# --------------------------------------------------------------------------------------------------------- specs
def gaussian_spec(beta: float) -> str:
    """Activation spec of the exact Gaussian smoothing of ReLU matched to SP(``beta``) (equal variances of the two
    smoothing densities, :func:`spectral_lib.activations.beta_to_sigma`): ``"gaussian:<sigma>"``, sigma to 6
    significant digits."""
    from .activations import beta_to_sigma

    return f"gaussian:{beta_to_sigma(beta):.6g}"


def activation_family(spec: str) -> str:
    """``"ReLU"``, ``"SP"`` (SoftPlus, centred or not), ``"Gaussian"`` (Gaussian-smoothed ReLU) or ``"other"``
    (GELU, SiLU, ELU, Tanh, Sigmoid, ...) for an activation spec."""
    from torch import nn

    from .activations import GaussianReLU, make_activation

    m = make_activation(spec)
    if isinstance(m, nn.ReLU):
        return "ReLU"
    if isinstance(m, nn.Softplus):
        return "SP"
    if isinstance(m, GaussianReLU):
        return "Gaussian"
    return "other"


def _number_list(name: str, values: Any, check: Callable[[str, Any], float], allow_empty: bool = False
                 ) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list of numbers, got {type(values).__name__} {values!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty list of numbers, got []")
    return [check(f"{name}[{i}]", v) for i, v in enumerate(values)]


def explain_time_methods(betas: Sequence[float], cutoffs: Sequence[float], smooth_grad: bool = True) -> list[str]:
    """Method specs explaining a ReLU network without retraining it: ``vanilla_grad`` (the reference), optionally
    ``smooth_grad``, ``beta_smooth_grad:<beta>`` per beta and ``lowpass_grad:<cutoff>`` per cut-off (cycles/pixel).

    Every beta and cut-off must be positive and finite (ValueError naming ``explain_time_betas[i]`` or
    ``lowpass_cutoffs[i]`` otherwise; a cut-off of 0 would leave constant maps, whose EF is undefined). Either list may
    be empty, not both."""
    b = _number_list("explain_time_betas", betas, check_positive_finite, allow_empty=True)
    c = _number_list("lowpass_cutoffs", cutoffs, check_positive_finite, allow_empty=True)
    if not b and not c:
        raise ValueError("explain_time_betas and lowpass_cutoffs are both empty: no explain-time surrogate to measure")
    from .experiments import parse_method_spec

    specs = ["vanilla_grad"] + (["smooth_grad"] if smooth_grad else [])
    specs += [f"beta_smooth_grad:{v:g}" for v in b] + [f"lowpass_grad:{v:g}" for v in c]
    for s in specs:
        parse_method_spec(s)
    return list(dict.fromkeys(specs))


def smooth_alternatives_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The grids of the smooth-alternatives chapter, as parameter dicts for ``points_from_params``:

    1. ``trained``: every activation of ``activations`` plus the Gaussian-smoothed ReLU matched to each of
       ``gaussian_betas`` (:func:`gaussian_spec`), explained by VanillaGrad (and SmoothGrad if
       ``smooth_grad_on_trained``, default False);
    2. ``surrogates``: the ReLU network(s) (``"relu"``, same seeds) explained by VanillaGrad, SmoothGrad and the
       explain-time surrogates of :func:`explain_time_methods` (``explain_time_betas``, ``lowpass_cutoffs``).

    Each dict carries its name under ``grid`` (ignored by ``points_from_params``). Also checks the chapter's
    ``tail_cutoff`` (positive) when given. Raises ValueError/TypeError naming the bad parameter."""
    betas = _number_list("gaussian_betas", params.get("gaussian_betas", []), check_positive_finite, allow_empty=True)
    if "tail_cutoff" in params:
        check_positive_finite("tail_cutoff", params["tail_cutoff"])
    acts = list(params.get("activations") or [])
    if not acts and not betas:
        raise ValueError("activations and gaussian_betas are both empty: no network to train")
    trained_acts = list(dict.fromkeys(acts + [gaussian_spec(b) for b in betas]))
    sg = params.get("smooth_grad_on_trained", False)
    if not isinstance(sg, bool):
        raise TypeError(f"smooth_grad_on_trained must be true or false, got {sg!r}")
    base = {k: v for k, v in params.items() if k not in ("methods", *PENALTY_PARAMS)}
    methods = explain_time_methods(params.get("explain_time_betas", []), params.get("lowpass_cutoffs", []))
    return [{**base, "grid": "trained", "activations": trained_acts,
             "methods": ["vanilla_grad"] + (["smooth_grad"] if sg else [])},
            {**base, "grid": "surrogates", "activations": ["relu"], "methods": methods}]


def penalty_strength_list(values: Any) -> list[float]:
    """``penalty_strengths`` checked: a non-empty list of positive finite numbers (a strength of 0 is the plain ReLU
    network, already the chapter's baseline)."""
    return _number_list("penalty_strengths", values, check_positive_finite)


def spectral_penalty_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The grids of the spectral-penalty chapter, as parameter dicts for ``points_from_params``, VanillaGrad only:

    1. ``plain``: ``activations`` (the SP networks and the ReLU baseline) trained without the penalty, so that they
       share chapter 4's networks (the penalty options are removed);
    2. one ``penalty`` grid per strength of ``penalty_strengths``: ``penalty_activation`` (default ``"relu"``) trained
       with ``penalty_strength`` = that strength and the chapter's ``penalty_kind``, ``penalty_cutoff``,
       ``penalty_subsample``.

    Also checks the chapter's ``benchmark_epochs`` (a positive integer) when given. Raises ValueError/TypeError
    naming the bad parameter (the TrainConfig checks run in ``points_from_params``)."""
    strengths = penalty_strength_list(params.get("penalty_strengths"))
    if "benchmark_epochs" in params:
        check_positive_int("benchmark_epochs", params["benchmark_epochs"])
    base = {k: v for k, v in params.items() if k not in PENALTY_PARAMS}
    base["methods"] = ["vanilla_grad"]
    options = {k: params[k] for k in PENALTY_PARAMS[1:] if k in params}
    sets = [{**base, "grid": "plain", "activations": list(params.get("activations") or [])}] if params.get(
        "activations") else []
    act = params.get("penalty_activation", "relu")
    sets += [{**base, **options, "grid": "penalty", "activations": [act], "penalty_strength": s} for s in strengths]
    return sets


# ------------------------------------------------------------------------------------------------------ Lemma 1
def activation_tail(spec: str, cutoff: float, half_width: float = 100.0, n_points: int = 8192) -> float:
    """Lemma 1's object for any activation: the share of its FFT-measured power spectrum above angular frequency
    ``cutoff`` (radians per unit pre-activation), ``tail_mass(measure_power_1d(activation))`` as in the Lemma 1
    chapter. Values below :data:`TAIL_FLOOR` are round-off (the spectrum has reached double precision's floor)."""
    from .activations import make_activation
    from .theory import measure_power_1d, tail_mass

    cutoff = check_positive_finite("cutoff", cutoff)
    omega, power = measure_power_1d(make_activation(spec), half_width=half_width, n_points=n_points)
    if cutoff >= float(omega[-1]):
        raise ValueError(f"cutoff {cutoff} is at or above the highest measured frequency {float(omega[-1]):.4g}")
    return float(tail_mass(omega, power, cutoff))


def tail_vs_ef_table(records: Sequence[dict], cutoff: float, ef_metric: str = "ef", scale: float = 1e5):
    """One row per activation of ``records`` (kept networks): its spec and family, the activation's tail mass above
    ``cutoff`` (:func:`activation_tail`; ``at floor`` when below :data:`TAIL_FLOOR`), the mean over networks of the
    per-network mean VanillaGrad ``ef_metric`` (``scale``d) and its std, the networks, mean test accuracy and epochs.
    Indexed by activation name, ordered by tail mass (lightest first)."""
    import pandas as pd

    from .report import network_means

    if not records:
        return pd.DataFrame(columns=["spec", "family", "tail mass", "at floor", "EF mean", "EF std", "networks",
                                     "test acc", "epochs"])
    per_net = network_means(records, ef_metric, "vanilla_grad", scale)
    spec_of = {r["activation"]: r["config"]["activation"] for r in records}
    rows = []
    for name, g in per_net.groupby("activation", sort=False):
        rs = [r for r in records if r["activation"] == name]
        tail = activation_tail(spec_of[name], cutoff)
        rows.append({"activation": name, "spec": spec_of[name], "family": activation_family(spec_of[name]),
                     "tail mass": tail, "at floor": tail < TAIL_FLOOR, "EF mean": float(g["value"].mean()),
                     "EF std": float(g["value"].std()) if len(g) > 1 else math.nan, "networks": int(len(g)),
                     "test acc": float(np.mean([r["train"]["test_accuracy"] for r in rs])),
                     "epochs": float(np.mean([r["train"]["epochs"] for r in rs]))})
    return pd.DataFrame(rows).set_index("activation").sort_values("tail mass", kind="stable")


# ------------------------------------------------------------------------------------------ the trade-off plane
_FAMILIES = {"vanilla_grad": "VanillaGrad", "smooth_grad": "SmoothGrad", "beta_smooth_grad": "BetaSmooth",
             "lowpass_grad": "low-pass"}


def method_family(method: str) -> str:
    """Display family of a method spec: ``"VanillaGrad"``, ``"SmoothGrad"``, ``"BetaSmooth"`` (explain-time SP),
    ``"low-pass"`` (FORGrad), else the method's name."""
    from .experiments import parse_method_spec

    name, _ = parse_method_spec(method)
    return _FAMILIES.get(name, name)


def method_label(method: str) -> str:
    """Short display label of a method spec: ``"BetaSmooth(β=5)"``, ``"low-pass(f≤0.25)"``, ``"SmoothGrad"``..."""
    from .experiments import parse_method_spec

    name, options = parse_method_spec(method)
    family = _FAMILIES.get(name, name)
    if name == "beta_smooth_grad" and options:
        return f"{family}(β={options['beta']:g})"
    if name == "lowpass_grad" and options:
        return f"{family}(f≤{options['cutoff']:g})"
    if name == "smooth_grad" and options:
        return f"{family}(σ={options['noise_std']:g})"
    return family


def _dedupe(records: Iterable[dict]) -> list[dict]:
    """Records with each (network, method) measured once: a network evaluated in two grids (same config, same images)
    keeps the first grid's measurement of a method; later ones keep only the methods not seen yet."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in records:
        net = json.dumps(r["config"], sort_keys=True, default=str) + f"|{len(r['ef'].get('vanilla_grad', []))}"
        keep = [m for m in r["ef"] if (net, m) not in seen]
        seen.update((net, m) for m in keep)
        if keep:
            out.append({**r, **{k: {m: v for m, v in r[k].items() if m in keep}
                                for k in ("ef", "ef_nyquist", "gap_ef", "gap_ef_nyquist", "gap_l2") if k in r}})
    return out


def plane_table(records: Sequence[dict], ef_metric: str = "ef", scale: float = 1e5):
    """The complexity-faithfulness plane as a table: one row per (model, method) present in ``records``.

    Columns: ``model`` (activation name), ``method`` (spec), ``family`` and ``label`` (:func:`method_family`,
    :func:`method_label`), ``setting`` (the method's numeric option, NaN without one), ``ef`` (mean ``ef_metric``
    over images and seeds, ``scale``d), ``gap`` (the paper's arithmetic: ``|ef - ef of the model's VanillaGrad|``,
    zero for VanillaGrad), ``trained`` (True for VanillaGrad: the model's own gradient, no surrogate). A network
    measured in several grids counts once per method. ``ef_metric``: ``"ef"`` or ``"ef_nyquist"``."""
    import pandas as pd

    from .experiments import gap_table, paper_gap_table, parse_method_spec

    cols = ["model", "method", "family", "label", "setting", "ef", "gap", "trained"]
    recs = _dedupe(records)
    if not recs:
        return pd.DataFrame(columns=cols)
    ef = gap_table(recs, ef_metric, scale)
    gap = paper_gap_table(recs, ef_metric, scale)
    rows = []
    for model in ef.columns:
        for method in ef.index:
            v = ef.loc[method, model]
            if not np.isfinite(v):
                continue
            opts = parse_method_spec(method)[1]
            rows.append({"model": model, "method": method, "family": method_family(method),
                         "label": method_label(method), "setting": next(iter(opts.values()), math.nan),
                         "ef": float(v), "gap": float(gap.loc[method, model]), "trained": method == "vanilla_grad"})
    return pd.DataFrame(rows, columns=cols)


def pareto_front(df, x: str = "ef", y: str = "gap"):
    """Boolean Series over ``df``'s rows: True where no other row is at least as low on both ``x`` and ``y`` and
    strictly lower on one (the lower-left front: nothing is both simpler and more faithful). Rows with a NaN in
    either column are never on the front (and dominate nothing)."""
    import pandas as pd

    xs, ys = df[x].to_numpy(dtype=float), df[y].to_numpy(dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    front = []
    for i in range(len(df)):
        if not ok[i]:
            front.append(False)
            continue
        dominated = ok & (xs <= xs[i]) & (ys <= ys[i]) & ((xs < xs[i]) | (ys < ys[i]))
        front.append(not bool(dominated.any()))
    return pd.Series(front, index=df.index, name="on front")


def surrogate_summary(plane, model: str = "ReLU"):
    """Per surrogate family applied to ``model`` (every non-VanillaGrad method of that model in ``plane``): the
    setting with the lowest EF, its EF and gap, and the trained models (rows with ``trained``) whose own gradient
    has an EF at most that low (they reach it with no gap). Returns a DataFrame indexed by family (sorted by EF)."""
    import pandas as pd

    cols = ["label", "method", "ef", "gap", "trained at most as complex"]
    sub = plane[(plane["model"] == model) & ~plane["trained"]]
    trained = plane[plane["trained"]]
    rows = []
    for family, g in sub.groupby("family", sort=False):
        best = g.loc[g["ef"].idxmin()]
        simpler = trained[trained["ef"] <= best["ef"]].sort_values("ef")["model"].tolist()
        rows.append({"family": family, "label": best["label"], "method": best["method"], "ef": float(best["ef"]),
                     "gap": float(best["gap"]), "trained at most as complex": simpler})
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows).set_index("family").sort_values("ef")[cols]


# ------------------------------------------------------------------------------------------------ training cost
def setting_label(record: dict) -> str:
    """A training setting's name: the activation's display name, plus ``" + penalty <strength>"`` (and the kind when
    it is not ``tail_share``) for networks trained with the spectral penalty."""
    cfg = record["config"]
    s = float(cfg.get("penalty_strength", 0.0) or 0.0)
    if s > 0:
        kind = cfg.get("penalty_kind", "tail_share")
        return f"{record['activation']} + penalty {s:g}" + ("" if kind == "tail_share" else f" ({kind})")
    return record["activation"]


def setting_family(record: dict) -> str:
    """``"penalty"`` for a network trained with the spectral penalty, else its :func:`activation_family`."""
    if float(record["config"].get("penalty_strength", 0.0) or 0.0) > 0:
        return "penalty"
    return activation_family(record["config"]["activation"])


def profile_tail_share(profile, size: int, cutoff: float) -> float:
    """Share of a mean radial power spectrum (bin 0 = the zero frequency, bin r at ``r / size`` cycles/pixel, the
    penalty's binning) above ``cutoff`` cycles/pixel, bin 0 left out: the quantity the ``tail_share`` penalty lowers,
    here measured on the evaluated (rank-normalised) maps. NaN when there is no power outside bin 0."""
    p = np.asarray(profile, dtype=float)[1:]
    check_positive_int("size", size)
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    f = np.arange(1, len(p) + 1) / size
    total = p.sum()
    return float(p[f > cutoff].sum() / total) if total > 0 else math.nan


def setting_table(records: Sequence[dict], ef_metric: str = "ef", scale: float = 1e5,
                  tail_cutoff: float | None = None):
    """One row per training setting (:func:`setting_label`; seeds pooled): ``family``, ``beta`` (SP's, inf for
    ReLU, NaN otherwise), ``penalty`` (strength, 0 without), the mean and std over networks of the per-network mean
    VanillaGrad ``ef_metric`` (``scale``d), ``networks``, ``cap reached`` (how many), mean ``test acc`` and ``epochs``,
    ``seconds`` (mean recorded training seconds) and ``s/epoch`` (recorded seconds / epochs, pooled). With
    ``tail_cutoff`` (cycles/pixel), ``tail share``: :func:`profile_tail_share` of the VanillaGrad mean spectrum,
    averaged over networks. Indexed by setting, ordered family (ReLU, penalty, SP, others) then beta/strength."""
    import pandas as pd

    from .report import network_means

    rows = []
    labels = [setting_label(r) for r in records]
    for label in dict.fromkeys(labels):
        rs = [r for r, lab in zip(records, labels) if lab == label]
        per_net = network_means(rs, ef_metric, "vanilla_grad", scale)["value"]
        secs = [float(r["train"]["seconds"]) for r in rs]
        eps = [float(r["train"]["epochs"]) for r in rs]
        row = {"setting": label, "family": setting_family(rs[0]), "beta": float(rs[0]["beta"]),
               "penalty": float(rs[0]["config"].get("penalty_strength", 0.0) or 0.0),
               "EF mean": float(per_net.mean()), "EF std": float(per_net.std()) if len(per_net) > 1 else math.nan,
               "networks": len(rs), "cap reached": int(sum(bool(r["train"]["cap_reached"]) for r in rs)),
               "test acc": float(np.mean([r["train"]["test_accuracy"] for r in rs])), "epochs": float(np.mean(eps)),
               "seconds": float(np.mean(secs)), "s/epoch": float(sum(secs) / sum(eps)) if sum(eps) > 0 else math.nan}
        if tail_cutoff is not None:
            shares = [profile_tail_share(r["profile"]["vanilla_grad"], int(r["examples"]["vanilla_grad"].shape[-1]),
                                         tail_cutoff) for r in rs]
            row["tail share"] = float(np.nanmean(shares)) if np.isfinite(shares).any() else math.nan
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    order = {"ReLU": 0, "penalty": 1, "SP": 2, "Gaussian": 3, "other": 4}
    df = pd.DataFrame(rows)
    df["_o"] = df["family"].map(order)
    df["_b"] = np.where(df["family"] == "penalty", df["penalty"], -df["beta"].fillna(0.0))
    return df.sort_values(["_o", "_b"], kind="stable").drop(columns=["_o", "_b"]).set_index("setting")


def benchmark_epoch_seconds(config, epochs: int = 1, splits=None) -> float:
    """Seconds per training epoch of ``config``'s network measured *now*: ``train`` (the real training loop, with its
    end-of-epoch accuracy check) for ``epochs`` epochs without a cap, not cached. Networks trained at different times
    (by other chapters, under other machine load) record incomparable seconds; timing each setting back to back in
    one process gives a fair cost per epoch."""
    from .train import load_for, train

    epochs = check_positive_int("epochs", epochs)
    cfg = replace(config, max_epochs=epochs, accuracy_cap=None).validate()
    splits = splits if splits is not None else load_for(cfg)
    _, result = train(cfg, splits, progress=False)
    return float(result.seconds / result.epochs)


def best_within_budget(table, family: str, budget: float, cost: str = "cost", ef: str = "EF mean"):
    """The row of ``table`` in ``family`` with the lowest ``ef`` among those whose ``cost`` is at most ``budget``
    (a Series, its name the setting), or None if no setting of the family is that cheap."""
    sub = table[(table["family"] == family) & (table[cost] <= budget) & np.isfinite(table[ef])]
    if sub.empty:
        return None
    return sub.loc[sub[ef].idxmin()]


def budget_comparison(table, family: str = "penalty", other: str = "SP", cost: str = "cost", ef: str = "EF mean"):
    """For each setting of ``family``: its ``cost`` and ``ef``, the lowest-EF setting of ``other`` that costs at most
    as much (``other setting``, ``other EF``, ``other cost``; NaN/None when none is that cheap) and ``lower EF``:
    which family's EF is lower at that budget (``family``, ``other``, ``tie`` or ``none`` when ``other`` has no
    setting within it). Returns a DataFrame indexed by ``family``'s settings."""
    import pandas as pd

    rows = []
    for name, row in table[table["family"] == family].iterrows():
        best = best_within_budget(table, other, float(row[cost]), cost, ef)
        if best is None:
            winner, o_name, o_ef, o_cost = "none", None, math.nan, math.nan
        else:
            o_name, o_ef, o_cost = best.name, float(best[ef]), float(best[cost])
            winner = family if row[ef] < o_ef else other if o_ef < row[ef] else "tie"
        rows.append({"setting": name, "cost": float(row[cost]), "EF": float(row[ef]), "other setting": o_name,
                     "other EF": o_ef, "other cost": o_cost, "lower EF": winner})
    cols = ["cost", "EF", "other setting", "other EF", "other cost", "lower EF"]
    return pd.DataFrame(rows, columns=["setting", *cols]).set_index("setting")
