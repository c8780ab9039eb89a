# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Smooth activations and explain-time smoothing
#
# **Question.** SP($\beta$) is one way to smooth ReLU. Do other smooth activations (the exact Gaussian smoothing of
# ReLU, GELU, SiLU, ELU, Tanh, Sigmoid) also give simpler explanations, and does the object of Lemma
# {prf:ref}`lem-lemma1`, the tail of the *activation's* power spectrum, predict by how much? And can one skip
# retraining altogether, smoothing the ReLU network's gradient at explanation time?
#
# * **Trained smooth networks.** The EF chapter's architecture and cap rule (simple CNN, Adam, the authors' cap
#   check at epoch ends; networks that miss the cap dropped), one network per activation and seed. ReLU and SP
#   networks with the EF chapter's parameters are shared with it through the cache. The Gaussian-smoothed ReLU
#   $x\,\Phi(x/\sigma) + \sigma\,\varphi(x/\sigma)$ is matched to SP($\beta$) by equal variances of the two smoothing
#   densities, $\sigma = \pi/(\sqrt{3}\beta)$ (`gaussian:σ`, the Lemma 1 chapter). Each network's own VanillaGrad has
#   an explanation gap of zero. (With `smooth_grad_on_trained`, each is also explained by SmoothGrad; the
#   explanation-gap chapter does this for the SP networks.)
# * **Explain-time surrogates of the ReLU network**, no retraining: *BetaSmooth* (Zennit's rule: the forward pass is
#   the ReLU network's, the backward pass goes through every ReLU as if it were SP($\beta$), i.e. its derivative
#   $\mathbb{1}[z>0]$ becomes $\mathrm{sigmoid}(\beta z)$), *low-pass* (FORGrad: VanillaGrad with the Fourier
#   coefficients above a radial cut-off, in cycles per pixel, set to zero) and SmoothGrad. Like SmoothGrad they explain
#   a surrogate, not the model: their explanation gap against the model's own gradient is measured with the paper's
#   arithmetic, $|\overline{\mathrm{EF}}(e) - \overline{\mathrm{EF}}(\nabla_x g)|$ (Eq. {eq}`eq-gap`).
#
# Everything lands on one plane: complexity (EF of the explanation) against unfaithfulness (its gap).

# %% tags=["parameters"]
profile = "quick"
cache_dir = None
dataset = "mnist5k"
model = "simple_cnn"
model_options = {"depth": 2}
activations = ["relu", "sp:5", "sp:1", "sp:0.3", "gelu", "silu", "elu", "tanh", "sigmoid"]
gaussian_betas = [5.0, 1.0]
explain_time_betas = [5.0, 1.0, 0.3]
lowpass_cutoffs = [0.4, 0.25, 0.1]
seeds = [0]
accuracy_cap = 0.9
max_epochs = 30
lr = 1e-3
lr_gamma = 1.0
lr_by_activation = {}
batch_size = 256
image_size = None
augment = False
n_images = 100
noise_std = 0.1
n_samples = 64
smooth_grad_on_trained = False
tail_cutoff = 2.0
device = "auto"

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt
import pandas as pd

from spectral_lib import companion
from spectral_lib.companion.plots import show_maps
from spectral_lib.experiments import (method_means, paper_gap_table, points_from_params, run_points, split_capped,
                                      stats, tables, verdicts)
from spectral_lib.experiments.grids import smooth_alternatives_param_sets
from spectral_lib.experiments.tables import tail_vs_ef_table
from spectral_lib.experiments.tradeoff import pareto_front, plane_table, surrogate_summary
from spectral_lib.explain import method_label
from spectral_lib.nn import activation_family, gaussian_spec, make_activation
from spectral_lib.theory import measure_power_1d, TAIL_FLOOR

P = companion.parameters(globals())
# every grid point of both grids is built and validated before anything is trained
grids = {ps["grid"]: points_from_params(ps) for ps in smooth_alternatives_param_sets(P)}
trained_all = run_points(grids["trained"], P["cache_dir"])
trained, dropped = split_capped(trained_all)
surrogate_all = run_points(grids["surrogates"], P["cache_dir"])
surrogates, _ = split_capped(surrogate_all)

# %% [markdown]
# ## Training under the accuracy cap
#
# One row per activation (mean over seeds). Seconds are those recorded when each network was trained (shared
# networks may have been trained by another chapter, under another machine load).

# %% tags=["hide-input"]
train = tables.training_table(trained_all).assign(
    family=[activation_family(r["config"]["activation"]) for r in trained_all])
