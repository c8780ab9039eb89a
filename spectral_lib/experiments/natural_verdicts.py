"""The natural-image chapters' tables and the sentences that state their outcome (chapter 7: CIFAR-10; chapter 8:
Table A on Imagenette), computed from the records, never typed by hand. Tested on hand-made records
(``tests/test_natural_verdicts.py``): ties, one seed, NaN EF, an empty grid, a missing network.

Rules (as the rest of the book): a trend word only when a 95% bootstrap interval excludes "no effect"
(:func:`~spectral_lib.experiments.stats.trend_word`, via :func:`~spectral_lib.experiments.verdicts.interval_verdict`);
correlations with n and p. Intervals are over networks (seeds) where there are several, over images for one network
against another (Table A, one seed per network as the authors ran it): the text says which."""
from __future__ import annotations

import math
import os
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..explain import PAPER_ROWS
from .records import method_means, nan_count, network_means, paper_gap_table
from .stats import bootstrap_ratio_ci, bootstrap_rows_ci, trend_word
from .verdicts import dropped_note, fmt, interval_verdict, rho_text, evidence_word

__all__ = ["ROW_NAMES", "PAPER_CIFAR10_BETAS", "DataStatus", "data_status", "training_summary", "training_note",
           "network_table", "cap_table", "ef_beta_sentence", "smoothest_ratio_sentence", "tail_share",
           "tail_sentence", "gap_sentence", "relu_sp_records", "table_a", "table_a_sentences", "example_rows",
           "size_ablation_table", "size_ablation_sentence", "jpeg_effect_table", "jpeg_effect_sentence"]

ROW_NAMES = {method: row for row, method in PAPER_ROWS.items()}  # method -> the paper's row name
# the paper table's index (as recorded in resources/paper_published.yaml) per paper row
_PAPER_INDEX = {"VanillaGrad": "vanilla_grad", "SmoothGrad": "smooth_grad", "IntGrad": "integrated_gradients",
                "GuidedBP": "guided_backprop", "DeepLift": "deeplift", "GradCAM": "grad_cam"}
# The betas the authors' CIFAR-10 EF-vs-beta figure labels: their grid {0.1, ..., 0.9, 1, 2, 3, 5, 7, 10, 50} + ReLU
# without 0.1 and 0.2 (inferred from their plotting code's tick indices, not stated by them; see paper notes).
PAPER_CIFAR10_BETAS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 50.0, math.inf)
_SURROGATES = ("smooth_grad", "captum_guided_backprop", "captum_guided_grad_cam")


# ---------------------------------------------------------------------------------------------------- data
class DataStatus(NamedTuple):
    available: bool
    message: str


def data_status(dataset: str, path: str | None = None, cache_dir: str | None = None) -> DataStatus:
    """Whether chapter 8 can run: for ``imagenette_jpeg224``, a decoded copy in the dataset cache or a source found
    (``path``, which is then exported as ``$SPECTRAL_LIB_IMAGENETTE`` for the training code, else that variable);
    otherwise a message saying the data folder is absent and how to get it (no numbers are shown then). Other
    datasets (the official ``imagenette``) are loaded as usual and fail loudly if absent."""
    from ..data.jpeg_copies import JPEG_COPIES, _cache_paths, find_source
    from ..data.catalog import DatasetUnavailableError
    from ..paths import default_cache_dir

    if dataset not in JPEG_COPIES:
        return DataStatus(True, f"Data: `{dataset}`.")
    copy = JPEG_COPIES[dataset]
    if path:
        os.environ[copy.env] = str(path)
    label = f"**Data: {copy.label}** (`{dataset}`), not the official files."
    if all(p.is_file() for p in _cache_paths(copy, default_cache_dir() / "datasets")):
        return DataStatus(True, f"{label} Read from its decoded copy in the cache.")
    try:
        src = find_source(copy)
    except DatasetUnavailableError as e:
        return DataStatus(False, f"**Data folder absent: this page shows no numbers.** {e}")
    return DataStatus(True, f"{label} Read from `{src}` (checked against its published SHA-256 before decoding).")


