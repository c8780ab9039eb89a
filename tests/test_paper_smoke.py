"""The paper profile proven on the CPU (smoke mode) and the memory plan for a GPU run.

* stand-in datasets (:mod:`spectral_lib.data.standins`): the paper datasets' shapes and class counts, deterministic,
  learnable, served by ``load`` only when ``SPECTRAL_LIB_STANDINS=1`` and never instead of the embedded datasets;
* the smoke profile (:func:`spectral_lib.companion.smoke.smoke_profile`): every chapter, and every model, dataset,
  image size, method, pooling, SK/BN arm and activation family of the paper profile's grids is still there, with the
  counts shrunk;
* the memory plan (:mod:`spectral_lib.experiments.memory_plan`): the meta-device estimate equals autograd's saved
  bytes on real tensors, is not below a measured peak, and the paper profile is refused before any work on a
  (mocked) GPU too small for its batch, naming the chapter and ``batch_size``;
* the smoke run itself: ``scripts/build_book.py --profile paper --smoke`` (at its quick level here) executes every
  chapter of the book with the paper's models at 224 px on stand-in data and reports each chapter's time and peak
  memory, and the models no chapter uses yet (ResNet-50, ViT-B/16, the 7-block CNN); nothing is written into the
  real cache, the book's outputs or ``book/run_times.json``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spectral_lib.companion.profiles import chapter_parameters, chapter_points, load_profile
from spectral_lib.companion.smoke import COUNTS, SMOKE_BATCH, SMOKE_CAP, shrink_parameters, smoke_profile
from spectral_lib.data import dataset_info, load, standins
from spectral_lib.experiments import memory_plan as mp

# the paper smoke run is one pytest-xdist unit (scripts/test.sh runs two workers), so that it runs beside the
# tiny book's unit instead of after it
pytestmark = pytest.mark.xdist_group("paper_smoke")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


# ---------------------------------------------------------------------------------------------------- stand-ins
@pytest.mark.parametrize("name, shape, k", [("fashion_mnist", (1, 28, 28), 10), ("cifar10", (3, 32, 32), 10),
                                            ("imagenette", (3, 224, 224), 10), ("imagenet", (3, 224, 224), 1000)])
def test_standins_have_the_paper_shapes_and_are_deterministic(name, shape, k):
    a, b = standins.load_standin(name, n_train=12, n_test=5), standins.load_standin(name, n_train=12, n_test=5)
    assert a.info.in_shape == shape and a.info.num_classes == k and (len(a.train), len(a.test)) == (12, 5)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert a.train.images.dtype == torch.uint8 and a.train.images.shape == (12, *shape)
    assert not torch.equal(a.train.images[:5], a.test.images)  # two splits, not one
    x, y = a.train.batch(slice(0, 12))
    assert x.dtype == torch.float32 and y.tolist() == [i % k for i in range(12)]
    assert standins.load_standin(name, image_size=46, n_train=2, n_test=1).info.in_shape == (shape[0], 46, 46)


def test_standins_are_learnable():
    """Class patterns of amplitude 50 against noise of std 40 per pixel: a nearest-class-mean classifier (means from
    the training split) labels every test image correctly, so a network can pass a low cap within a few epochs."""
    s = standins.load_standin("cifar10", n_train=200, n_test=50)
    xtr, ytr = s.train.batch(slice(0, 200))
    xte, yte = s.test.batch(slice(0, 50))
    means = torch.stack([xtr[ytr == c].mean(0) for c in range(10)])
    pred = torch.cdist(xte.flatten(1), means.flatten(1)).argmin(1)
    assert (pred == yte).float().mean() == 1.0


def test_load_serves_standins_only_when_asked(monkeypatch):
    monkeypatch.delenv(standins.ENV, raising=False)
    assert not standins.enabled()
    monkeypatch.setenv(standins.ENV, "1")
    s = load("imagenette", augment=True)
    assert s.info.in_shape == (3, 224, 224) and s.info.num_classes == 10 and s.train.flip and not s.test.flip
    assert load("cifar10", image_size=16).info.in_shape == (3, 16, 16)
    real = load("digits")  # shipped with scikit-learn: stays real
    assert real.info.in_shape == (1, 8, 8) and len(real.train) == 1438
    with pytest.raises(ValueError, match="no stand-in"):
        standins.standin_shape("no_such_set")


# ----------------------------------------------------------------------------------------------- smoke profile
def test_shrink_rules():
    params = {"activations": ["relu", "sp:10", "sp:1", "gelu", "spc:1"], "centred_activations": ["spc:1", "spc:0.3"],
              "seeds": [0, 1, 2], "methods": ["vanilla_grad", "smooth_grad", "deeplift"], "depths": [1, 2, 3, 4],
              "image_sizes": [32, 46, 224], "train_noise_stds": [0.0, 0.1, 0.5], "weight_decays": [0.01, 0.1],
              "conditions": ["natural", "permuted+smoothed:1", "permuted+smoothed:0.5", "permuted"],
              "lr_by_activation": {"sp:1": 1e-2, "sp:10": 1e-3}, "n_images": 1000, "n_samples": 64,
              "max_epochs": 100, "accuracy_cap": 0.6, "batch_size": 256, "dataset": "imagenette", "device": "cuda",
              "cache_dir": "/somewhere", "betas": [0.1, 0.3, 0.5], "width": 1024, "lr": 3e-4}
    s = shrink_parameters(params)
    assert s["activations"] == ["relu", "sp:10", "gelu", "spc:1"]  # one per family
    assert s["centred_activations"] == ["spc:1"] and s["seeds"] == [0]
    assert s["methods"] == params["methods"] and s["image_sizes"] == params["image_sizes"]
    assert s["depths"] == [1, 4] and s["train_noise_stds"] == [0.0, 0.1] and s["weight_decays"] == [0.01]
    assert s["conditions"] == ["natural", "permuted+smoothed:1", "permuted"]
    assert s["lr_by_activation"] == {"sp:10": 1e-3}  # follows the activations kept
    assert (s["n_images"], s["n_samples"], s["max_epochs"]) == (COUNTS["n_images"], COUNTS["n_samples"], 2)
    assert s["accuracy_cap"] == SMOKE_CAP and s["batch_size"] == SMOKE_BATCH and s["device"] == "auto"
    assert "cache_dir" not in s and s["betas"] == [0.1, 0.3] and s["width"] == 1024 and s["lr"] == 3e-4
    assert shrink_parameters({**params, "dataset": "mnist5k"})["batch_size"] == 256  # real data: real batch
    assert shrink_parameters({"activations": ["sp:1", "sp:0.5", "sp:0.1"]})["activations"] == ["sp:1", "sp:0.5"]
    assert shrink_parameters({"accuracy_cap": None})["accuracy_cap"] is None
    # any *seeds to one, any *_images / *_epochs to two, nested training options too
    g = shrink_parameters({"jpeg_seeds": [0, 1, 2], "gap_images": 1000, "equal_epochs": 20,
                           "jpeg_train": {"max_epochs": 30, "accuracy_cap": 0.9, "n_images": 200, "lr": 1e-3}})
    assert g["jpeg_seeds"] == [0] and g["gap_images"] == 2 and g["equal_epochs"] == 2
    assert g["jpeg_train"] == {"max_epochs": 2, "accuracy_cap": SMOKE_CAP, "n_images": 2, "lr": 1e-3}
    # the quick level (the test suite's): the ends of the shape grids, two activations
    q = shrink_parameters(params, "quick")
    assert q["image_sizes"] == [32, 224] and q["depths"] == [1, 4] and q["activations"] == ["relu", "sp:10"]
    assert q["conditions"] == ["natural", "permuted+smoothed:1"] and q["methods"] == params["methods"]
    assert q["lr_by_activation"] == {"sp:10": 1e-3}
    # a chapter with a size arm trains its other arms at the arm's smallest size (the largest runs in the arm)
    assert shrink_parameters({**params, "image_size": 224}, "quick")["image_size"] == 32
    assert shrink_parameters({**params, "image_size": 224})["image_size"] == 224  # full: the chapter's own size
    assert shrink_parameters({"image_size": 224}, "quick")["image_size"] == 224  # no size arm: kept
    f = {"faithfulness_metrics": ["PixelFlipping", "RegionPerturbation", "MPRT"], "faithfulness_images": 50}
    assert shrink_parameters(f)["faithfulness_metrics"] == f["faithfulness_metrics"]  # full: every metric
    assert shrink_parameters(f, "quick") == {"faithfulness_metrics": ["RegionPerturbation", "MPRT"],
                                             "faithfulness_images": 2}
    with pytest.raises(ValueError, match="smoke level"):
        shrink_parameters(params, "tiny")
    # a list drawn from the activations stays within the ones kept
    sub = shrink_parameters({"activations": ["relu", "sp:2", "sp:1"], "gap_activations": ["relu", "sp:1"]})
    assert sub["activations"] == ["relu", "sp:2"] and sub["gap_activations"] == ["relu", "sp:2"]


def _inventory(prof: dict) -> dict[str, set]:
    """What a profile's grids contain: models, datasets, image sizes, methods, activation families, poolings,
    SK/BN arms, depths, widths; and the number of points."""
    inv = {k: set() for k in ("model", "dataset", "size", "method", "family", "pool", "skip_bn", "depth", "width")}
    inv["points"] = 0
    for stem in prof["notebooks"]:
        for c, s in chapter_points(stem, chapter_parameters(stem, prof, None).params):
            inv["points"] += 1
            o = c.model_options
            inv["model"].add(c.model)
            inv["dataset"].add(c.dataset)
            inv["size"].add(c.image_size or dataset_info(c.dataset).in_shape[-1])  # None: the dataset's own size
            inv["method"] |= {m.split(":")[0] for m in s.methods}  # methods (their settings may shrink)
            inv["family"].add(c.activation.split(":")[0])
            inv["pool"].add(o.get("pool", "max"))
            inv["skip_bn"].add((o.get("skip"), o.get("bn")))
            inv["depth"].add(o.get("depth"))
            inv["width"].add(o.get("width_mult", 1))
    return inv


def test_smoke_profile_keeps_every_model_size_and_method_of_the_paper_profile():
    """Full level (``bash scripts/book.sh --profile paper --smoke``): every model, dataset, image size, method,
    activation family, pooling and SK/BN arm of the paper profile's grids, and the smallest and largest depth and
    width. Quick level (the test suite's): every model, dataset and method, the smallest and largest image size."""
    _, prof = load_profile("paper")
    full = _inventory(prof)
    small = smoke_profile(prof)
    assert set(small["notebooks"]) == set(prof["notebooks"])
    smoke = _inventory(small)
    for k in ("model", "dataset", "size", "method", "family", "pool", "skip_bn"):
        assert full[k] <= smoke[k], (k, full[k] - smoke[k])
    for k in ("depth", "width"):  # the largest and the smallest network of each axis
        values = {v for v in full[k] if v is not None}
        assert {min(values), max(values)} <= smoke[k], k
    assert smoke["points"] < full["points"] / 4, (smoke["points"], full["points"])
    quick = _inventory(smoke_profile(prof, level="quick"))
    for k in ("model", "dataset", "method", "pool"):
        assert full[k] <= quick[k], (k, full[k] - quick[k])
    sizes = {v for v in full["size"] if v is not None}
    assert {min(sizes), max(sizes)} <= quick["size"] and quick["points"] <= smoke["points"]
    for stem, entry in small["notebooks"].items():
        assert entry.get("seeds", [0]) == [0] or len(entry["seeds"]) == 1, stem
        assert entry.get("n_images", 1) <= COUNTS["n_images"] and entry.get("device", "auto") == "auto", stem


# ------------------------------------------------------------------------------------------------- memory plan
def _real_saved_per_input(model, x1):
    """Bytes of the distinct storages autograd saves, for two inputs minus one (real tensors, eval mode)."""
    def saved(x):
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(x.requires_grad_(True))
        return sum(seen.values())
    model.eval()
    return saved(torch.cat([x1, x1])) - saved(x1.clone())


@pytest.mark.parametrize("model, shape, options", [("simple_cnn", (3, 64, 64), {"depth": 3}),
                                                   ("skip_bn_cnn", (1, 28, 28), {"skip": True, "bn": True})])
def test_meta_estimate_equals_autograds_saved_bytes(model, shape, options):
    from spectral_lib.nn.models import build_model

    est = mp.estimate(model, "sp:1", shape, 10, **options)
    torch.manual_seed(0)
    net = build_model(model, "sp:1", shape, 10, **options)
    assert est.pass_per_input == _real_saved_per_input(net, torch.randn(1, *shape))
    assert est.params == sum(p.numel() * 4 for p in net.parameters())


def test_estimate_is_not_below_a_measured_peak():
    """A VanillaGrad pass on 4 and 20 images at 224 px (the 7-block CNN of Table A), peak resident memory measured
    in this process (about 12 MB an image, so the 16 extra images dwarf the allocator's noise): the estimate per
    input (saved bytes x PASS_FACTOR) is at least the measured slope, and the saved bytes are at least half of it
    (they are most of a pass's memory). book/scaling.md has the same comparison on all the paper's models."""
    import json
    import subprocess
    import sys

    shape = (3, 224, 224)
    # measured in a fresh process: the suite's earlier tests leave the allocator in a state that blurs the slope
    code = ("import json; from spectral_lib.experiments import memory_plan as mp; "
            "print(json.dumps(mp.measure('simple_cnn', (3, 224, 224), 10, batches=(4, 20), ops=('vanilla_grad',), "
            "depth=7)['vanilla_grad']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    peaks = json.loads(out.stdout.strip().splitlines()[-1])
    _, per = mp.fit({int(k): v for k, v in peaks.items()} if isinstance(peaks, dict) else peaks)
    est = mp.estimate("simple_cnn", "relu", shape, 10, depth=7)
    assert 0.5 * per <= est.pass_per_input and per <= mp.PASS_FACTOR * est.pass_per_input, (per, est)


def test_pass_sizes_follow_the_code():
    n224 = 3 * 224 * 224
    per = (1 << 22) // n224  # points._PASS_ELEMENTS: 27 images of 3x224x224 per pass
    assert mp.pass_inputs("vanilla_grad", 1000, n224) == per == 27
    assert mp.pass_inputs("captum_deeplift", 1000, n224) == 2 * per
    assert mp.pass_inputs("smooth_grad", 1000, n224, n_samples=64) == per
    assert mp.pass_inputs("smooth_grad", 6, 784, n_samples=64) == 6 * 64  # whole copies of a small batch
    assert mp.pass_inputs("captum_integrated_gradients", 2, n224) == 100  # captum's 50 steps at once
    assert mp.largest(80 * mp.GB, 0, 1 * mp.GB) == int((80 * mp.GB - mp.GPU_RESERVE) * mp.GPU_SLACK // mp.GB)


def test_paper_profile_fits_80_gb_and_is_refused_on_8_gb():
    _, prof = load_profile("paper")
    pts = chapter_points("04_ef_vs_beta", chapter_parameters("04_ef_vs_beta", prof, None).params)
    rows = mp.check_fits(pts, 80 * mp.GB, "04_ef_vs_beta")
    assert rows and all(r["max_batch"] >= 256 and r["train_gb"] < 80 for r in rows)
    with pytest.raises(mp.ConfigError, match=r"04_ef_vs_beta: parameter 'batch_size' = 256 does not fit .* the "
                                             r"largest batch that fits is \d+"):
        mp.check_fits(pts, 8 * mp.GB, "04_ef_vs_beta")


def test_book_build_refuses_the_paper_profile_on_a_small_gpu(monkeypatch):
    """With CUDA mocked present and 8 GB (torch.cuda.get_device_properties(0).total_memory), the book command's
    validation stops before any notebook runs, naming the chapter and batch_size."""
    import build_book

    class Props:
        total_memory = 8 * mp.GB

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props())
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Mocked GPU")
    assert mp.gpu_total_bytes() == 8 * mp.GB
    t0 = time.perf_counter()
    with pytest.raises(build_book.BuildError, match=r"01_spectral_toolkit: ConfigError: parameter 'batch_size' = "
                                                    r"256 does not fit Mocked GPU \(8.0 GB\)"):
        build_book.validate("paper", ["01_spectral_toolkit"], [])
    assert time.perf_counter() - t0 < 60
    monkeypatch.setattr(Props, "total_memory", 80 * mp.GB)
    build_book.validate("paper", ["01_spectral_toolkit"], [])  # fits an 80 GB GPU


# ------------------------------------------------------------------------------------------------- the smoke run
def _mtimes(folder: Path) -> dict[str, int]:
    return {str(f.relative_to(folder)): f.stat().st_mtime_ns for f in folder.rglob("*") if f.is_file()} \
        if folder.is_dir() else {}


def test_paper_smoke_runs_every_chapter(tmp_path, spectral_cache_dir):
    """``build_book.py --profile paper --smoke --jobs 2`` at the quick level (``SPECTRAL_LIB_SMOKE_LEVEL=quick``, and
    the book's two lanes side by side, to stay within the suite's time budget; set it to ``full`` for the book
    command's default): every chapter of the book runs on stand-in data, each with its time and peak memory
    reported, then the models no chapter uses yet; no real output is touched."""
    import build_book

    stems = build_book.toc_notebooks()
    watched = {"generated": ROOT / "book" / "_generated", "session cache": spectral_cache_dir}
    before = {k: _mtimes(v) for k, v in watched.items()}
    run_times = ROOT / "book" / "run_times.json"
    rt_before = run_times.read_bytes() if run_times.is_file() else None
    out = tmp_path / "smoke"
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_book.py"), "--profile", "paper", "--smoke",
                        "--jobs", "2", "--path-output", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=3000, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
                            "SPECTRAL_LIB_SMOKE_LEVEL": os.environ.get("SPECTRAL_LIB_SMOKE_LEVEL", "quick")})
    wall = time.perf_counter() - t0
    assert p.returncode == 0, f"smoke failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    report = json.loads((out / "smoke_report.json").read_text())
    assert [r["chapter"] for r in report["chapters"]] == stems and report["lanes"] == 2
    for r in report["chapters"]:
        assert r["status"] == "ok" and r["wall_s"] > 0 and r["rss_peak"] >= r["rss_start"] > 0, r
    assert [m["model"] for m in report["models"]] == ["resnet50", "vit_b_16", "simple_cnn"]
    assert all(m["classes"] == (1000 if m["model"] != "simple_cnn" else 10) for m in report["models"])
    assert "Largest memory consumer" in (out / "smoke_report.md").read_text()
    assert not (out / "cache").exists()  # the temporary cache is removed
    assert {k: _mtimes(v) for k, v in watched.items()} == before
    assert (run_times.read_bytes() if run_times.is_file() else None) == rt_before
    print(f"\npaper smoke: {wall:.1f} s\n" + (out / "smoke_report.md").read_text())
