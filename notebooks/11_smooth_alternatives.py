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
#   densities, $\sigma = \pi/(\sqrt{3}\beta)$ (`gaussian:σ`, the Lemma 1 chapter; this matching is this project's own
#   choice: the paper names no correspondence). Each network's own VanillaGrad has
#   an explanation gap of zero. (With `smooth_grad_on_trained`, each is also explained by SmoothGrad; the
#   explanation-gap chapter does this for the SP networks.)
# * **Explain-time post-hoc transforms of the ReLU network**, no retraining: *BetaSmooth* (Zennit's rule: the forward pass is
#   the ReLU network's, the backward pass goes through every ReLU as if it were SP($\beta$), i.e. its derivative
#   $\mathbb{1}[z>0]$ becomes $\mathrm{sigmoid}(\beta z)$), *low-pass* (FORGrad: VanillaGrad with the Fourier
#   coefficients above a radial cut-off, in cycles per pixel, set to zero) and SmoothGrad. BetaSmooth and low-pass
#   are post-hoc transforms of the gradient, not surrogates: no smoother model $\tilde f$ exists whose gradient they
#   are. None of the three is the model's own gradient: their gap to it is measured in the paper's gradient form,
#   $\lVert e - \nabla_x g\rVert^2 / \lVert \nabla_x g\rVert^2$, and with the paper's table arithmetic,
#   $|\overline{\mathrm{EF}}(e) - \overline{\mathrm{EF}}(\nabla_x g)|$ (Eq. {eq}`eq-gap`).
#
# Everything lands on one plane: complexity (EF of the explanation) against faithfulness, measured three ways.

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
tail_half_widths = [25.0, 100.0, 200.0]
tail_reference = 0.5
faithfulness_images = 50
faithfulness_metrics = ["PixelFlipping", "RegionPerturbation", "MPRT", "RandomLogit", "Sparseness", "Complexity"]
randomised_methods = ["vanilla_grad", "grad_cam", "guided_grad_cam", "guided_backprop", "captum_guided_backprop",
                      "captum_guided_grad_cam", "deeplift", "beta_smooth_grad", "lowpass_grad"]
device = "auto"

# %% tags=["hide-input"]
import math

import matplotlib.pyplot as plt
import pandas as pd

from spectral_lib import companion
from spectral_lib.companion.plots import show_maps
from spectral_lib.experiments import (method_means, paper_gap_table, points_from_params, run_points, split_capped,
                                      tables, verdicts)
from spectral_lib.experiments.grids import smooth_alternatives_param_sets
from spectral_lib.experiments.verdicts_lemma1 import (POWER, matched_gaussian_sentence, tail_measures_table,
                                                      tail_ranking_sentences)
from spectral_lib.experiments.faithfulness import faithfulness_table, run_faithfulness
from spectral_lib.experiments.tradeoff import pareto_front, plane_table
from spectral_lib.experiments.verdicts_plane import plane_sentences
from spectral_lib.metrics.faithfulness import FaithfulnessSettings
from spectral_lib.explain import method_label
from spectral_lib.nn import activation_family, make_activation
from spectral_lib.theory import measure_power_1d

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
# the activation on $[-100, 100)$ times a Gaussian window, FFT). Two kinds of tail above angular frequency
# `tail_cutoff` (radians per unit pre-activation), side by side in the table:
#
# * the **windowed tail mass**, the share of that measured power above the cut-off, at each window half-width of
#   `tail_half_widths`. Its denominator is the window's (none of these activations has finite energy), so it falls
#   with the half-width, ReLU's as about $L^{-3}$ (the Lemma 1 chapter); values below 1e-14 are round-off;
# * the window-free **tail power** $T(c)$ (Eq. {eq}`eq-tail-power`, closed form for every activation here) and the
#   scale-free **band ratio** $T(c)/T(c_0)$ with $c_0$ = `tail_reference`.
#
# Right: the window-free tail power against the mean VanillaGrad EF of the networks built from the activation (paper
# definition, $\times 10^5$; kept networks only). The sentences give the rank correlation with EF for every measure,
# with n and p, and control for the networks' training length (epochs to the cap).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Power spectra of the activations, normalised to total power 1, with the tail cut-off in grey (left); each activation's window-free tail power against the mean VanillaGrad EF of its networks (right).", "name": "fig-09-tails"}}
tails = tail_measures_table(trained, P["tail_cutoff"], P["tail_half_widths"], P["tail_reference"])
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
shown = tails[POWER]
ax[1].scatter(shown, tails["EF mean"], c=[colors[n] for n in tails.index])
if tails["EF std"].notna().any():
    ax[1].errorbar(shown, tails["EF mean"], yerr=tails["EF std"].fillna(0), fmt="none", ecolor="gray", lw=0.8)
for name, row in tails.iterrows():
    ax[1].annotate(name, (row[POWER], row["EF mean"]), fontsize=6, xytext=(3, 2),
                   textcoords="offset points")