companion.markdown(verdicts.dropped_note(dropped, len(trained_all), P["accuracy_cap"]))
companion.save_table(train, "training")
train.groupby("activation", sort=False).agg({"family": "first", "lr": "first", "cap reached": "mean",
                                             "epochs": "mean", "test acc": "mean", "seconds": "mean"}).round(3)

# %% [markdown]
# ## Lemma 1's object for every activation, next to its network's EF
#
# {numref}`fig-09-tails`, left: the activation's power spectrum measured as in the Lemma 1 chapter (`measure_power_1d`:
# the activation on $[-100, 100)$ times a Gaussian window, FFT) and its **tail mass**, the share of the power above
# angular frequency `tail_cutoff` (radians per unit pre-activation). Values below 1e-14 are round-off: the spectrum has
# reached the floor of double precision there, so they only say "lighter than that". Next to it: the mean VanillaGrad EF
# of the networks built from the activation (paper definition, $\times 10^5$; kept networks only), right.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Power spectra of the activations, normalised to total power 1, with the tail cut-off in grey (left); each activation's tail mass against the mean VanillaGrad EF of its networks (right; the dotted line is the round-off floor).", "name": "fig-09-tails"}}
tails = tail_vs_ef_table(trained, P["tail_cutoff"])
names = list(dict.fromkeys(r["activation"] for r in trained_all))
colors = {n: plt.get_cmap("tab10")(i % 10) for i, n in enumerate(n for n in names if n != "ReLU")}
colors["ReLU"] = "k"
fig, ax = plt.subplots(1, 2, figsize=(10.5, 3.8))
for name, row in tails.iterrows():
    omega, power = measure_power_1d(make_activation(row["spec"]))
    keep = (omega > 0.2) & (omega < 40)
    ax[0].loglog(omega[keep], (power[keep] / power.sum()).clamp(min=1e-24), label=name, color=colors[name],
                 lw=2 if row["family"] == "ReLU" else 1,
                 ls="-" if row["family"] in ("ReLU", "SP") else "--" if row["family"] == "Gaussian" else ":")
ax[0].axvline(P["tail_cutoff"], c="gray", lw=0.8)
ax[0].set_xlabel(r"$\omega$ (radians per unit pre-activation)"); ax[0].set_ylabel("power / total power")
ax[0].set_title("activation power spectra (cut-off grey)", fontsize=9); ax[0].legend(fontsize=6, ncol=2)
shown = tails["tail mass"].clip(lower=TAIL_FLOOR)
ax[1].scatter(shown, tails["EF mean"], c=[colors[n] for n in tails.index])
if tails["EF std"].notna().any():
    ax[1].errorbar(shown, tails["EF mean"], yerr=tails["EF std"].fillna(0), fmt="none", ecolor="gray", lw=0.8)
for name, row in tails.iterrows():
    ax[1].annotate(name, (max(row["tail mass"], TAIL_FLOOR), row["EF mean"]), fontsize=6, xytext=(3, 2),
                   textcoords="offset points")
ax[1].set_xscale("log"); ax[1].axvline(TAIL_FLOOR, c="gray", ls=":", lw=0.8)
ax[1].set_xlabel(f"activation tail mass above ω = {P['tail_cutoff']:g} (floor dotted)")
ax[1].set_ylabel("VanillaGrad EF x1e5 (paper)")
ax[1].set_title("the activation's tail vs its network's EF", fontsize=9)
fig.tight_layout(); plt.show()

# %% tags=["hide-input"]
lines = []
if len(tails) >= 2:
    rho = stats.spearman(tails["tail mass"].clip(lower=TAIL_FLOOR), tails["EF mean"])
    lines.append(
        f"**This run.** Over the {len(tails)} activations whose networks passed the cap, the Spearman rank "
        f"correlation between the activation's tail mass above $\\omega = {P['tail_cutoff']:g}$ (values at the "
        f"floor tied) and the network's mean VanillaGrad EF is **{verdicts.fmt(rho, 2)}** "
        f"({stats.describe_correlation(rho)}).")
    lightest, heaviest = tails["EF mean"].idxmin(), tails["EF mean"].idxmax()
    lines.append(f"The lowest EF is {lightest}'s ({tails.loc[lightest, 'EF mean']:.2f} x1e-5, tail mass "
                 f"{tails.loc[lightest, 'tail mass']:.1e}), the highest {heaviest}'s "
                 f"({tails.loc[heaviest, 'EF mean']:.2f}, tail mass {tails.loc[heaviest, 'tail mass']:.1e}).")
    if "ReLU" in tails.index:
        relu_tail, relu_ef = tails.loc["ReLU", "tail mass"], tails.loc["ReLU", "EF mean"]
        lighter = tails[(tails["tail mass"] < relu_tail) & (tails.index != "ReLU")]
        not_lower = lighter[lighter["EF mean"] >= relu_ef].index.tolist()
        lines.append(f"{len(lighter)} activations have a lighter tail than ReLU ({relu_tail:.1e}); "
                     + (f"all of their networks have a lower EF than ReLU's ({relu_ef:.2f})." if not not_lower else
                        f"of them, {', '.join(not_lower)} do not have a lower EF than ReLU's ({relu_ef:.2f})."))
        heavier = tails[(tails.index != "ReLU") & (tails["tail mass"] >= relu_tail)].index.tolist()
        if heavier:
            lines.append(f"Not lighter-tailed than ReLU at this cut-off: {', '.join(heavier)}.")
