"""The practitioner entry points: spectral_lib.analyze (Python) and ``python -m spectral_lib analyze`` (CLI)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from spectral_lib.tools.cli import load_npz, main
from spectral_lib.tools.analyze import TABLE_COLUMNS
from spectral_lib.tools import analyze, summarize
from spectral_lib.spectral import to_map
from spectral_lib.explain import vanilla_grad
from spectral_lib.nn import build_model
from spectral_lib.spectral import expected_frequency

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    """A random-init torchvision ResNet-18 (10 classes) state_dict, a ResNet-34 one, 4 random 64x64 RGB PNGs (64 px:
    layer4 is 2x2, so Grad-CAM is not refused as constant)."""
    import torchvision

    root = tmp_path_factory.mktemp("analyze")
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), root / "r18.pt")
    torch.save(torchvision.models.resnet34(weights=None, num_classes=10).state_dict(), root / "r34.pt")
    folder = root / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return {"root": root, "ckpt": root / "r18.pt", "ckpt34": root / "r34.pt", "images": folder}


def _cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI in process; it must exit with status 2; returns its one-line error message."""
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--no-progress", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("python -m spectral_lib analyze: error: ")
    return err


def test_cli_resnet18_folder(assets, tmp_path, child_env):
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "spectral_lib", "analyze", "--model", "resnet18", "--checkpoint", str(assets["ckpt"]),
           "--num-classes", "10", "--images", str(assets["images"]), "--mean", *map(str, MEAN), "--std",
           *map(str, STD), "--methods", "vanilla_grad", "grad_cam", "--n-images", "2", "--out", str(out)]
    env = {**child_env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("results.csv", "summary.csv", "results.json", "figure.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4 and set(TABLE_COLUMNS) <= set(table.columns) and "file" in table.columns
    assert sorted(table["file"].unique()) == ["img0.png", "img1.png"]
    assert table.groupby("image")["method"].apply(list).tolist() == [["vanilla_grad", "grad_cam"]] * 2
    vg = table[table["method"] == "vanilla_grad"].sort_values("image")
    assert (vg["gap_ef_paper"] == 0).all() and (vg["gap_ef_nyquist"] == 0).all()
    doc = json.loads((out / "results.json").read_text())
    assert {"config", "summary", "results"} <= set(doc) and len(doc["results"]) == 4
    assert [r["method"] for r in doc["summary"]] == ["vanilla_grad", "grad_cam"]

    # the same EF computed directly from the PNGs
    import torchvision

    model = torchvision.models.resnet18(weights=None, num_classes=10)
    model.load_state_dict(torch.load(assets["ckpt"], weights_only=True))
    model.eval()
    imgs = [np.asarray(Image.open(assets["images"] / f"img{i}.png").convert("RGB"), np.float32) / 255 for i in (0, 1)]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
    x = (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    maps = to_map(vanilla_grad(model, x))
    np.testing.assert_allclose(vg["ef_paper"], expected_frequency(maps, "paper").numpy(), rtol=1e-4)
    np.testing.assert_allclose(vg["ef_nyquist"], expected_frequency(maps, "nyquist").numpy(), rtol=1e-4)
    with torch.no_grad():
        assert vg["target"].tolist() == model(x).argmax(1).tolist()
    summary = pd.read_csv(out / "summary.csv")
    gc = summary.set_index("method").loc["grad_cam"]
    assert gc["gap_ef_paper"] == pytest.approx(abs(gc["ef_paper"] - vg["ef_paper"].mean()), rel=1e-6)


def test_cli_unknown_method_exits_2(child_env):
    proc = subprocess.run([sys.executable, "-m", "spectral_lib", "analyze", "--model", "resnet18", "--images", ".",
                           "--methods", "vanilla_grad", "magic_grad"], env=child_env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "unknown method(s) 'magic_grad'" in last and "smooth_grad" in last and "grad_cam" in last


def _simple_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("simple_cnn", "relu", (1, 28, 28), 10).eval()


@pytest.fixture
def npz_path(tmp_path) -> Path:
    """5 random 28x28 grayscale images, uint8, channel last (N, H, W, 1)."""
    rng = np.random.default_rng(1)
    path = tmp_path / "batch.npz"
    np.savez(path, images=rng.integers(0, 256, (5, 28, 28, 1), dtype=np.uint8))
    return path


def test_python_api_simple_cnn_npz(npz_path):
    model = _simple_cnn()
    images = load_npz(npz_path)
    assert images.shape == (5, 1, 28, 28) and images.dtype == torch.float32 and float(images.max()) <= 1
    table = analyze(model, images, ["smooth_grad", "grad_cam"], n_images=4, batch_size=3, mean=[0.5], std=[0.25],
                    progress=False, method_options={"smooth_grad": {"n_samples": 4}})
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert len(table) == 12 and table["image"].tolist() == [i for i in range(4) for _ in range(3)]
    assert table["method"].tolist()[:3] == ["vanilla_grad", "smooth_grad", "grad_cam"]
    vg = table[table["method"] == "vanilla_grad"]
    assert (vg["gap_ef_paper"] == 0).all() and (vg["gap_ef_nyquist"] == 0).all()
    x = (images[:4] - 0.5) / 0.25
    maps = to_map(vanilla_grad(model, x))
    np.testing.assert_allclose(vg["ef_paper"], expected_frequency(maps, "paper").numpy(), rtol=1e-5)
    np.testing.assert_allclose(vg["ef_nyquist"], expected_frequency(maps, "nyquist").numpy(), rtol=1e-5)
    sg = table[table["method"] == "smooth_grad"]
    np.testing.assert_allclose(sg["gap_ef_paper"], np.abs(sg["ef_paper"].to_numpy() - vg["ef_paper"].to_numpy()))
    summary = summarize(table)
    assert summary["method"].tolist() == ["vanilla_grad", "smooth_grad", "grad_cam"]
    row = summary.set_index("method").loc["smooth_grad"]
    assert row["gap_ef_paper"] == pytest.approx(abs(sg["ef_paper"].mean() - vg["ef_paper"].mean()))
    assert row["mean_gap_ef_paper"] >= row["gap_ef_paper"] - 1e-15 and row["n_images"] == 4
    # same seed, same SmoothGrad noise: reproducible
    again = analyze(model, images, ["smooth_grad"], n_images=4, batch_size=3, mean=[0.5], std=[0.25],
                    progress=False, method_options={"smooth_grad": {"n_samples": 4}})
    np.testing.assert_array_equal(again[again["method"] == "smooth_grad"]["ef_paper"], sg["ef_paper"])


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch deprecates TorchScript (trace/script/save)
def test_cli_spectral_model_npz_and_torchscript(npz_path, tmp_path, capsys):
    model = _simple_cnn()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "out"
    assert main(["analyze", "--model", "simple_cnn", "--in-shape", "1", "28", "28", "--num-classes", "10",
                 "--checkpoint", str(tmp_path / "w.pt"), "--images", str(npz_path), "--methods", "vanilla_grad",
                 "--n-images", "3", "--out", str(out), "--no-progress"]) == 0
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 3 and (table["method"] == "vanilla_grad").all()
    x = load_npz(npz_path)[:3]
    np.testing.assert_allclose(table["ef_paper"], expected_frequency(to_map(vanilla_grad(model, x))).numpy(),
                               rtol=1e-5)
    scripted = torch.jit.trace(model, torch.rand(1, 1, 28, 28))
    scripted.save(str(tmp_path / "m.pt"))
    out2 = tmp_path / "out2"
    assert main(["analyze", "--torchscript", str(tmp_path / "m.pt"), "--images", str(npz_path), "--methods",
                 "vanilla_grad", "--n-images", "3", "--out", str(out2), "--no-progress"]) == 0
    np.testing.assert_allclose(pd.read_csv(out2 / "results.csv")["ef_paper"], table["ef_paper"], rtol=1e-5)
    capsys.readouterr()


# ----------------------------------------------------------------------------------------------- errors: CLI


def test_cli_error_checkpoint_keys(assets, capsys, tmp_path):
    err = _cli_error(capsys, ["--model", "resnet18", "--checkpoint", str(assets["ckpt34"]), "--num-classes", "10",
                              "--images", str(assets["images"]), "--out", str(tmp_path)])
    assert "does not match the architecture" in err and "unexpected keys: layer1.2." in err and "in all" in err
    err = _cli_error(capsys, ["--model", "resnet34", "--checkpoint", str(assets["ckpt"]), "--num-classes", "10",
                              "--images", str(assets["images"]), "--out", str(tmp_path)])
    assert "missing keys: layer1.2." in err and "unexpected" not in err
    err = _cli_error(capsys, ["--model", "resnet18", "--checkpoint", str(assets["ckpt"]), "--num-classes", "7",
                              "--images", str(assets["images"]), "--out", str(tmp_path)])
    assert "fc.weight (10, 512) vs (7, 512)" in err


def test_cli_error_mixed_sizes_and_empty_folder(assets, capsys, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("RGB", (32, 32)).save(mixed / "a.png")
    Image.new("RGB", (28, 30)).save(mixed / "b.jpg")
    common = ["--model", "resnet18", "--checkpoint", str(assets["ckpt"]), "--num-classes", "10", "--out",
              str(tmp_path / "o")]
    err = _cli_error(capsys, [*common, "--images", str(mixed)])
    assert "same size" in err and "a.png is 32x32" in err and "b.jpg is 28x30" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    err = _cli_error(capsys, [*common, "--images", str(empty)])
    assert f"no images (.png/.jpg/.jpeg) in folder {empty}" in err
    assert not (tmp_path / "o").exists()  # nothing written


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_cli_error_methods_n_images_and_scores(assets, capsys, tmp_path, npz_path):
    common = ["--model", "resnet18", "--checkpoint", str(assets["ckpt"]), "--num-classes", "10", "--images",
              str(assets["images"]), "--out", str(tmp_path / "o")]
    err = _cli_error(capsys, [*common, "--methods", "vanilla_grad", "nope"])
    assert "unknown method(s) 'nope'; valid methods: vanilla_grad, smooth_grad" in err
    for bad in ("0", "-3"):
        err = _cli_error(capsys, [*common, "--n-images", bad])
        assert f"argument --n-images: must be a positive integer, got {bad}" in err

    class Dense(nn.Module):  # outputs a (N, C, H, W) map, not class scores
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    torch.jit.script(Dense()).save(str(tmp_path / "dense.pt"))
    err = _cli_error(capsys, ["--torchscript", str(tmp_path / "dense.pt"), "--images", str(npz_path), "--out",
                              str(tmp_path / "o")])
    assert "class scores of shape (N, K) with K >= 2; got shape (1, 4, 28, 28)" in err
    assert not (tmp_path / "o").exists()


# -------------------------------------------------------------------------------------------- errors: Python


class _Scores(nn.Module):
    """A linear model on flattened (N, 1, 8, 8) inputs with ``k`` outputs (k = 1: not class scores)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.fc = nn.Linear(64, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("kwargs,message", [
    ({"methods": ["vanilla_grad", "grad_camm"]}, "unknown method(s) 'grad_camm'; valid methods: vanilla_grad"),
    ({"n_images": 0}, "n_images must be a positive integer, got 0"),
    ({"n_images": -1}, "n_images must be a positive integer, got -1"),
    ({"mean": [0.5]}, "give both mean and std"),
    ({"mean": [0.5, 0.5], "std": [0.2, 0.2]}, "mean must have one value per channel (1) or a single value, got 2"),
    ({"target": 12}, "target must be in [0, 10)"),
    ({"method_options": {"vanilla_grad": {"n_samples": 3}}}, "method_options['vanilla_grad']: unknown option(s)"),
    ({"method_options": {"smooth_grad": {}}}, "method_options names 'smooth_grad', which is not among"),
])
def test_python_errors(kwargs, message):
    model = _simple_cnn()
    images = torch.rand(3, 1, 28, 28)
    with pytest.raises(ValueError) as exc:
        analyze(model, images, **{"methods": ["vanilla_grad"], "progress": False, **kwargs})
    assert message in str(exc.value)


def test_python_errors_model_and_images():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"class scores of shape \(N, K\) with K >= 2; got shape \(1, 1\)"):
        analyze(_Scores(1), x, ["vanilla_grad"], progress=False)
    with pytest.raises(ValueError, match=r"cannot run on images of shape \(1, 1, 9, 9\)"):
        analyze(_Scores(3), torch.rand(2, 1, 9, 9), ["vanilla_grad"], progress=False)
    with pytest.raises(ValueError, match=r"images must have shape \(N, C, H, W\)"):
        analyze(_Scores(3), x[0], ["vanilla_grad"], progress=False)
    with pytest.raises(ValueError, match=r"with mean/std, images must be in \[0, 1\]"):
        analyze(_Scores(3), x * 255, ["vanilla_grad"], mean=[0.5], std=[0.2], progress=False)
    with pytest.raises(ValueError, match=r"grad_cam: refused: no nn.Conv2d with an \(N, C, h, w\) output"):
        analyze(_Scores(3), x, ["grad_cam"], progress=False)
    table = analyze(_Scores(3), x, ["vanilla_grad"], progress=False, target=[2, 1])
    assert table["target"].tolist() == [2, 1]
