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
# # The explanation gap: what post-hoc smoothing costs in faithfulness
#
# **Claim** {cite}`mehrpanah2025complexity`. Post-hoc methods lower EF by explaining an implicit smoother *surrogate*
# of the model instead of the model. The **explanation gap** measures how far the surrogate's explanation is from
# the model's own gradient. Formally it is a squared $L^2$ distance between the two (spectra of the) gradients; in
# its tables the paper reports the change of EF between the means over the evaluated images,
#
# $$
# \Delta\mathrm{EF}(e) = \left|\overline{\mathrm{EF}}(e) - \overline{\mathrm{EF}}(\nabla_x g)\right|,
# $$ (eq-gap)
#
# where $\nabla_x g$ is VanillaGrad (gap zero by definition) and the bars are means over images. The paper's
# finding, as a third-party summary of it reports (its tables could not be read in any copy available to us; see
# the reproducibility page): SmoothGrad, "GradCAM" and Guided Backprop have large gaps for ReLU networks, and an SP
# network gets a low EF from its own gradient with no gap.
#
# $\Delta$EF compares two *complexities*: it is zero for any map whose EF happens to equal the gradient's, and zero
# by definition for a model's own gradient, so by itself it says nothing about faithfulness. This chapter therefore
# also measures (i) the paper's formal gap in its **gradient form**, per image,
#
# $$
# \mathrm{gap}_\nabla(e) = \frac{\lVert e - \nabla_x g \rVert^2}{\lVert \nabla_x g \rVert^2},
# $$ (eq-gap-grad)
#
# on the raw (channel-summed) attributions and on their rank maps, and (ii) **faithfulness as the field measures
# it**, with Quantus's own metric classes {cite}`hedstrom2023quantus`: perturbation tests, a model-randomisation
# sanity check, and the field's complexity metrics beside EF.
#
# **Setup.** The same networks as the EF-vs-$\beta$ chapter (cache shared, same cap rule; uncapped networks dropped),
# each explained two ways:
#
# * **as the authors' code runs it** (`captum_*`, on the logits, captum 0.9 {cite}`kokhlikyan2020captum`):
#   Integrated Gradients {cite}`sundararajan2017axiomatic` with a zero baseline and captum's defaults, DeepLift
#   {cite}`shrikumar2017deeplift`, Guided Backprop {cite}`springenberg2015striving` and GuidedGradCam at the last
#   max-pool with nearest upsampling, which the paper's tables call "GradCAM";
# * **our versions** (on the log-softmax of the predicted class): Integrated Gradients (midpoint rule), plain
#   Grad-CAM {cite}`selvaraju2017gradcam` at the last conv layer (bilinear), Guided Grad-CAM and Guided Backprop
#   generalised to smooth activations, DeepLIFT.
#
# VanillaGrad and SmoothGrad {cite}`smilkov2017smoothgrad` (64 noisy copies, noise std 0.1) are the same in both.
# The ReLU network is also explained by two **post-hoc transforms** of its gradient (not surrogates: no smoother
# model $\tilde f$ exists whose gradient they are), the chapter on smooth alternatives' BetaSmooth (the backward pass
# through every ReLU as if it were SP($\beta$)) and a Fourier low-pass of the gradient, at the settings
# `explain_time_betas` and `lowpass_cutoffs` (shared with that chapter through the cache).

# %% tags=["parameters"]
profile = "quick"
cache_dir = None
dataset = "mnist5k"
model = "simple_cnn"
model_options = {"depth": 2}
activations = ["relu", "sp:5", "sp:1", "sp:0.3"]
seeds = [0]
methods = ["vanilla_grad", "smooth_grad", "captum_integrated_gradients", "integrated_gradients",
           "captum_guided_grad_cam", "guided_grad_cam", "grad_cam", "captum_guided_backprop", "guided_backprop",
           "captum_deeplift", "deeplift"]
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
ig_steps = 32
explain_time_betas = [5.0, 1.0, 0.3]
lowpass_cutoffs = [0.4, 0.25, 0.1]
faithfulness_images = 50
faithfulness_metrics = ["PixelFlipping", "RegionPerturbation", "MPRT", "RandomLogit", "Sparseness", "Complexity"]
randomised_methods = ["vanilla_grad", "grad_cam", "guided_grad_cam", "guided_backprop", "captum_guided_backprop",
                      "captum_guided_grad_cam", "deeplift", "beta_smooth_grad", "lowpass_grad"]