ax[1].set_xscale("log")
ax[1].set_xlabel(f"activation tail power above ω = {P['tail_cutoff']:g} (window-free)")
ax[1].set_ylabel("VanillaGrad EF x1e5 (paper)")
ax[1].set_title("the activation's tail vs its network's EF", fontsize=9)
fig.tight_layout(); plt.show()

# %% tags=["hide-input"]
lines = [tail_ranking_sentences(tails, P["tail_half_widths"], P["tail_cutoff"]),
         matched_gaussian_sentence(trained, P["gaussian_betas"])]
companion.markdown("\n\n".join(line for line in lines if line))
companion.save_table(tails, "activation_tail_vs_ef")
tails.assign(**{c: tails[c].map("{:.2e}".format) for c in tails.columns if "mass" in c or "power" in c
                or "ratio" in c}).round(3)

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

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Maps of two test digits from the ReLU network: its own gradient (VanillaGrad), SmoothGrad and the explain-time post-hoc transforms.", "name": "fig-09-surrogate-maps"}}
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
# Every (model, method) on one plane: horizontal, EF of the explanation (complexity, paper definition). Three
# vertical axes, one per panel of {numref}`fig-09-plane`:
#
# * **left, the faithfulness axis**: the paper's formal gap in its gradient form, $\lVert e - \nabla_x g\rVert^2 /
#   \lVert\nabla_x g\rVert^2$ per image between the explanation and its model's own gradient (raw attributions,
#   mean over the images), zero only for a map that agrees with the gradient pixel by pixel. The trained networks'
#   own gradients sit on the zero axis *by definition* (filled circles, one colour per network); the post-hoc
#   transforms of the ReLU network (BetaSmooth, low-pass; SmoothGrad) are joined by lines over their settings; the
#   grey band is the front (no other point is both simpler and closer to its model's gradient);
# * **middle, an independent test**: Quantus's PixelFlipping (the normalised area under the predicted class's
#   probability as the most relevant pixels are replaced by the dataset mean, lower is more faithful, the gap
#   chapter's settings, on the first `faithfulness_images` images), which scores every point, the trained networks'
#   own gradients included: it asks whether a simpler own gradient predicts less well what the network does;
# * **right, for comparison only**: the paper's $\Delta$EF, a difference of two complexities, which for these
#   points is $|x - x_{\text{ReLU}}|$ of the horizontal axis (a V shape, not a measure of faithfulness).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "The complexity-faithfulness plane: EF of each explanation against its gradient-form gap to its model's own gradient (left), against Quantus PixelFlipping (middle, lower is more faithful) and against the paper's ΔEF (right, a difference of complexities). Trained networks' own gradients lie on the zero-gap axis of the left and right panels by definition.", "name": "fig-09-plane"}}
fsettings = FaithfulnessSettings.chapter(metrics=tuple(P["faithfulness_metrics"]))
fkw = dict(n_images=P["faithfulness_images"], randomised=P["randomised_methods"])
t_recs, t_faith = run_faithfulness(grids["trained"], fsettings, P["cache_dir"], control=False, **fkw)
s_recs, s_faith = run_faithfulness(grids["surrogates"], fsettings, P["cache_dir"], control=True, **fkw)  # as chapter 5
faith = faithfulness_table(t_recs + s_recs, t_faith + s_faith)
planes = {"paper": plane_table(trained + surrogates, "ef", 1e5, faith),
          "nyquist": plane_table(trained + surrogates, "ef_nyquist", 1.0, faith)}
plane = planes["paper"]
fam_style = {"BetaSmooth": ("^", "crimson"), "low-pass": ("s", "indigo"), "SmoothGrad": ("*", "saddlebrown")}
panels = [("gap_grad", "gradient-form gap ||e - ∇f||² / ||∇f||²"),
          ("PixelFlipping", "Quantus PixelFlipping AUC (lower: more faithful)"),
          ("gap", "ΔEF x1e5 (paper's gap: a difference of complexities)")]