# ------------------------------------------------------------------------------------------------- training
def training_summary(records: Sequence[dict]):
    """One row per network: activation, seed, lr, cap reached, epochs, test and train accuracy, training seconds."""
    import pandas as pd

    return pd.DataFrame([{"activation": r["activation"], "seed": r["seed"], "lr": r["config"]["lr"],
                          "image size": r["config"].get("image_size"), "cap reached": bool(r["train"]["cap_reached"]),
                          "epochs": r["train"]["epochs"], "test acc": r["train"]["test_accuracy"],
                          "train acc": r["train"]["train_accuracy"], "train hours": r["train"]["seconds"] / 3600}
                         for r in records])


def training_note(records: Sequence[dict], cap: float | None) -> str:
    """Which networks passed the cap, after how many epochs, at which accuracy; which were dropped."""
    if not records:
        return "No network was trained (empty grid)."
    kept = [r for r in records if r["train"]["cap_reached"]]
    parts = [f"{r['activation']} (seed {r['seed']}) passed after {fmt(r['train']['epochs'])} epochs at test "
             f"accuracy {r['train']['test_accuracy']:.3f}" for r in kept]
    head = f"Cap {fmt(cap)}: " + ("; ".join(parts) + ". " if parts else "")
    return head + dropped_note([r for r in records if not r["train"]["cap_reached"]], len(records), cap)


def network_table(records: Sequence[dict]):
    """The downloadable one-row-per-network table: ``activation`` (spec), ``beta`` (inf for ReLU), ``lr``,
    ``seed``, ``epochs``, ``test_accuracy``, ``cap_reached``, ``ef_paper`` and ``ef_nyquist`` (mean VanillaGrad EF
    over the evaluated images, unscaled; NaN images skipped)."""
    import pandas as pd

    rows = []
    for r in records:
        ef = np.asarray(r["ef"]["vanilla_grad"], dtype=float)
        efn = np.asarray(r["ef_nyquist"]["vanilla_grad"], dtype=float)
        rows.append({"activation": r["config"]["activation"], "beta": r["beta"], "lr": r["config"]["lr"],
                     "seed": r["seed"], "epochs": r["train"]["epochs"], "test_accuracy": r["train"]["test_accuracy"],
                     "cap_reached": bool(r["train"]["cap_reached"]),
                     "ef_paper": float(np.nanmean(ef)) if np.isfinite(ef).any() else math.nan,
                     "ef_nyquist": float(np.nanmean(efn)) if np.isfinite(efn).any() else math.nan})
    return pd.DataFrame(rows, columns=["activation", "beta", "lr", "seed", "epochs", "test_accuracy", "cap_reached",
                                       "ef_paper", "ef_nyquist"])


def cap_table(records: Sequence[dict]):
    """Per activation (smoothest first): lr, networks trained, networks that passed the cap, mean epochs to the cap
    and mean test accuracy of those that passed, and whether the paper's CIFAR-10 figure shows that beta."""
    import pandas as pd

    t = network_table(records)
    rows = []
    for (beta, act), g in t.groupby(["beta", "activation"], sort=True):
        ok = g[g["cap_reached"]]
        rows.append({"activation": act, "beta": beta, "lr": g["lr"].iloc[0], "networks": len(g), "passed": len(ok),
                     "epochs to cap": ok["epochs"].mean() if len(ok) else math.nan,
                     "test acc (passed)": ok["test_accuracy"].mean() if len(ok) else math.nan,
                     "in the paper's CIFAR-10 figure": any(math.isclose(beta, b) or beta == b
                                                           for b in PAPER_CIFAR10_BETAS)})
    return pd.DataFrame(rows, columns=["activation", "beta", "lr", "networks", "passed", "epochs to cap",
                                       "test acc (passed)", "in the paper's CIFAR-10 figure"]).set_index("activation")


# ------------------------------------------------------------------------------------------------ EF vs beta
def _per_network(records: Sequence[dict], metric: str, method: str = "vanilla_grad"):
    per = network_means(records, metric, method)
    return per[np.isfinite(per["value"].to_numpy(dtype=float))]


