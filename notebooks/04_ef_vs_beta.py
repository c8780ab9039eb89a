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
# # EF vs β: smoother activations, simpler explanations
#
# **Claim** {cite}`mehrpanah2025complexity`. By Lemma {prf:ref}`lem-lemma1` and Theorem {prf:ref}`thm-theorem1`,
# training the same architecture with SP($\beta$) instead of ReLU lowers the EF of the network's *own* VanillaGrad,
# more so the lower $\beta$, at some cost in accuracy; the explanation stays faithful (it is the model's own
# gradient, explanation gap zero).
#
# **Setup, as the authors run it.** One network per activation and seed: the paper's simple CNN (bias-free 3x3
# convolutions, max-pooling), the paper's plain SoftPlus SP($\beta$) (`sp:β`, `nn.Softplus(beta)`), Adam,
# cross-entropy, batch 256. The **accuracy cap** follows the authors' code: test accuracy is checked at the end of
# each epoch from the second epoch on, training stops at the first epoch whose accuracy is strictly above the cap,
# and networks that never pass it are dropped. The authors tuned the learning rate per run; the profile sets it per
# activation (`lr_by_activation`, shown in the training table). For each kept network, VanillaGrad and SmoothGrad
# maps of the same `n_images` test images, rank-normalised, and their EF (Eq. {eq}`eq-ef`).
#
# **Training-length controls.** Under the cap, smoother activations train longer, so a lower EF could come from the
# longer training rather than from the activation. The section *Activation or training length?* separates the two
# with a slow ReLU (`slow_relu_lrs`), networks trained for `equal_epochs` epochs without a cap and the EF after every
# epoch of those runs (`trajectory_specs`, `trajectory_seeds`).

# %% tags=["parameters"]
profile = "quick"
cache_dir = None
dataset = "mnist5k"
model = "simple_cnn"
model_options = {"depth": 2}
activations = ["relu", "sp:10", "sp:5", "sp:2", "sp:1", "sp:0.5", "sp:0.3"]
centred_activations = ["spc:1", "spc:0.3"]
seeds = [0, 1, 2]
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
slow_relu_lrs = [5e-5]
trajectory_specs = ["relu", "sp:1", "sp:0.3"]
trajectory_seeds = [1]
equal_epochs = 20
device = "auto"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd

from spectral_lib import companion
from spectral_lib.companion.plots import beta_colors, beta_label, plot_ef_vs_beta, plot_profiles, show_maps
from spectral_lib.experiments.natural_verdicts import network_table
from spectral_lib.experiments import (points_from_params, records_to_frame, run_points, split_capped, tables,
                                      verdicts)
from spectral_lib.experiments import training_length as tl
from spectral_lib.experiments import verdicts_ef_beta as vb
from spectral_lib.experiments import verdicts_training_length as vt

P = companion.parameters(globals())
tl.check_control_params(P)  # the controls' parameters, checked before any training
# The uncapped runs go first: each stores, on the way, the capped network of its activation and seed (the network at
# the first epoch end past the cap), so that the main grid below finds it in the cache instead of training it again.
trajectories = tl.run_trajectories(P, P["cache_dir"])
all_records = run_points(points_from_params(P), P["cache_dir"])
records, dropped = split_capped(all_records)
slow_records = [r for ps in tl.slow_relu_param_sets(P) for r in run_points(points_from_params(ps), P["cache_dir"])]

# %% [markdown]
# ## Training under the accuracy cap

# %% tags=["hide-input"]
train = tables.training_table(all_records)
companion.markdown(verdicts.dropped_note(dropped, len(all_records), P["accuracy_cap"]) + " "
                   + vb.cap_epochs_sentence(all_records))
companion.save_table(train, "training")
train.groupby("activation", sort=False).agg(
    {"lr": "first", "cap reached": "mean", "epochs": "mean", "test acc": "mean", "seconds": "mean"}).round(3)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Test accuracy at the checkpoint (cap dotted) and epochs to the cap, per beta; ReLU on the right.", "name": "fig-cap"}}
fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
acc = records_to_frame(all_records, "ef")[["beta", "seed", "test_accuracy", "epochs"]].drop_duplicates()
plot_ef_vs_beta(acc.assign(ef=acc["test_accuracy"]), "ef", ax=ax[0], ylabel="test accuracy at the checkpoint")
ax[0].axhline(P["accuracy_cap"] or 1, ls=":", c="gray")
ax[0].set_title("accuracy at the checkpoint (cap dotted)", fontsize=9)
plot_ef_vs_beta(acc.assign(ef=acc["epochs"]), "ef", ax=ax[1], ylabel="epochs to the cap")
ax[1].set_title("training length", fontsize=9)
fig.tight_layout(); plt.show()

# %% [markdown]
# ## EF of VanillaGrad vs β
#
# Mean over images per network, then mean $\pm$ standard deviation over seeds (kept networks only). Left: the
# paper's definition (Eq. {eq}`eq-ef`, $\times 10^5$); right: our Nyquist variant in cycles per pixel.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "VanillaGrad and SmoothGrad EF against beta (mean and standard deviation over seeds): the paper's definition (left), the Nyquist variant (right).", "name": "fig-ef-vs-beta"}}
ef = records_to_frame(records, "ef", 1e5)
efn = records_to_frame(records, "ef_nyquist")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for method, label in [("vanilla_grad", "VanillaGrad"), ("smooth_grad", "SmoothGrad")]:
    plot_ef_vs_beta(ef[ef.method == method], "ef", ax=axes[0], ylabel="EF x 1e5 (paper)", label=label)
    plot_ef_vs_beta(efn[efn.method == method], "ef_nyquist", ax=axes[1], ylabel="EF (cycles/px)", label=label)
for a in axes:
    a.legend(fontsize=7)
fig.tight_layout(); plt.show()

# %% tags=["hide-input"]
table = tables.ef_vs_beta_table(records, "ef", scale=1e5).rename(columns={"mean": "EF x1e5 mean",
                                                                         "std": "EF x1e5 std"})
table = table.join(tables.ef_vs_beta_table(records, "ef_nyquist", scale=1.0)[["mean", "std"]]
                   .rename(columns=lambda c: f"EF nyquist {c}"))
companion.markdown(vb.ef_beta_sentence(records))
companion.save_table(network_table(all_records), "ef_vs_beta_networks")  # one row per network, dropped ones too
companion.save_table(table.drop(columns=["beta"]), "ef_vs_beta").round(4)

# %% [markdown]
# ## Radial spectra, overlaid
#
# Mean radial power spectrum of the VanillaGrad maps (rank-normalised, zero frequency omitted, normalised to sum 1),
# one curve per $\beta$: lower $\beta$ should give a lighter tail.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Mean radial power spectra of the VanillaGrad and SmoothGrad maps, one curve per beta.", "name": "fig-spectra-beta"}}
colors = beta_colors([r["beta"] for r in records])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, method in zip(axes, ["vanilla_grad", "smooth_grad"]):
    profiles = {}
    for b in sorted({r["beta"] for r in records}):
        ps = [r["profile"][method] for r in records if r["beta"] == b]
        profiles[beta_label(b)] = sum(ps) / len(ps)
    plot_profiles(profiles, ax=ax, colors={beta_label(b): c for b, c in colors.items()}, title=method)
fig.tight_layout(); plt.show()

# %% tags=["hide-input"] mystnb={"figure": {"caption": "VanillaGrad maps of two test digits, one network per beta (seed 0), smoothest left.", "name": "fig-maps-beta"}}
seed0 = sorted([r for r in records if r["seed"] == P["seeds"][0]], key=lambda r: r["beta"])
if seed0:
    rows = [[seed0[0]["images"][i, 0]] + [r["examples"]["vanilla_grad"][i] for r in seed0] for i in range(2)]
    show_maps(rows, ["image 1", "image 2"], ["image"] + [r["activation"] for r in seed0], size=1.4)
    plt.show()