device = "auto"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd

from spectral_lib import companion
from spectral_lib.companion.published import secondary_table, SOURCE_NOTE
from spectral_lib.experiments import (dedupe, method_means, paper_gap_table, points_from_params, split_capped,
                                      verdicts)
from spectral_lib.experiments import verdicts_faithfulness as vf
from spectral_lib.experiments.faithfulness import faithfulness_table, metric_pivot, run_faithfulness
from spectral_lib.experiments.grids import gap_param_sets
from spectral_lib.experiments.ties import tie_sentences, tie_table
from spectral_lib.experiments.verdicts_gap import gap_claim_sentences
from spectral_lib.explain import PAPER_ROWS
from spectral_lib.metrics.faithfulness import FaithfulnessSettings

P = companion.parameters(globals())
# everything is validated before any work: the Quantus settings, the post-hoc grid, then every grid point
settings = FaithfulnessSettings.chapter(metrics=tuple(P["faithfulness_metrics"]))
gap_params, posthoc_params = gap_param_sets(P)  # the sweep lists the same two grids
grid, posthoc_grid = points_from_params(gap_params), points_from_params(posthoc_params)
all_records, entries = run_faithfulness(grid + posthoc_grid, settings, P["cache_dir"],
                                        n_images=P["faithfulness_images"], randomised=P["randomised_methods"])
records, dropped = split_capped(all_records[: len(grid)])
kept = [(r, e) for r, e in zip(all_records, entries) if r["train"]["cap_reached"]]
both = dedupe([r for r, _ in kept])  # the gap grid and the post-hoc grid, each (network, method) once
companion.markdown(verdicts.dropped_note(dropped, len(grid), P["accuracy_cap"]))

# %% [markdown]
# ## EF per method and activation (paper definition, ×1e5)

# %% tags=["hide-input"]
ef_tab = method_means(both, "ef", 1e5)
companion.save_table(ef_tab, "ef_per_method").round(3)

# %% [markdown]
# ## Explanation gap ΔEF (×1e5), the paper's arithmetic
#
# $|\text{mean EF(method)} - \text{mean EF(VanillaGrad)}|$ over the evaluated images (Eq. {eq}`eq-gap`), from the
# unrounded means, as in the paper's tables.

# %% tags=["hide-input"]
gap_tab = paper_gap_table(both, "ef", 1e5)
companion.save_table(gap_tab, "gap_paper_arithmetic").round(3)

# %% [markdown]
# A second, labelled column that we find useful: the mean of the *per-image* absolute differences,
# $\overline{|\mathrm{EF}_i(e) - \mathrm{EF}_i(\nabla_x g)|}$, which does not let an image's increase cancel
# another's decrease (always at least the paper's gap):

# %% tags=["hide-input"]
companion.save_table(method_means(both, "gap_ef", 1e5), "gap_per_image_mean").round(3)

# %% [markdown]
# The same with the Nyquist EF (cycles per pixel, zero frequency left out), and the squared $L^2$ distance between
# the sum-normalised *radial* spectra of the two maps ($\times 10^5$). That distance discards phase (a shifted copy
# of a map scores zero), so it is not the paper's formal gap; the gradient form of Eq. {eq}`eq-gap-grad` is the
# next table.

# %% tags=["hide-input"]
pd.concat({"EF nyquist": method_means(both, "ef_nyquist", 1.0),
           "gap nyquist (paper arithmetic)": paper_gap_table(both, "ef_nyquist", 1.0),
           "radial-spectrum L2 x1e5": method_means(both, "gap_l2", 1e5)}, axis=1).round(4)

# %% [markdown]
# ## The gap in its gradient form
#
# Eq. {eq}`eq-gap-grad` per image, mean over the images: on the raw channel sums (a relative squared error in the
# gradient's units: 0 for the gradient itself, 1 for an all-zero map; a method that explains another quantity, such
# as Integrated Gradients' $x \odot \bar\nabla$ or a CAM, also pays for its difference of scale) and on the rank
# maps (scale-free: any increasing transform of a map scores the same).

