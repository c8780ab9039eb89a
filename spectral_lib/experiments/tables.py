"""Summary tables the chapters show: EF against beta per activation, training under the cap, an activation's tail
mass against its network's EF."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from ..nn.activations import activation_family
from ..theory.lemma1 import TAIL_FLOOR, activation_tail
from .records import network_means

__all__ = ["ef_vs_beta_table", "training_table", "tail_vs_ef_table"]

def ef_vs_beta_table(records: Iterable[dict], metric: str = "ef", method: str = "vanilla_grad",
                     scale: float = 1e5):
    """Per activation (smoothest first, ReLU last): mean and std over networks of the per-network mean ``metric``,
    the number of networks, and NaN images skipped. Returns a DataFrame indexed by activation name."""
    per_net = network_means(records, metric, method, scale)
    g = per_net.groupby(["beta", "activation"], sort=True)
    table = g["value"].agg(["mean", "std", "count"]).join(g["nan"].sum())
    return table.reset_index(level="beta").rename(columns={"count": "networks", "nan": "NaN images"})


def training_table(records: Iterable[dict]):
    """One row per network: activation, seed, learning rate, whether it passed the cap, epochs, test and train
    accuracy at the checkpoint, training seconds."""
    import pandas as pd

    return pd.DataFrame([{
        "activation": r["activation"], "seed": r["seed"], "lr": r["config"]["lr"],
        "cap reached": bool(r["train"]["cap_reached"]), "epochs": r["train"]["epochs"],
        "test acc": r["train"]["test_accuracy"], "train acc": r["train"]["train_accuracy"],
        "seconds": r["train"]["seconds"]} for r in records])


def tail_vs_ef_table(records: Sequence[dict], cutoff: float, ef_metric: str = "ef", scale: float = 1e5):
    """One row per activation of ``records`` (kept networks): its spec and family, the activation's tail mass above
    ``cutoff`` (:func:`activation_tail`; ``at floor`` when below :data:`TAIL_FLOOR`), the mean over networks of the
    per-network mean VanillaGrad ``ef_metric`` (``scale``d) and its std, the networks, mean test accuracy and epochs.
    Indexed by activation name, ordered by tail mass (lightest first)."""
    import pandas as pd

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