def _spearman_of_means(data: np.ndarray) -> float:
    from .stats import spearman

    betas = np.unique(data[:, 0])
    return spearman(betas, [data[data[:, 0] == b, 1].mean() for b in betas])


def ef_beta_sentence(records: Sequence[dict], metric: str = "ef", label: str = "the paper's EF") -> str:
    """Spearman's rho between beta (ReLU = inf) and the per-beta mean VanillaGrad ``metric`` over the kept
    networks, with n (betas), p and a bootstrap interval (networks resampled within each beta), and how many
    networks each beta contributes."""
    per = _per_network(records, metric)
    if per.empty:
        return f"No network passed the cap: no EF-vs-β relation to state ({label})."
    means = per.groupby("beta")["value"].mean()
    text, r = rho_text(means.index, means.values)
    data = np.c_[per["beta"].to_numpy(dtype=float), per["value"].to_numpy(dtype=float)]
    iv = bootstrap_rows_ci(_spearman_of_means, data, list(per["beta"]))
    counts = ", ".join(f"{_beta(b)}: {n}" for b, n in per.groupby("beta").size().items())
    ivt = (f"; bootstrap interval over networks [{iv.low:+.2f}, {iv.high:+.2f}]" if np.isfinite(iv.low)
           else "; no interval (one network per β)")
    word = evidence_word(r, "EF grows with β, as the paper finds", "EF falls with β, against the paper")
    return (f"With {label}, Spearman {text} between β and the per-β mean VanillaGrad EF{ivt}: {word}. "
            f"Networks per β (passed the cap): {counts}.")


def _beta(b: float) -> str:
    return "ReLU" if not math.isfinite(b) else f"β = {b:g}"


def smoothest_ratio_sentence(records: Sequence[dict], metric: str = "ef") -> str:
    """Mean VanillaGrad ``metric`` of the smoothest kept SP against ReLU's, as a ratio with a bootstrap interval
    over networks: "lower" only when the interval lies below 1."""
    per = _per_network(records, metric)
    relu = per[~per["beta"].apply(math.isfinite)]["value"]
    sp = per[per["beta"].apply(math.isfinite)]
    if relu.empty or sp.empty:
        return "This run has no ReLU and SP network pair past the cap to compare."
    b = float(sp["beta"].min())
    iv = bootstrap_ratio_ci(sp[sp["beta"] == b]["value"], relu)
    return (f"The smoothest network kept, SP({b:g}), against ReLU: mean VanillaGrad EF ratio "
            f"{interval_verdict(iv, 'higher than ReLU', 'lower than ReLU', null=1.0)}.")


# ---------------------------------------------------------------------------------------------- spectra
def tail_share(profile, start: float = 0.5) -> float:
    """The share of a radial power profile (R,) above ``start`` of its radial range, zero frequency left out:
    ``sum(P[r >= start * (R - 1)]) / sum(P[1:])``. NaN for an all-zero profile."""
    p = np.asarray(profile, dtype=float)
    if len(p) < 3:
        return math.nan
    body = p[1:].sum()
    if not np.isfinite(body) or body <= 0:
        return math.nan
    return float(p[int(math.ceil(start * (len(p) - 1))):].sum() / body)


def tail_sentence(records: Sequence[dict], method: str = "vanilla_grad") -> str:
    """Experiment 1: the high-frequency share of the mean radial spectrum of each network's ``method`` maps, ReLU
    against the SP networks (each beta), with bootstrap intervals over networks: "heavier" only when the ratio's
    interval lies above 1."""
    shares: dict[float, list[float]] = {}
    for r in records:
        if method in r["profile"]:
            shares.setdefault(r["beta"], []).append(tail_share(r["profile"][method]))
    relu = shares.pop(math.inf, [])
    if not relu or not shares:
        return "This run has no ReLU and SP network pair to compare the spectra's tails."
    parts = []
    for b in sorted(shares):
        iv = bootstrap_ratio_ci(relu, shares[b])
        parts.append(f"against SP({b:g}) {interval_verdict(iv, 'ReLU heavier', 'ReLU lighter', null=1.0)}")
    return ("Share of the spectral power in the upper half of the radial frequencies (zero frequency left out), "
            f"ReLU's over SP's: {'; '.join(parts)}.")