# %% tags=["hide-input"]
grad_gap = pd.concat({"raw": method_means(both, "gap_grad_l2", 1.0),
                      "rank maps": method_means(both, "gap_grad_rank_l2", 1.0)}, axis=1)
companion.save_table(grad_gap, "gap_gradient_form").round(3)

# %% [markdown]
# ## Ties
#
# Guided Backprop, Grad-CAM and BetaSmooth maps have many exactly tied pixels (mostly zeros). The paper's maps give
# tied pixels their average rank, a flat plateau that lowers the paper's EF without changing any spatial frequency
# (the toolkit chapter's example); a random tie-break (fixed seed) turns the plateau into noise. Per method: the
# mean fraction of tied pixels and both EF definitions with ties averaged and broken.

# %% tags=["hide-input"]
ties = tie_table(both)
companion.save_table(ties, "ties").round(4)

# %% tags=["hide-input"]
companion.markdown("\n".join(f"* {s}" for s in tie_sentences(both)))

# %% [markdown]
# ## The trade-off, in one picture
#
# In {numref}`fig-gap-plane` each point is one (method, activation): horizontal, complexity (EF of the explanation).
# Left, vertical: the paper's $\Delta$EF against the model's own gradient, a difference of complexities (VanillaGrad
# sits on the horizontal axis by definition). Right, vertical: the gradient-form gap on rank maps (Eq.
# {eq}`eq-gap-grad`), which is zero only for a map that agrees with the gradient pixel by pixel. Lines join a
# method's points over the activations (post-hoc transforms: ReLU only).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "EF of each method's explanation against its ΔEF (left) and its gradient-form gap on rank maps (right), one line per method over the activations.", "name": "fig-gap-plane"}}
fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
markers = "os^vDPX*<>hpd12348"
rank_gap = grad_gap["rank maps"]
for ax, (ys_tab, label) in zip(axes, [(gap_tab, "ΔEF x1e5 vs VanillaGrad (paper's gap)"),
                                      (rank_gap, "gradient-form gap, rank maps")]):
    for i, m in enumerate(ef_tab.index):
        xs, ys = ef_tab.loc[m].values, ys_tab.loc[m].reindex(ef_tab.columns).values
        ax.plot(xs, ys, marker=markers[i % len(markers)], label=m, lw=0.8)
        last = max((j for j in range(len(xs)) if xs[j] == xs[j]), default=None)
        if last is not None:
            ax.annotate(ef_tab.columns[last], (xs[last], ys[last]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel("EF x1e5 (paper definition): complexity"); ax.set_ylabel(label)
axes[0].set_title("each line runs over activations, from smoothest to ReLU (labelled)", fontsize=8)
axes[1].legend(fontsize=6, ncol=2)
fig.tight_layout(); plt.show()

# %% [markdown]
# ## The paper's claims, checked on this run
#
# A claim about activations compares networks, so its interval is a bootstrap over the networks (seeds) of each
# activation; with one seed there is none, and the sentence says so.

# %% tags=["hide-input"]
companion.markdown("\n".join(gap_claim_sentences(records)))

# %% [markdown]
# ## Faithfulness measured independently (Quantus)
#
# The same networks and the first `faithfulness_images` of the same test images, every method above and a
# **random map** control (N(0, 1) noise seeded by the image, independent of the model), scored by Quantus 0.6's own
# metric classes (`spectral_lib.metrics.faithfulness`; settings chosen and checked for 28x28 and 32x32 inputs on
# the simple CNN, 100 MNIST and CIFAR-10 test images, against the random map):
#
# * **PixelFlipping** {cite}`bach2015pixel`: replace the most relevant pixels (by |map|) with the dataset mean
#   (0 in normalised units), 49 pixels per step (16 steps at 28x28, 24 at 32x32; per-image scores rank-correlate
#   1.00 with 16 pixels per step at a third of the cost), and take the normalised area under the predicted class's
#   probability: **lower is more faithful**.
# * **RegionPerturbation** {cite}`samek2017evaluating`: the same with 16 non-overlapping patches (7 px at 28x28, 8 px
#   at 32x32) in order of their summed relevance; the score is the mean drop of the probability (AOPC): **higher is
#   more faithful** (Quantus's class says lower, but its curve is the drop).
# * **MPRT** {cite}`adebayo2018sanity`: the Spearman correlation of |map| with |map| of the same method on the fully
#   randomised network (every layer re-initialised, bottom-up, Quantus's seed): an explanation that depends on what
#   the network learned changes (below 1). **RandomLogit** {cite}`sixt2020explanations`: the SSIM of the map of the
#   predicted class and of a random other class (1: the explanation ignores the class). Both re-explain every image,
#   so they run on the methods of `randomised_methods` (a few backward passes each); SmoothGrad, both Integrated
#   Gradients and captum's DeepLift (32-70 passes) are left out of the budget.
# * **Sparseness** (Gini index of |map|, higher: sparser) and **Complexity** (entropy of |map|, lower: simpler), the
#   field's complexity metrics, beside EF.
#
# Left out of the budget (available with `faithfulness_metrics`): ROAD (noisy linear imputation instead of a
# baseline, 3-4 times dearer), FaithfulnessCorrelation (per-image noisy at an affordable number of runs) and
# Infidelity (Gaussian noise rewards smoothing: it measures faithfulness to the noise-smoothed model, the very
# surrogate in question). Caveats the numbers must be read with: removal tests reward *attribution* maps
# (input times gradient, IG) over *sensitivity* maps (the gradient), because removing pixel $i$ changes the output by
# about $g_i (b - x_i)$; the baseline can change the ranking; and tied pixels are removed in the order numpy's sort
# gives them. Quantus 0.6 defects worked around are listed in the module's documentation (ROAD's first-batch
# summary and its RGB indexing, `np.trapz` gone in NumPy 2.4, RandomLogit's 1000 classes, in-place normalisation).
#
# **Budget.** The chapter's budget for this section is about a minute of a cold build on a 2-core CPU: the Quantus
# calls cost about 60 forward passes per image and method here, so `faithfulness_images` = 50 images (of the 100
# explained) for every method, and the randomisation tests only for the cheap methods. The scores are cached by
# configuration: a rebuild reads them.

# %% tags=["hide-input"]
faith = faithfulness_table([r for r, _ in kept], [e for _, e in kept])
companion.markdown(vf.cost_sentence([e for _, e in kept]))
companion.save_table(faith, "faithfulness")
metric_cols = [m for m in settings.metrics if m in faith.columns]
faith.set_index(["activation", "seed", "label"])[metric_cols + ["gap_grad_l2", "gap_grad_rank_l2", "ef_paper",
                                                                  "delta_ef", "tie_fraction"]].round(4)

# %% [markdown]
# The perturbation scores as method x activation tables (means over the images):

# %% tags=["hide-input"]
pivots = {m: metric_pivot(faith, m) for m in metric_cols if m in ("PixelFlipping", "RegionPerturbation", "MPRT")}
pd.concat(pivots, axis=1).round(3) if pivots else "No perturbation or randomisation metric in this run."

# %% [markdown]
# ### Against the random map and against the model's own gradient
#
# Per network, paired over its images (the same images under both maps; a 95% bootstrap over the images, so each
# statement is about that network). The numbers in brackets are the mean per-image advantage in the metric's units,
# positive meaning more faithful. With 13-19 comparisons per network a few intervals exclude zero by chance.

# %% tags=["hide-input"]
pairs = ([r for r, _ in kept], [e for _, e in kept])
lines = [vf.versus_sentence(*pairs, m, ref) for m in ("PixelFlipping", "RegionPerturbation") if m in metric_cols
         for ref in ("random_map", "vanilla_grad")]
companion.markdown("\n\n".join(lines) or "No perturbation metric in this run.")

# %% [markdown]
# ### Does each explanation change when the network's weights are randomised?

# %% tags=["hide-input"]
companion.markdown("\n\n".join(vf.randomisation_sentence(*pairs, m) for m in ("MPRT", "RandomLogit")
                                 if m in metric_cols) or "No randomisation test in this run.")

# %% [markdown]
# ### EF against the field's complexity metrics, and ΔEF against the independent measures
#
# Rank agreement over the (network, method) rows above (the control left out): if EF measures what the field calls
# complexity, it correlates positively with Quantus' Complexity and negatively with its Sparseness. Then: does
# ranking methods by the paper's $\Delta$EF agree with ranking them by the gradient-form gap, or by the
# perturbation tests (VanillaGrad rows left out: their gaps are zero by construction)?

# %% tags=["hide-input"]
companion.markdown("\n".join(f"* {s}" for s in vf.agreement_sentences(faith) + vf.gap_agreement_sentences(faith)))

# %% [markdown]
# ## Beside the paper's numbers
#
# The paper's own tables were not in any copy we could read (see the reproducibility page). The numbers below are
# **from a third-party summary of the paper, not verified** against it; each paper row stands beside the method that
# really computes it (`PAPER_ROWS`: the paper's "GradCAM" is captum's GuidedGradCam, its "GuidedBP" captum's
# GuidedBackprop, which is the plain gradient on SP networks).

# %% tags=["hide-input"]
print(SOURCE_NOTE)
paper = secondary_table("imagenette_cnn_relu_vs_sp09")
paper_name = {"vanilla_grad": "VanillaGrad", "smooth_grad": "SmoothGrad", "integrated_gradients": "IntGrad",
              "guided_backprop": "GuidedBP", "deeplift": "DeepLift", "grad_cam": "GradCAM"}
sp_cols = [c for c in ef_tab.columns if c.startswith("SP(")]
near = min(sp_cols, key=lambda c: abs(float(c[3:-1]) - 0.9)) if sp_cols else None
rows = []
for key, vals in paper.iterrows():
    name = paper_name[key]
    ours = PAPER_ROWS[name]
    row = {"paper row": name, "our method": ours, **{f"paper {c}": v for c, v in vals.items()}}
    if ours in ef_tab.index:
        row.update({"ours ReLU EF": ef_tab.loc[ours].get("ReLU"), "ours ReLU dEF": gap_tab.loc[ours].get("ReLU")})
        if near:
            row.update({f"ours {near} EF": ef_tab.loc[ours, near], f"ours {near} dEF": gap_tab.loc[ours, near]})
    rows.append(row)
side = pd.DataFrame(rows).set_index("paper row")
companion.save_table(side, "beside_the_paper").round(3)

# %% [markdown]
# **What it shows.** Every sentence above is computed from this run. The two claims of the paper, as the
# third-party summary reports them, are (1) for the ReLU network the smoothing methods have larger gaps than the
# methods that stay close to the gradient, and (2) for a smoother network their gaps shrink, because there is less
# high-frequency content for them to remove. The Guided Backprop rows show why a method's name is not enough: the
# authors' captum call and our generalised rule agree on ReLU networks and part ways on SP networks. The
# independent section asks what $\Delta$EF cannot: whether a method's map predicts what happens to the network's
# output when pixels are removed (a model's own gradient is not guaranteed to do well there, since removal tests
# favour attribution maps), whether it depends on the trained weights at all, and whether EF ranks maps the way the
# field's complexity metrics do.
#
# **Compared with the paper.** Units differ: our maps are 28x28 (R = 20 radial bins), the paper's Imagenette maps
# 224x224 (R = 159); the paper-definition EF scales with 1/R and with the zero frequency's share, so only orderings
# and ratios, not values, are comparable. In the third-party summary's table, SmoothGrad, GuidedBP and GradCAM have
# gaps of .09-.10 for ReLU and at most .025 for SP(0.9); IntGrad and DeepLift below .01.

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-05-gbp
#
# The paper's GuidedBP row on an SP network is the plain logit gradient (captum hooks only `nn.ReLU`). Predict its gap against VanillaGrad if VanillaGrad also explained the logit instead of the log-softmax.
# ```
#
# ```{solution} ex-05-gbp
# :class: dropdown
#
# Exactly zero: both would be the same gradient. The small gap in our table is only the difference between the logit's and the log-softmax's gradient, which is why we show our generalised Guided Backprop beside it.
# ```
#
# ```{exercise}
# :label: ex-05-noise
#
# Rerun with `--param noise_std=0.5`. Which row moves, in which direction, and what happens to its gap?
# ```
#
# ```{solution} ex-05-noise
# :class: dropdown
#
# Only SmoothGrad depends on the noise level. More noise means a smoother surrogate: lower EF and a larger gap against the model's own gradient, for ReLU and SP networks alike.
# ```
