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
# # The spectral toolkit: radial power spectra and Expected Frequency
#
# **Claim.** How "grainy" an explanation map is can be read off its spatial power spectrum: grainy maps put their
# power at high spatial frequencies. The paper condenses the radially averaged power spectrum into one number, the
# **Expected Frequency** (EF), and uses it for every comparison that follows {cite}`mehrpanah2025complexity`.
#
# **Setup.** For an explanation map $e \in \mathbb{R}^{H \times W}$ (the attribution summed over colour channels and
# rank-normalised: each pixel replaced by its rank divided by $HW$), let $\hat e$ be its 2-D DFT, shifted so that the
# zero frequency sits at $(\lfloor H/2 \rfloor, \lfloor W/2 \rfloor)$. The radial profile averages the power over
# the pixels whose (truncated) distance from there is $r$:
#
# $$
# P(r) = \frac{1}{|\{k : \lfloor \|k\| \rfloor = r\}|} \sum_{k:\, \lfloor \|k\| \rfloor = r} |\hat e(k)|^2,
# \qquad r = 0, \dots, R-1,
# $$ (eq-radial)
#
# and the paper's EF weights bin $r$ by a frequency $f_r = r/(R-1)$ spread evenly over $[0, 1]$:
#
# $$
# \mathrm{EF}(e) = \frac{1}{R} \sum_{r=0}^{R-1} f_r \, \frac{P(r)}{\sum_{s} P(s)}.
# $$ (eq-ef)
#
# Because a rank-normalised map has a large mean, $P(0)$ dominates and EF values are small; the paper's tables show
# EF $\times 10^5$. We also report a cleaner variant, `definition="nyquist"` (ours, not the paper's): the zero
# frequency dropped, $f_r = r / \min(H, W)$ in cycles per pixel and the true expectation
# $\sum_{r \ge 1} f_r P(r) / \sum_{r \ge 1} P(r)$. Its range is $[1/\min(H, W), \approx 0.71]$: up to 0.5 (the
# Nyquist frequency) along the axes, and up to $\sqrt 2 / 2$ in the corner bins beyond the inscribed circle, which
# hold only diagonal frequencies. Both are `spectral_lib.spectral.expected_frequency`.

# %% tags=["parameters"]
profile = "quick"
cache_dir = None
dataset = "mnist5k"
model = "simple_cnn"
model_options = {"depth": 2}
activations = ["relu", "sp:1"]
seeds = [0]
accuracy_cap = 0.9
max_epochs = 30
lr = 1e-3
lr_gamma = 1.0
lr_by_activation = {}
batch_size = 256
image_size = None
augment = False
n_images = 200
noise_std = 0.1
n_samples = 64
device = "auto"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
import torch

from spectral_lib import companion
from spectral_lib.theory import synthetic
from spectral_lib.companion.plots import plot_profiles, show_maps
from spectral_lib.experiments import points_from_params, run_points, split_capped, verdicts
from spectral_lib.experiments.ties import tie_example, tie_example_sentences, tie_example_table
from spectral_lib.experiments.verdicts_toolkit import synthetic_sentence, vg_sg_sentences
from spectral_lib.spectral import expected_frequency, radial_bins, radial_profile

P = companion.parameters(globals())

# %% [markdown]
# ## Maps with known spectra
#
# A pure cosine with $(f_y, f_x)$ cycles per image puts all its non-zero-frequency power in the bin of radius
# $\lfloor\sqrt{f_y^2 + f_x^2}\rfloor$; white noise has a flat spectrum; a Gaussian blob's spectrum is a Gaussian whose
# width shrinks as the blob widens. EF orders them accordingly.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Synthetic maps with known spectra (left) and their radial power spectra (right).", "name": "fig-synthetic"}}
H = W = 32
maps = {
    "cosine (3, 4)": synthetic.sinusoid(H, W, 3, 4),
    "cosine (9, 12)": synthetic.sinusoid(H, W, 9, 12),
    "white noise": synthetic.white_noise(1, H, W, seed=0)[0],
    "blob, sigma=1.5": synthetic.gaussian_blob(H, W, 1.5),
    "blob, sigma=4": synthetic.gaussian_blob(H, W, 4.0),
    "checkerboard": synthetic.checkerboard(H, W),
}
stack = torch.stack(list(maps.values()))
prof = radial_profile(stack)
table = pd.DataFrame({
    "peak bin (r > 0)": (prof[:, 1:].argmax(1) + 1).tolist(),
    "EF paper x1e5": (expected_frequency(stack) * 1e5).tolist(),
    "EF nyquist (cycles/px)": expected_frequency(stack, "nyquist").tolist(),
}, index=list(maps))
fig, axes = plt.subplots(1, len(maps) + 1, figsize=(13, 2.3), gridspec_kw={"width_ratios": [1] * len(maps) + [2]})
for ax, (name, m) in zip(axes, maps.items()):
    ax.imshow(m, cmap="inferno"); ax.set_title(name, fontsize=8); ax.axis("off")
plot_profiles({k: prof[i] for i, k in enumerate(maps)}, ax=axes[-1], title="radial power spectra")
fig.tight_layout(); plt.show()

# %% tags=["hide-input"]
companion.save_table(table, "synthetic_maps").round(3)

# %% tags=["hide-input"]
companion.markdown(synthetic_sentence(table, radial_bins(H, W)))