pairs = []
for b in P["gaussian_betas"]:
    sp, ga = f"SP({b:g})", next((n for n, r in tails.iterrows() if r["spec"] == gaussian_spec(b)), None)
    if ga is not None and sp in tails.index:
        pairs.append(f"{ga} {tails.loc[ga, 'EF mean']:.2f} vs {sp} {tails.loc[sp, 'EF mean']:.2f}")
if pairs:
    lines.append("Matched Gaussian smoothing against SP at the same $\\beta$ (mean EF x1e-5): "
                 + "; ".join(pairs) + ".")
companion.markdown(" ".join(lines) if lines else "Too few networks passed the cap to compare activations.")
companion.save_table(tails, "activation_tail_vs_ef")
tails.assign(**{"tail mass": tails["tail mass"].map("{:.2e}".format)}).round(3)

# %% [markdown]
# ## Explain-time smoothing of the ReLU network
#
# The same ReLU network(s), explained without retraining. EF (paper definition, $\times 10^5$) and the explanation
# gap in the paper's arithmetic; then the same with the Nyquist EF (cycles per pixel, zero frequency left out).

# %% tags=["hide-input"]
sur = pd.concat({"EF x1e5": method_means(surrogates, "ef", 1e5), "gap x1e5": paper_gap_table(surrogates, "ef", 1e5),
                 "EF nyquist": method_means(surrogates, "ef_nyquist", 1.0),
                 "gap nyquist": paper_gap_table(surrogates, "ef_nyquist", 1.0)}, axis=1)
sur.columns = [a for a, _ in sur.columns]
sur.index = [method_label(m) for m in sur.index]
companion.save_table(sur, "surrogates_of_relu").round(4)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Maps of two test digits from the ReLU network: its own gradient (VanillaGrad) and the explain-time surrogates.", "name": "fig-09-surrogate-maps"}}
if surrogates:
    r0 = surrogates[0]
    methods = list(r0["examples"])
    rows = [[r0["images"][i, 0]] + [r0["examples"][m][i] for m in methods] for i in range(min(2, len(r0["images"])))]
    show_maps(rows, [f"image {i + 1}" for i in range(len(rows))],
              ["image"] + [method_label(m).replace("(", "\n(") for m in methods], size=1.3)
    plt.show()

# %% [markdown]
# ## The complexity-faithfulness plane
#
# In {numref}`fig-09-plane` every (model, method): horizontal, EF of the explanation (complexity); vertical, its gap to
# the model's own gradient (unfaithfulness). The trained networks' own VanillaGrad sit on the zero-gap axis (filled
# circles, one colour per network; hollow circles: their SmoothGrad, when computed); the ReLU network's explain-time
# surrogates are joined by lines over their settings. The grey band joins the points of the front (no other point is
# both simpler and closer to its model's gradient). Left: paper EF; right: Nyquist EF.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The complexity-faithfulness plane: EF of each explanation against its gap to its model's own gradient, with the paper's EF (left) and the Nyquist EF (right). Trained networks' own gradients lie on the zero-gap axis.", "name": "fig-09-plane"}}
planes = {"paper": plane_table(trained + surrogates, "ef", 1e5),
          "nyquist": plane_table(trained + surrogates, "ef_nyquist", 1.0)}