fig, axes = plt.subplots(1, 3, figsize=(14, 4.6))
handles = {}
for ax, (col, ylabel) in zip(axes, panels):
    if col not in plane.columns:
        ax.set_title(f"{col}: not computed", fontsize=9)
        continue
    own = plane[plane["trained"]].sort_values("ef")
    for _, row in own.iterrows():
        handles[f"{row['model']} (own gradient)"], = ax.plot(row["ef"], row[col], "o", ms=7, alpha=0.85,
                                                             color=colors.get(row["model"], "gray"))
    sg = plane[(plane["family"] == "SmoothGrad") & (plane["model"] != "ReLU")]
    for _, row in sg.iterrows():
        handles["SmoothGrad of a trained network"], = ax.plot(row["ef"], row[col], "o", mfc="none", ms=5,
                                                              color=colors.get(row["model"], "gray"))
    relu = plane[(plane["model"] == "ReLU") & ~plane["trained"]]
    for fam, g in relu.groupby("family", sort=False):
        m, c = fam_style.get(fam, ("x", "C6"))
        g = g.sort_values("setting")
        handles[f"ReLU + {fam}"], = ax.plot(g["ef"], g[col], marker=m, color=c, lw=0.8)
        for _, row in g.iterrows():
            ax.annotate(row["label"].replace(fam, ""), (row["ef"], row[col]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    if col != "PixelFlipping":
        front = plane[pareto_front(plane, "ef", col)].sort_values("ef")
        handles["front"], = ax.plot(front["ef"], front[col], color="gray", lw=5, alpha=0.25, zorder=0)
    ax.set_xlabel("EF of the explanation (x1e5, paper)"); ax.set_ylabel(ylabel, fontsize=8)
fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=5, fontsize=7, frameon=False)
fig.tight_layout(rect=(0, 0.05 + 0.035 * math.ceil(len(handles) / 5), 1, 1)); plt.show()

# %% [markdown]
# The sentences compare different methods only. Two methods on the same network are compared paired over its
# images (with several seeds, over the networks); a trained network against the ReLU network's post-hoc points
# compares networks, so its interval is over seeds, and one seed gives none.

# %% tags=["hide-input"]
companion.markdown("**This run (paper EF).**\n\n" + "\n\n".join(
    plane_sentences(planes["paper"], trained + surrogates, P["explain_time_betas"], "gap_grad", "PixelFlipping"))
    + "\n\n**The same front with the Nyquist EF (cycles/pixel).** "
    + plane_sentences(planes["nyquist"], trained + surrogates, gap="gap_grad", metric=None, unit="cycles/pixel",
                      scale=1.0)[0])
cols = ["ef", "gap_grad", "gap_grad_rank", "gap"] + [c for c in ("PixelFlipping", "RegionPerturbation", "MPRT",
                                                                   "Sparseness", "Complexity") if c in plane.columns]
plane_wide = pd.concat({k: pl.set_index(["model", "label"])[[c for c in cols if c in pl.columns]]
                        .assign(front=pareto_front(pl, "ef", "gap_grad").values) for k, pl in planes.items()}, axis=1)
companion.save_table(plane_wide, "plane").round(4)

# %% [markdown]
# **What it shows.** The sentences above are computed from this run. The first section ({numref}`fig-09-tails`) asks
# whether Lemma 1's object, measured on each activation alone, orders the networks' explanation complexity; activations
# differ in more than their tail (their scale, their slope at zero, whether they saturate), so a rank correlation well
# below 1 means the tail is not the whole story for a trained network. The plane separates the two ways of lowering EF:
# training a smoother network moves the explanation left along the zero-gap axis; explain-time smoothing moves it away
# from the axis, by the distance the gradient-form gap measures. That axis is zero for an own gradient by
# definition, so the middle panel adds a test that does not know which map is the gradient: whether the network's
# output falls when the map's most relevant pixels are removed. BetaSmooth keeps the ReLU network's forward pass and
# only smooths its backward pass, so it is not the gradient of any SP network; the plane's last sentences compare it
# with the SP network of the same $\beta$ trained from scratch. The paper and Nyquist EF can disagree on the
# direction of a change: the paper's definition keeps the zero frequency in its normalisation, so a change in how much
# of a rank-normalised map's power sits outside its mean moves it (ties are one such change: the toolkit chapter),
# while the Nyquist EF only sees where that power sits.
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
# :label: ex-11-beta-limit
#
# BetaSmooth replaces each ReLU's derivative $\mathbb{1}[z>0]$ by $\mathrm{sigmoid}(\beta z)$ in the backward pass only. Predict the gap of `--param explain_time_betas=[100]` against the ReLU network's own gradient before you run it, and say why it is not exactly zero.
# ```
#
# ```{solution} ex-11-beta-limit
# :class: dropdown
#
# As $\beta \to \infty$, $\mathrm{sigmoid}(\beta z) \to \mathbb{1}[z>0]$ for every $z \neq 0$, so the maps tend to VanillaGrad and the gap to zero. At a finite $\beta$ the pre-activations within a few $1/\beta$ of zero are still weighted differently (by about one half at $z = 0$ instead of 0 or 1), so the gap is small but not zero; how small depends on how many pre-activations the trained network puts near zero.
# ```
#
# ```{exercise}
# :label: ex-11-scale
#
# The tail mass is measured on the activation at unit scale. If a network multiplies every pre-activation of an SP($\beta$) layer by $c$ (and divides the next layer's weights by $c$), which SP does it effectively use? What does this say about comparing tail masses across activation families?
# ```
#
# ```{solution} ex-11-scale
# :class: dropdown
#
# $\mathrm{SP}_\beta(cx) = c\,\mathrm{SP}_{c\beta}(x)$, so the layer computes the same function as SP($c\beta$) up to a factor that the next layer absorbs: the effective smoothness depends on the scale of the learned weights, which the activation-only measure ignores. Within one family at a fixed scale the tail orders the smoothing; across families (Tanh saturates, GELU and SiLU are not ReLU convolved with a density) the trained weight scales differ, so the tail mass need not order the networks' EF.
# ```