# %% [markdown]
# ## Activation or training length?
#
# Smoother activations reach the cap after more epochs (the training table above), so the EF-vs-$\beta$ relation
# could come from the training length instead of the activation. Three controls, all on the same `n_images` test
# images and explained by the model's own VanillaGrad:
#
# * **slow ReLU**: ReLU trained at each learning rate of `slow_relu_lrs`, chosen so that it reaches the same cap
#   after about as many epochs as the smoothest SP network, same seeds (`seeds`);
# * **equal epochs**: the activations of `trajectory_specs` (and ReLU at each slow learning rate) trained for
#   `equal_epochs` epochs with no cap, seeds `trajectory_seeds`;
# * **trajectories**: the VanillaGrad EF of the same images after every epoch of those uncapped runs. With the
#   authors' rule, the capped network *is* the uncapped run's network at the first epoch end past the cap, so each
#   trajectory also holds the capped network's EF (checked below, and in `tests/test_training_length.py`), and the
#   uncapped runs store the capped networks in the cache on the way (they run before the main grid).
#
# What was chosen for the profile, and why: the slow learning rate that brings ReLU to the cap in about as many
# epochs as the smoothest SP network (the profile's comment gives the measurement); trajectories for ReLU, one
# middle and the smoothest $\beta$ on one seed, because every uncapped run costs `equal_epochs` epochs; the `paper`
# profile runs more. The table of every network is `training_length_control.csv` (`ef_paper` is the paper's EF
# $\times 10^5$, `ef_nyquist` the Nyquist EF; `arm` says which control a row belongs to; `cap_reached` is empty for
# the uncapped networks).

# %% tags=["hide-input"]
control = tl.control_table(all_records, slow_records, trajectories)
traj = tl.trajectory_table(trajectories)
companion.markdown(vt.capped_identity_sentence(trajectories, all_records + slow_records))
companion.save_table(control.set_index("arm"), "training_length_control")
companion.save_table(traj.set_index("role"), "ef_trajectories")
control.groupby(["arm", "activation", "lr"], sort=False).agg(
    networks=("seed", "size"), epochs=("epochs", "mean"), test_accuracy=("test_accuracy", "mean"),
    ef_paper=("ef_paper", "mean"), ef_nyquist=("ef_nyquist", "mean")).round(4)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "VanillaGrad EF after every epoch of the uncapped runs, against epochs (left) and test accuracy (middle); circles mark where the capped run stops. Right: the mean EF of the capped fast ReLU, slow ReLU and smoothest SP networks with their bootstrap intervals over seeds.", "name": "fig-training-length"}}
fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
tcolors = beta_colors(traj["beta"].tolist()) if len(traj) else {}
for (role, act, lr, seed), g in traj.groupby(["role", "activation", "lr", "seed"], sort=False):
    style = dict(color=tcolors.get(g["beta"].iloc[0], "k"), ls="--" if role == "slow_relu" else "-",
                 label=f"{act}" + (f" lr {lr:g}" if role == "slow_relu" else "") + f" (seed {seed})")
    ax[0].plot(g["epoch"], g["ef_paper"], **style)
    ax[1].plot(g["test_accuracy"], g["ef_paper"], **style)
    cap = g[g["capped_here"]]
    ax[0].scatter(cap["epoch"], cap["ef_paper"], color=style["color"], zorder=3)
    ax[1].scatter(cap["test_accuracy"], cap["ef_paper"], color=style["color"], zorder=3)
ax[0].set_xlabel("epochs"); ax[1].set_xlabel("test accuracy")
if P["accuracy_cap"]:
    ax[1].axvline(P["accuracy_cap"], ls=":", c="gray")
for a in ax[:2]:
    a.set_ylabel("VanillaGrad EF x1e5 (paper)")
ax[0].legend(fontsize=6)
comparisons = vt.slow_relu_comparison(control, "ef_paper")
for i, c in enumerate(comparisons):
    for j, (key, name) in enumerate([("fast", "fast ReLU"), ("slow", f"slow ReLU lr {c['lr']:g}"),
                                     ("sp", c["sp_name"])]):
        iv = c[key]
        err = [[iv.value - iv.low], [iv.high - iv.value]] if iv.n > 1 else None
        ax[2].errorbar([3 * i + j], [iv.value], yerr=err, fmt="o", color="k" if key != "sp" else "tab:blue")
        ax[2].annotate(f"{name}\n{c['epochs'][key]:.1f} ep.", (3 * i + j, iv.value), fontsize=6,
                       xytext=(4, 0), textcoords="offset points")
ax[2].set_xticks([]); ax[2].set_ylabel("mean VanillaGrad EF x1e5 (capped networks)")
ax[2].set_title("slow ReLU between fast ReLU and SP?", fontsize=9)
fig.tight_layout(); plt.show()

