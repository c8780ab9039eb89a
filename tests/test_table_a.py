"""Chapter 8's small setting on the real Imagenette 224 px copy (``../shared/data``, or ``$SPECTRAL_LIB_IMAGENETTE``):
verified, decoded, the authors' augmentation and test transform at 32 px, two tiny networks, the six rows of Table A
with the authors' calls, the input-size ablation; skipped with the reason where the copy is absent. (The 224-px run
itself takes hours on a CPU: the `table_a` profile.)"""
from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPECTRAL_LIB_IMAGENETTE") or REPO.parent / "shared" / "data" / "imagenette-jpeg224.tar.gz")

pytestmark = pytest.mark.skipif(not SHARED.exists(), reason=f"the Imagenette 224 px JPEG copy is not at {SHARED} "
                                "(set SPECTRAL_LIB_IMAGENETTE to the archive or its unpacked folder)")


@pytest.fixture(scope="module")
def imagenette(spectral_cache_dir):
    os.environ["SPECTRAL_LIB_IMAGENETTE"] = str(SHARED)
    from spectral_lib.data import load

    return load("imagenette_jpeg224", image_size=32, augment=True)


def test_real_copy_split_order_and_transforms(imagenette):
    from spectral_lib.data.augment import AuthorsImagenetteTrain

    s = imagenette
    assert (len(s.train), len(s.test)) == (9469, 3925) and s.info.in_shape == (3, 32, 32)
    assert torch.bincount(s.test.tensors[1][:1000]).tolist() == [387, 395, 218]  # class-sorted, as torchvision's
    assert isinstance(s.train.transform, AuthorsImagenetteTrain) and s.train.batch([0, 1])[0].shape == (2, 3, 32, 32)
    x = s.test.tensors[0]
    assert abs(float(x.mean())) < 0.5 and 0.6 < float(x.std()) < 1.6  # ImageNet-normalised natural images


def test_small_setting_reproduces_the_table_a_pipeline(imagenette, tmp_path):
    from spectral_lib.companion.published import secondary_table
    from spectral_lib.experiments import natural_verdicts as nv
    from spectral_lib.experiments import paper_gap_table, points_from_params, run_points
    from spectral_lib.experiments.natural_images import TABLE_A_METHODS, table_a_grids

    P = {"dataset": "imagenette_jpeg224", "model": "simple_cnn", "model_options": {"depth": 3},
         "activations": ["relu", "sp:0.9"], "seeds": [0], "methods": list(TABLE_A_METHODS), "accuracy_cap": 0.1,
         "max_epochs": 2, "lr": 3e-4, "lr_gamma": 0.9999, "batch_size": 64, "image_size": 32, "augment": True,
         "n_train": 200, "n_images": 4, "noise_std": 0.1, "n_samples": 2, "size_ablation": [16],
         "size_depths": {16: 2}, "device": "cpu"}
    grids = [(size, run_points(points_from_params(p), tmp_path, progress=False)) for size, p in table_a_grids(P)]
    assert [s for s, _ in grids] == [32, 16]
    records = grids[0][1]
    assert {r["activation"] for r in records} == {"ReLU", "SP(0.9)"}
    assert all(set(TABLE_A_METHODS) <= set(r["ef"]) and r["ef"]["vanilla_grad"].shape == (4,) for r in records)
    kept = [r for r in records if r["train"]["cap_reached"]]
    if {r["activation"] for r in kept} != {"ReLU", "SP(0.9)"}:  # a tiny run may miss the cap: test the pipeline
        kept = records
    table = nv.table_a(kept, secondary_table("imagenette_cnn_relu_vs_sp09"))
    assert list(table.index) == ["VanillaGrad", "SmoothGrad", "IntGrad", "GuidedBP", "DeepLift", "GradCAM"]
    gap = paper_gap_table(kept, "ef", 1e5)
    for row, method in zip(table.index, TABLE_A_METHODS):
        assert table.loc[row, "ours ReLU ΔEF"] == pytest.approx(gap.loc[method, "ReLU"])
    assert table.loc["VanillaGrad", "paper ReLU EF"] == 0.390
    assert all(math.isfinite(v) for v in table["ours ReLU EF"])
    assert "VanillaGrad EF of SP(0.9) over ReLU's" in nv.table_a_sentences(table, nv.relu_sp_records(kept))
    sizes = nv.size_ablation_table([(s, [r for r in recs]) for s, recs in grids])
    assert list(sizes.index) == [32, 16] and sizes.loc[16, "depth"] == 2