# ------------------------------------------------------------------------------------------------------ gaps
def _gap_draws(rec_ef: dict, method: str, idx: np.ndarray) -> np.ndarray:
    a = np.asarray(rec_ef[method], dtype=float)[idx]
    v = np.asarray(rec_ef["vanilla_grad"], dtype=float)[idx]
    return np.abs(np.nanmean(a, axis=-1) - np.nanmean(v, axis=-1))


def _gap_diff_ci(relu: dict, sp: dict, method: str, n_boot: int = 2000, seed: int = 0):
    """|mean - mean| gap of ``method`` for the ReLU record minus the SP record's, images resampled (paired within a
    network: the same images for the method and VanillaGrad), x1e5, with a percentile interval."""
    from .stats import Interval

    n1, n2 = len(relu["ef"]["vanilla_grad"]), len(sp["ef"]["vanilla_grad"])
    point = float((_gap_draws(relu["ef"], method, np.arange(n1)) - _gap_draws(sp["ef"], method, np.arange(n2))) * 1e5)
    if min(n1, n2) < 2:
        return Interval(point, math.nan, math.nan, min(n1, n2))
    rng = np.random.default_rng(seed)
    d = (_gap_draws(relu["ef"], method, rng.integers(0, n1, (n_boot, n1)))
         - _gap_draws(sp["ef"], method, rng.integers(0, n2, (n_boot, n2)))) * 1e5
    d = d[np.isfinite(d)]
    lo, hi = np.quantile(d, [0.025, 0.975]) if len(d) else (math.nan, math.nan)
    return Interval(point, float(lo), float(hi), min(n1, n2))


def relu_sp_records(records: Sequence[dict]) -> tuple[dict | None, dict | None]:
    """The first-seed ReLU record and the SP record whose beta is closest to 0.9 (None where missing)."""
    relu = [r for r in records if not math.isfinite(r["beta"])]
    sp = [r for r in records if math.isfinite(r["beta"]) and r["activation"].startswith("SP(")]
    relu.sort(key=lambda r: r["seed"])
    sp.sort(key=lambda r: (abs(r["beta"] - 0.9), r["seed"]))
    return (relu[0] if relu else None), (sp[0] if sp else None)


def gap_sentence(records: Sequence[dict], methods: Sequence[str] = _SURROGATES) -> str:
    """Experiment 3: for each surrogate method, its gap (the paper's arithmetic, x1e5) on the ReLU network minus
    on the SP network, with an interval over images: "smaller for SP" only when it lies above 0."""
    relu, sp = relu_sp_records(records)
    if relu is None or sp is None:
        return "This run has no ReLU and SP network pair to compare the gaps."
    parts = []
    for m in methods:
        if m in relu["ef"] and m in sp["ef"]:
            iv = _gap_diff_ci(relu, sp, m)
            parts.append(f"{ROW_NAMES.get(m, m)} ({m}): ReLU's gap minus {sp['activation']}'s "
                         f"{interval_verdict(iv, 'smaller for the SP network', 'larger for the SP network')}")
    if not parts:
        return "None of the surrogate methods was run on both networks."
    return ("Gap ΔEF ×1e5 (|mean − mean|), ReLU minus SP, 95% interval over images (one network each): "
            + "; ".join(parts) + ".")


# --------------------------------------------------------------------------------------------------- Table A
def table_a(records: Sequence[dict], paper=None):
    """Table A: per paper row (in the paper's order), the method that computes it, our EF x1e5 and gap x1e5 (the
    paper's |mean - mean|) for ReLU and for the SP network nearest beta 0.9, beside the published columns of
    ``paper`` (a DataFrame indexed like ``secondary_table("imagenette_cnn_relu_vs_sp09")``; None: left out). NaN
    where a method or a network is missing."""
    import pandas as pd

    ef = method_means(list(records), "ef", 1e5) if records else pd.DataFrame()
    gap = paper_gap_table(list(records), "ef", 1e5) if records else pd.DataFrame()
    relu, sp = relu_sp_records(records)
    cols = [("ReLU", relu), ("SP", sp)]
    rows = []
    for row, method in PAPER_ROWS.items():
        out: dict[str, Any] = {"paper row": row, "method (what it is)": method}
        for tag, rec in cols:
            name = rec["activation"] if rec is not None else None
            ok = name is not None and method in ef.index and name in ef.columns
            label = name if name else tag
            out[f"ours {label} EF"] = float(ef.loc[method, name]) if ok else math.nan
            out[f"ours {label} ΔEF"] = float(gap.loc[method, name]) if ok else math.nan
        if paper is not None:
            key = _PAPER_INDEX[row]
            for c in paper.columns:
                out[f"paper {c}"] = float(paper.loc[key, c]) if key in paper.index else math.nan
        rows.append(out)
    return pd.DataFrame(rows).set_index("paper row")