# %% [markdown]
# ## What ties do to each EF definition
#
# Rank normalisation gives exactly tied pixels their average rank. Many methods produce exact ties: Guided Backprop
# and Grad-CAM maps are zero wherever a ReLU blocks the signal, BetaSmooth maps wherever nothing flows back. A tied
# region becomes a flat plateau of the rank map. The rank map's mean is $(HW + 1)/(2HW)$ with or without ties, so
# its zero-frequency power does not move; but a plateau covering a fraction $t$ of the pixels removes a share of
# about $t^3$ of the map's variance (the variance of a uniform rank interval of width $t$). The paper's EF keeps
# the zero frequency in its normalisation, where it dominates, so it falls with that variance although no spatial
# frequency of the map changed; the Nyquist EF leaves the zero frequency out and only sees where the remaining
# power sits. Breaking the ties at random (a fixed seed) turns the plateau into noise. The example below
# (`experiments.ties.tie_example`): 64 white-noise 28x28 maps with 0, 30 and 60% of their pixels set exactly to
# zero, either scattered at random or in one block (the first rows, like a CAM's background), under both EF
# definitions, with ties averaged and broken.

# %% tags=["hide-input"]
ties_long = tie_example((0.0, 0.3, 0.6), n_maps=64, size=28, seed=0)
companion.save_table(tie_example_table(ties_long), "ties_example").round(4)

# %% tags=["hide-input"]
companion.markdown("\n".join(f"* {s}" for s in tie_example_sentences(ties_long)))

# %% [markdown]
# Any map can be compared with any other of the same size on this one axis.
#
# ## VanillaGrad vs SmoothGrad, for a ReLU and a smooth network
#
# The paper's opening figure: the same image explained by VanillaGrad (the gradient of the log-softmax of the
# predicted class) and SmoothGrad {cite}`smilkov2017smoothgrad` (the mean gradient over noisy copies of the input),
# for a ReLU network and for the same architecture trained with SP($\beta$). Both are trained under the same accuracy
# cap (see the EF-vs-$\beta$ chapter), so they are equally good classifiers.

# %% tags=["hide-input"]
records, dropped = split_capped(run_points(points_from_params(P), P["cache_dir"]))
companion.markdown(verdicts.dropped_note(dropped, len(records) + len(dropped), P["accuracy_cap"]))

# %% tags=["hide-input"] mystnb={"figure": {"caption": "VanillaGrad and SmoothGrad maps of two test digits, for the ReLU network and the SP network trained under the same accuracy cap.", "name": "fig-vg-sg"}}
rows, titles = [], []
for rec in records:
    for i in range(2):
        rows.append([rec["images"][i, 0], rec["examples"]["vanilla_grad"][i], rec["examples"]["smooth_grad"][i]])
        titles.append(f"{rec['activation']} (test acc {rec['train']['test_accuracy']:.2f})")
show_maps(rows, titles, ["image", "VanillaGrad", "SmoothGrad"])
plt.show()

# %% tags=["hide-input"]
summary = pd.DataFrame([
    {"activation": r["activation"], "method": m, "EF paper x1e5": float(r["ef"][m].nanmean() * 1e5),
     "EF nyquist": float(r["ef_nyquist"][m].nanmean()), "gap |dEF| x1e5": float(r["gap_ef"][m].mean() * 1e5)}
    for r in records for m in ("vanilla_grad", "smooth_grad")
])
companion.save_table(summary, "vg_vs_sg").round(3)

# %% tags=["hide-input"]
companion.markdown("**This run.** SmoothGrad against VanillaGrad is paired over the network's images; a smooth "
                   "network against ReLU compares networks, so its interval is over seeds.\n\n"
                   + "\n".join([vg_sg_sentences(records, "ef", 1e5, "EF paper x1e5"),
                                 vg_sg_sentences(records, "ef_nyquist", 1.0, "EF nyquist")]))

# %% [markdown]
# **What it shows.** {numref}`fig-vg-sg` shows the maps; the verdicts above state, for this run, whether SmoothGrad lowers the ReLU network's EF (it
# smooths the map by explaining a surrogate, the network averaged over noise; the difference $|\Delta\mathrm{EF}|$ is
# the explanation gap) and whether the SP network's own VanillaGrad is simpler than ReLU's without any surrogate, the
# paper's point.
#
# **Compared with the paper.** The paper's Figure 1 makes the point on natural images. Here the maps are 28x28 MNIST
# digits. With rank-normalised maps the zero frequency carries most of the power and is the same for every map, so
# the paper-definition EF is a small difference of large numbers and varies from image to image; the Nyquist
# variant leaves the zero frequency out. Chapter 4 measures both over the $\beta$ grid and three seeds.

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-01-noise
#
# Predict, then check: what is the Nyquist EF of white noise on a 32x32 map, and why is it not 0.25 (the middle of [0, 0.5])? Add `synthetic.white_noise(1, 64, 64)[0]` to the synthetic maps and rerun the first cells.
# ```
#
# ```{solution} ex-01-noise
# :class: dropdown
#
# White noise has a flat 2-D spectrum, so each radial bin's *average* power is the same, and the Nyquist EF is the plain mean of $r/\min(H, W)$ over the bins $r \ge 1$, corner bins included. Those run up to $\sqrt 2/2$, so the mean is above 0.25 (about 0.37-0.40 at these sizes) and barely changes with the size.
# ```
#
# ```{exercise}
# :label: ex-01-sg
#
# Rerun the chapter with `--param n_samples=8` and then `n_samples=256` (SmoothGrad's number of noisy copies). Predict the direction in which the ReLU network's SmoothGrad EF moves, then check the verdict sentence.
# ```
#
# ```{solution} ex-01-sg
# :class: dropdown
#
# More noisy copies average out more of the gradient's high-frequency variation, so SmoothGrad's EF falls towards that of the smoothed surrogate as `n_samples` grows; with 8 copies the Monte-Carlo noise itself adds high frequencies and EF stays closer to VanillaGrad's.
# ```