# %% tags=["hide-input"]
lines = []
for col in ("ef_paper", "ef_nyquist"):
    comp = vt.slow_relu_comparison(control, col)
    corr = vt.training_length_correlations(control, col)
    equal = vt.equal_epoch_correlation(control, col)
    summary = vt.trajectory_summary(traj, col)
    lines.append(vt.training_length_verdict(comp, corr, equal, col, summary))
    if col == "ef_paper":
        lines += [vt.slow_relu_sentences(comp, col),
                  vt.correlations_sentence(corr, equal, col, vt.regression_summary(control, col)),
                  vt.trajectory_sentence(summary, col)]
companion.markdown("\n\n".join(lines))

# %% [markdown]
# ## An ablation: what centring SoftPlus does
#
# An earlier version of this companion trained the *centred* SoftPlus
# $\mathrm{SPc}_\beta(x) = \mathrm{SP}_\beta(x) - \ln 2/\beta$ (spec `spc:β`), which the authors never used: same
# derivative, but no large positive offset, so it trains easily without biases. It is not the paper's activation, and it is shown here under its own label,
# never averaged with SP. Same cap rule, same seeds.

# %% tags=["hide-input"]
centred_all = run_points(points_from_params({**P, "activations": P["centred_activations"]}), P["cache_dir"])
centred, centred_dropped = split_capped(centred_all)
companion.markdown(verdicts.dropped_note(centred_dropped, len(centred_all), P["accuracy_cap"]))
both = pd.concat({"SP (paper)": tables.ef_vs_beta_table(records, "ef", scale=1e5),
                  "SPc (centred)": tables.ef_vs_beta_table(centred, "ef", scale=1e5)}, names=["variant"])
companion.markdown(vb.centred_sentence(records, centred))
companion.save_table(both.drop(columns=["beta"]), "centred_vs_paper_sp").round(3)

# %% [markdown]
# **What it shows.** {numref}`fig-ef-vs-beta` and the sentences above are computed from this run: a positive rank correlation between $\beta$
# and VanillaGrad EF is the paper's finding (smoother activation, simpler explanation); +1 means the mean EF is
# monotone in $\beta$. The training table shows the cap at work: every kept network stops at the first epoch end
# past the same cap, after a number of epochs that depends on the activation (the sentence under the training
# table). Whether the EF differences come from the activation or from that training length is what the controls'
# verdict states; it is computed from this run, and says when the run cannot tell.
#
# **Compared with the paper.** *According to a third-party summary of the paper (unverified against the paper's
# own text):* EF increases monotonically with $\beta$ on CIFAR-10, Fashion-MNIST and Imagenette; on the Imagenette
# CNN, VanillaGrad EF is .390 for ReLU and .202 for SP(0.9) (ratio 0.52; see the gap chapter). Our maps are 28x28, theirs 224x224: only the ordering and the
# ratios compare. The `paper` profile runs this chapter on the paper's datasets, $\beta$ grid and cap.

# %% [markdown]
# ## Exercises
#
# ```{exercise}
# :label: ex-04-cap
#
# Remove the accuracy cap (`--param accuracy_cap=null --param max_epochs=10`) and predict how the EF-vs-$\beta$ correlation changes before you run it.
# ```
#
# ```{solution} ex-04-cap
# :class: dropdown
#
# Without the cap every network trains the same number of epochs. ReLU networks then train far past the accuracy of the smooth ones, and EF also changes with training length, so the comparison mixes the activation's effect with the accuracy's: the correlation may rise or fall, which is why the paper compares at equal accuracy.
# ```
#
# ```{exercise}
# :label: ex-04-centred
#
# Predict the EF of the centred SPc(0.3) network relative to SP(0.3) and ReLU, then check the ablation section. What does centring change in the network, given that it does not change the activation's derivative?
# ```
#
# ```{solution} ex-04-centred
# :class: dropdown
#
# Centring removes the large positive offset $\ln 2/\beta$, so the bias-free network's pre-activations sit near zero, where SoftPlus bends most; the trained network ends up in a different regime and its gradients can be as rough as ReLU's. The activation's derivative is the same, the network it trains into is not.
# ```