fam_style = {"BetaSmooth": ("^", "crimson"), "low-pass": ("s", "indigo"), "SmoothGrad": ("*", "saddlebrown")}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.9))
handles = {}
for ax, (kind, plane) in zip(axes, planes.items()):
    own = plane[plane["trained"]].sort_values("ef")
    for _, row in own.iterrows():
        handles[f"{row['model']} (own gradient)"], = ax.plot(row["ef"], 0.0, "o", ms=7, alpha=0.85,
                                                             color=colors.get(row["model"], "gray"))
    sg = plane[(plane["family"] == "SmoothGrad") & (plane["model"] != "ReLU")]
    for _, row in sg.iterrows():
        handles["SmoothGrad of a trained network"], = ax.plot(row["ef"], row["gap"], "o", mfc="none", ms=5,
                                                              color=colors.get(row["model"], "gray"))
    relu = plane[(plane["model"] == "ReLU") & ~plane["trained"]]
    for fam, g in relu.groupby("family", sort=False):
        m, c = fam_style.get(fam, ("x", "C6"))
        g = g.sort_values("setting")
        handles[f"ReLU + {fam}"], = ax.plot(g["ef"], g["gap"], marker=m, color=c, lw=0.8)
        for _, row in g.iterrows():
            ax.annotate(row["label"].replace(fam, ""), (row["ef"], row["gap"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    front = plane[pareto_front(plane)].sort_values("ef")
    handles["front"], = ax.plot(front["ef"], front["gap"], color="gray", lw=5, alpha=0.25, zorder=0)
    ax.set_xlabel(f"EF of the explanation ({'x1e5, paper' if kind == 'paper' else 'cycles/px, Nyquist'})")
    ax.set_ylabel("gap to the model's own gradient"); ax.set_title(f"{kind} EF", fontsize=9)
fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=5, fontsize=7, frameon=False)
fig.tight_layout(rect=(0, 0.05 + 0.035 * math.ceil(len(handles) / 5), 1, 1)); plt.show()

# %% tags=["hide-input"]
def plane_verdict(plane: pd.DataFrame, kind: str, unit: str) -> str:
    if plane.empty:
        return f"*{kind} EF:* no network passed the cap."
    front = plane[pareto_front(plane)].sort_values("ef")
    words = [f"*{kind} EF ({unit}).* The front (points that no other point beats on both EF and gap) is: "
             + ", ".join(f"{r.model} {r.label} ({r.ef:.3g}, gap {r.gap:.3g})" for r in front.itertuples()) + "."]
    summ = surrogate_summary(plane, "ReLU")
    if not summ.empty:
        best = summ.iloc[0]
        words.append(f"On the ReLU network the surrogate reaching the lowest EF is **{best['label']}** (EF "
                     f"{best['ef']:.3g} at a gap of {best['gap']:.3g}); per family, the lowest EF: "
                     + "; ".join(f"{r['label']}: {r['ef']:.3g} (gap {r['gap']:.3g}), matched or beaten at zero "
                                 f"gap by {', '.join(r['trained at most as complex']) or 'no trained network'}"
                                 for f, r in summ.iterrows()) + ".")
        sg = plane[(plane["model"] == "ReLU") & (plane["method"] == "smooth_grad")]
        if len(sg):
            g0 = float(sg["gap"].iloc[0])
            within = plane[(plane["model"] == "ReLU") & ~plane["trained"] & (plane["gap"] <= g0)]
            w = within.loc[within["ef"].idxmin()]
            words.append(f"Within SmoothGrad's gap on the ReLU network ({g0:.3g}), the lowest EF among the "
                         f"{len(within)} surrogate points is {w['label']}'s ({w['ef']:.3g}, gap {w['gap']:.3g}).")
        vg = plane[(plane["model"] == "ReLU") & plane["trained"]]
        bs = plane[(plane["model"] == "ReLU") & (plane["family"] == "BetaSmooth")]
        if len(vg) and len(bs):
            up = int((bs["ef"] > float(vg["ef"].iloc[0])).sum())
            words.append(f"BetaSmooth {'raises' if up == len(bs) else 'lowers' if up == 0 else 'raises or lowers'} "
                         f"the EF of the ReLU network's gradient ({float(vg['ef'].iloc[0]):.3g}) at "
                         f"{up if up else len(bs)} of its {len(bs)} settings.")
    sp = plane[plane["trained"] & plane["model"].str.startswith("SP(")]
    if len(sp):
        s = sp.loc[sp["ef"].idxmin()]
        worse = plane[~plane["trained"] & (plane["model"] == "ReLU") & (plane["ef"] >= s["ef"])]
        better = plane[~plane["trained"] & (plane["model"] == "ReLU") & (plane["ef"] < s["ef"])]
        words.append(f"The simplest trained SP network, {s['model']}, sits on the zero-gap axis at EF {s['ef']:.3g}: "
                     f"{len(worse)} of the ReLU network's {len(worse) + len(better)} surrogate points are no simpler "
                     f"(and have a gap)" + (f"; the simpler {'one' if len(better) == 1 else f'{len(better)}'} "
                                             f"({', '.join(better['label'])}) {'pays' if len(better) == 1 else 'pay'} "
                                             f"a gap of at least {better['gap'].min():.3g}" if len(better) else "")
                     + ".")
        for b in P["explain_time_betas"]:
            e = plane[(plane["model"] == "ReLU") & (plane["method"] == f"beta_smooth_grad:{b:g}")]
            t = plane[plane["trained"] & (plane["model"] == f"SP({b:g})")]
            if len(e) and len(t):
                words.append(f"At $\\beta$ = {b:g}: explain-time BetaSmooth on ReLU {e['ef'].iloc[0]:.3g} (gap "
                             f"{e['gap'].iloc[0]:.3g}) vs trained SP({b:g}) {t['ef'].iloc[0]:.3g} (gap 0).")
    return " ".join(words)


companion.markdown("**This run.**\n\n" + "\n\n".join(plane_verdict(pl, k, u) for (k, pl), u in
                                                 zip(planes.items(), ["x1e-5", "cycles/pixel"])))
plane_wide = pd.concat({k: pl.set_index(["model", "label"])[["ef", "gap"]].assign(front=pareto_front(pl).values)
                        for k, pl in planes.items()}, axis=1)
companion.save_table(plane_wide, "plane").round(4)

# %% [markdown]
# **What it shows.** The sentences above are computed from this run. The first section ({numref}`fig-09-tails`) asks
# whether Lemma 1's object, measured on each activation alone, orders the networks' explanation complexity; activations
# differ in more than their tail (their scale, their slope at zero, whether they saturate), so a rank correlation well
# below 1 means the tail is not the whole story for a trained network. The plane separates the two ways of lowering EF:
# training a smoother network moves the explanation left along the zero-gap axis; explain-time smoothing moves it away
# from the axis, by exactly the amount that the paper's explanation gap counts. BetaSmooth keeps the ReLU network's
# forward pass and only smooths its backward pass, so it is not the gradient of any SP network; the last sentences
# compare it with the SP network of the same $\beta$ trained from scratch. The paper and Nyquist EF can disagree on the
# direction of a change: the paper's definition keeps the zero frequency in its normalisation, so a change in how much
# of a rank-normalised map's power sits outside its mean moves it, while the Nyquist EF only sees where that power sits:
# the two panels of {numref}`fig-09-plane` need not agree.
#
# **Compared with the paper.** The paper trains only SP($\beta$) and proposes the Gaussian smoothing of ReLU as the
# idealised object that SP approximates (Lemma {prf:ref}`lem-lemma1`); it measures SmoothGrad's gap but not explain-time
# BetaSmooth or low-pass filtering, and it does not train GELU, SiLU, ELU, Tanh or Sigmoid networks. This chapter is an
# extension: same networks, same cap, same gap arithmetic, 28x28 maps (only orderings and ratios compare with the
# paper's 224x224 numbers).

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-09-beta-limit
#
# BetaSmooth replaces each ReLU's derivative $\mathbb{1}[z>0]$ by $\mathrm{sigmoid}(\beta z)$ in the backward pass only. Predict the gap of `--param explain_time_betas=[100]` against the ReLU network's own gradient before you run it, and say why it is not exactly zero.
# ```
#
# ```{solution} ex-09-beta-limit
# :class: dropdown
#
# As $\beta \to \infty$, $\mathrm{sigmoid}(\beta z) \to \mathbb{1}[z>0]$ for every $z \neq 0$, so the maps tend to VanillaGrad and the gap to zero. At a finite $\beta$ the pre-activations within a few $1/\beta$ of zero are still weighted differently (by about one half at $z = 0$ instead of 0 or 1), so the gap is small but not zero; how small depends on how many pre-activations the trained network puts near zero.
# ```
#
# ```{exercise}
# :label: ex-09-scale
#
# The tail mass is measured on the activation at unit scale. If a network multiplies every pre-activation of an SP($\beta$) layer by $c$ (and divides the next layer's weights by $c$), which SP does it effectively use? What does this say about comparing tail masses across activation families?
# ```
#
# ```{solution} ex-09-scale
# :class: dropdown
#
# $\mathrm{SP}_\beta(cx) = c\,\mathrm{SP}_{c\beta}(x)$, so the layer computes the same function as SP($c\beta$) up to a factor that the next layer absorbs: the effective smoothness depends on the scale of the learned weights, which the activation-only measure ignores. Within one family at a fixed scale the tail orders the smoothing; across families (Tanh saturates, GELU and SiLU are not ReLU convolved with a density) the trained weight scales differ, so the tail mass need not order the networks' EF.
# ```