def table_a_sentences(table, pair: tuple[dict | None, dict | None]) -> str:
    """What Table A's run says: the own-gradient EF ratio SP/ReLU with an interval over images, beside the
    published ratio; the surrogates' gaps (:func:`gap_sentence`); NaN EF values flagged."""
    relu, sp = pair
    if relu is None or sp is None:
        return "This run has no ReLU and SP network pair past the cap: Table A cannot be compared."
    iv = bootstrap_ratio_ci(np.asarray(sp["ef"]["vanilla_grad"], dtype=float),
                            np.asarray(relu["ef"]["vanilla_grad"], dtype=float))
    paper = [c for c in table.columns if c.startswith("paper ")]
    pub = ""
    if len(paper) >= 4 and np.isfinite(table[paper[0]].get("VanillaGrad", math.nan)):
        pub = (f" The published table gives {table.loc['VanillaGrad', paper[2]] / table.loc['VanillaGrad', paper[0]]:.2f}"
               f" (.202 / .390; unverified).")
    nans = nan_count([relu, sp])
    flag = f" {nans} VanillaGrad EF values were NaN (constant maps) and are skipped." if nans else ""
    return (f"VanillaGrad EF of {sp['activation']} over ReLU's (interval over images, one network each): "
            f"{interval_verdict(iv, 'higher', 'lower', null=1.0)}.{pub}{flag}\n\n" + gap_sentence([relu, sp]))


def example_rows(records: Sequence[dict], methods: Sequence[str], image: int = 0):
    """Rows for :func:`~spectral_lib.companion.plots.show_maps`: per network of :func:`relu_sp_records`, the input
    image (rescaled to [0, 1] for display) then each method's example map; and the row titles."""
    rows, names = [], []
    for rec in relu_sp_records(records):
        if rec is None:
            continue
        img = rec["images"][image].float()
        img = (img - img.min()) / (img.max() - img.min()).clamp(min=1e-12)
        rows.append([img] + [rec["examples"][m][image] for m in methods if m in rec["examples"]])
        names.append(rec["activation"])
    return rows, names


# ------------------------------------------------------------------------------------------------- input size
def size_ablation_table(grids: Sequence[tuple[int, Sequence[dict]]]):
    """Per input size: depth, both networks' cap status, VanillaGrad EF (paper x1e5, Nyquist) of ReLU and of the SP
    network, and the SP/ReLU ratio of each with an interval over images (NaN where a network is missing or was
    dropped)."""
    import pandas as pd

    rows = []
    for size, recs in grids:
        kept = [r for r in recs if r["train"]["cap_reached"]]
        relu, sp = relu_sp_records(kept)
        row: dict[str, Any] = {"size": size, "depth": (recs[0]["config"]["model_options"].get("depth") if recs
                                                        else None),
                               "passed": f"{len(kept)} of {len(recs)}"}
        for metric, scale, tag in (("ef", 1e5, "EF x1e5"), ("ef_nyquist", 1.0, "EF nyquist")):
            if relu is None or sp is None:
                row.update({f"ReLU {tag}": math.nan, f"SP {tag}": math.nan, f"ratio {tag}": math.nan,
                            f"ratio {tag} low": math.nan, f"ratio {tag} high": math.nan})
                continue
            a = np.asarray(sp[metric]["vanilla_grad"], dtype=float)
            b = np.asarray(relu[metric]["vanilla_grad"], dtype=float)
            iv = bootstrap_ratio_ci(a, b)
            row.update({f"ReLU {tag}": np.nanmean(b) * scale, f"SP {tag}": np.nanmean(a) * scale,
                        f"ratio {tag}": iv.value, f"ratio {tag} low": iv.low, f"ratio {tag} high": iv.high})
        rows.append(row)
    return pd.DataFrame(rows).set_index("size") if rows else pd.DataFrame()


def size_ablation_sentence(table) -> str:
    """Per size, the SP/ReLU VanillaGrad EF ratio (Nyquist EF) with its interval and the word it allows."""
    from .stats import Interval

    if table is None or len(table) == 0:
        return "No input size was run."
    parts = []
    for size, row in table.iterrows():
        iv = Interval(row["ratio EF nyquist"], row["ratio EF nyquist low"], row["ratio EF nyquist high"], 2)
        if not np.isfinite(iv.value):
            parts.append(f"{size} px: no ReLU and SP pair past the cap")
            continue
        parts.append(f"{size} px: {iv.value:.2f} [{iv.low:.2f}, {iv.high:.2f}], "
                     f"{trend_word(iv, 'SP higher', 'SP lower', null=1.0)}")
    return "SP/ReLU VanillaGrad EF ratio (Nyquist EF; interval over images): " + "; ".join(parts) + "."


# ------------------------------------------------------------------------------------------------- JPEG effect
def jpeg_effect_table(grids: dict[str, Sequence[dict]], reference: str = "mnist5k", metric: str = "ef"):
    """Per dataset variant and beta: networks past the cap, mean VanillaGrad ``metric`` (x1e5 for "ef"), and the
    ratio to the ``reference`` dataset's mean at the same beta with a bootstrap interval over networks."""
    import pandas as pd

    scale = 1e5 if metric == "ef" else 1.0
    per = {name: _per_network([r for r in recs if r["train"]["cap_reached"]], metric) for name, recs in grids.items()}
    ref = per.get(reference)
    rows = []
    for name, p in per.items():
        for beta, g in p.groupby("beta"):
            row = {"dataset": name, "activation": g["activation"].iloc[0], "beta": beta, "networks": len(g),
                   "EF mean": g["value"].mean() * scale, "ratio to reference": math.nan, "low": math.nan,
                   "high": math.nan}
            if ref is not None and name != reference and (ref["beta"] == beta).any():
                iv = bootstrap_ratio_ci(g["value"], ref[ref["beta"] == beta]["value"])
                row.update({"ratio to reference": iv.value, "low": iv.low, "high": iv.high})
            rows.append(row)
    return pd.DataFrame(rows, columns=["dataset", "activation", "beta", "networks", "EF mean", "ratio to reference",
                                       "low", "high"])


def jpeg_effect_sentence(table, grids: dict[str, Sequence[dict]], reference: str = "mnist5k") -> str:
    """Per processed variant: the range of its EF ratios to the reference over the betas, which of them an interval
    separates from 1, and whether the EF-vs-beta ordering survives (Spearman of the per-beta means)."""
    if table is None or len(table) == 0:
        return "The JPEG-effect grid was not run."
    parts = []
    for name in [n for n in grids if n != reference]:
        t = table[(table["dataset"] == name) & np.isfinite(table["ratio to reference"])]
        if t.empty:
            parts.append(f"{name}: no network comparable with the reference")
            continue
        moved = [f"{_beta(b)} {r:.3f} [{lo:.3f}, {hi:.3f}]" for b, r, lo, hi in
                 zip(t["beta"], t["ratio to reference"], t["low"], t["high"])
                 if np.isfinite(lo) and (lo > 1 or hi < 1)]
        means = table[table["dataset"] == name].set_index("beta")["EF mean"]
        text, r = rho_text(means.index, means.values)
        parts.append(f"{name}: EF ratio to {reference} between {t['ratio to reference'].min():.3f} and "
                     f"{t['ratio to reference'].max():.3f} over the betas; an interval excludes 1 for "
                     f"{', '.join(moved) if moved else 'none of them'}; EF vs β {text}")
    return "; ".join(parts) + "."
