"""torchvision's model zoo as the test matrix of ``analyze`` (issue 20), and what the zoo showed: activation modules
reused in place (DeepLIFT, Guided Backprop), zero heads and degenerate maps, preprocessing from weight enums, the
model's dtype, and partial results when one method fails during the run.

The whole zoo is *planned* (from zero-size batches, structure only, :func:`plan_zoo_model`); a few representative
architectures are *run* for real at small input sizes (:func:`run_zoo_model`). ``pytest -s`` prints the matrix by
reason. (The Quantus side of the issue, ``ExpectedFrequency`` / ``EFDifference`` categories and the paper's
aggregate through ``quantus.evaluate``, is tested in test_quantus_metrics.py.)
"""
from __future__ import annotations

import functools
import importlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from spectral_lib.explain import METHODS, captum_deeplift, captum_guided_backprop, deeplift, guided_backprop
from spectral_lib.explain import vanilla_grad
from spectral_lib.explain.model_copy import counterpart, distinct_activations
from spectral_lib.nn import build_model
from spectral_lib.spectral import expected_frequency, to_map
from spectral_lib.tools import analyze
from spectral_lib.tools.analyze import AnalysisWarning, MethodRefused, analyze_details
from spectral_lib.tools.cli import main
from spectral_lib.tools.figure import _footnote
from spectral_lib.tools.inspection import probe_model
from spectral_lib.tools.plan import refusal_line
from spectral_lib.tools.preprocess import ImageError, Preprocess, load_folder, resolve_weights
from spectral_lib.tools.zoo import (build_zoo_model, plan_zoo_model, reason_category, run_zoo_model, zoo_input_size,
                                    zoo_names)

ALL = list(METHODS)
# run for real: a residual net with one in-place ReLU per block, a MobileNet (ReLU6 / Hardswish / SE), a DenseNet
# (functional relus), a ViT (zero-initialised head)
RUN_SET = ("resnet18", "mobilenet_v3_small", "densenet121", "vit_b_16")


# --------------------------------------------------------------------------------------------- the zoo matrix


@pytest.fixture(scope="module")
def zoo_plans() -> dict[str, dict[str, str | None]]:
    """Architecture -> method -> refusal reason (None: accepted), for every torchvision classification model."""
    return {name: plan_zoo_model(name) for name in zoo_names()}


def _reason_table(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(model, method, reason or "") rows -> pairs and models per category ("ran" / "accepted" first)."""
    frame = pd.DataFrame(rows, columns=["model", "method", "reason"])
    return frame.groupby("reason").agg(pairs=("model", "size"), models=("model", "nunique")).sort_values(
        "pairs", ascending=False)


def test_zoo_plan_every_architecture(zoo_plans):
    """Every architecture x method is accepted or refused with a one-line reason of a known kind; no exception."""
    import torchvision

    assert list(zoo_plans) == list(torchvision.models.list_models(module=torchvision.models))
    rows = []
    for name, plan in zoo_plans.items():
        assert list(plan) == ALL, name
        for m, reason in plan.items():
            if reason is None:
                rows.append((name, m, "accepted"))
                continue
            assert isinstance(reason, str) and reason.strip(), (name, m)
            line = refusal_line(name, m, reason)
            assert "\n" not in line and line.startswith(f"{name}: {m}: refused: "), line
            category = reason_category(reason)
            assert category != reason, f"unclassified refusal: {line}"  # every refusal is of a known kind
            rows.append((name, m, f"refused: {category}"))
        # VanillaGrad (the gap's reference) and Grad-CAM at the last conv (every zoo model has one, > 1x1 at its
        # input size: ViT's and Swin's patch embeddings included) run on every architecture
        assert plan["vanilla_grad"] is None and plan["grad_cam"] is None, (name, plan)
    table = _reason_table(rows)
    print(f"\nzoo plan: {len(zoo_plans)} architectures x {len(ALL)} methods = {len(rows)} pairs\n"
          + table.to_string())
    assert table["pairs"].sum() == len(zoo_plans) * len(ALL)
    # the resnet18 + deeplift failure: reused in-place ReLUs are no reason to refuse
    for name in ("resnet18", "resnet50", "wide_resnet50_2"):
        assert zoo_plans[name]["deeplift"] is None and zoo_plans[name]["guided_backprop"] is None


def test_zoo_small_sizes_keep_grad_cam_meaningful():
    """At the small sizes the matrix runs at (:func:`zoo_input_size`), every architecture builds, runs, and its last
    conv layer is at least 2x2 (else Grad-CAM is refused as constant): checked on zero-size batches."""
    for name in zoo_names():
        s = zoo_input_size(name, small=True)
        assert s <= zoo_input_size(name)
        probe = probe_model(build_zoo_model(name, probe_only=True, small=True), torch.zeros(0, 3, s, s))
        layer, shape = probe.last_conv()
        assert shape[-2] * shape[-1] >= 4, f"{name} at {s} px: last conv {probe.names[id(layer)]} is {shape}"


@pytest.mark.parametrize("name", RUN_SET)
def test_zoo_run_representative(name, zoo_plans):
    """Real runs (one small image, all methods): every method returns measured maps, flagged maps or a refusal;
    none fails during the run, and the refusals are those the zero-size-batch plan predicted (or, for ViT's
    zero-initialised head, every method refused up front for constant logits)."""
    verdicts = run_zoo_model(name)
    assert set(verdicts) == set(ALL)
    print(f"\n{name}: " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(v[0] for v in verdicts.values()).items())))
    for m, (status, detail) in verdicts.items():
        assert status in ("ran", "flagged", "refused"), (name, m, status, detail)
    reasons = {detail for status, detail in verdicts.values() if status == "refused"}
    if len(reasons) == 1 and all(status == "refused" for status, _ in verdicts.values()):
        print(f"  {refusal_line(name, 'all methods', reasons.pop())}")
    else:
        for m, (status, detail) in verdicts.items():
            if status != "ran":
                print(f"  {name}: {m}: {status}: {detail[:160]}")
    refused = {m for m, (status, _) in verdicts.items() if status == "refused"}
    if name.startswith("vit_"):
        assert refused == set(ALL)
        for _, detail in verdicts.values():
            assert reason_category(detail).startswith("constant logits")
            assert "torchvision initialises the heads of vit_* models to zero" in detail
    else:
        assert refused == {m for m, r in zoo_plans[name].items() if r is not None}
        assert verdicts["vanilla_grad"] == ("ran", "")  # finite, measured maps


def test_refusals_come_before_any_work(monkeypatch):
    """Refused methods raise MethodRefused, one line per method naming model, method and reason, and nothing runs."""
    analyze_module = importlib.import_module("spectral_lib.tools.analyze")  # the package exports the function

    def no_run(*args, **kwargs):
        raise AssertionError("the run started although methods were refused")

    monkeypatch.setattr(analyze_module, "run_methods", no_run)
    torch.manual_seed(0)
    model = build_zoo_model("mobilenet_v3_small", small=True)
    x = torch.rand(2, 3, 64, 64)
    with pytest.raises(MethodRefused) as exc:
        analyze(model, x, ["grad_cam", "beta_smooth_grad", "captum_guided_grad_cam"], progress=False,
                model_name="mobilenet_v3_small")
    lines = exc.value.lines
    assert [ln.split(": ")[:3] for ln in lines] == [["mobilenet_v3_small", "beta_smooth_grad", "refused"],
                                                     ["mobilenet_v3_small", "captum_guided_grad_cam", "refused"]]
    assert all("\n" not in ln for ln in lines)
    assert "nn.ReLU" in lines[0] and "GradCAM layer" in lines[1]


# --------------------------------------------------------------- DeepLIFT / Guided Backprop on reused in-place ReLUs


class _ResBlockNet(nn.Module):
    """A stem and one residual block in the pattern of torchvision's BasicBlock. ``shared``: one
    ``nn.ReLU(inplace=True)`` module called three times (as torchvision does); else three distinct out-of-place
    ``nn.ReLU`` modules (the model captum's DeepLift and GuidedBackprop are defined on). Same parameter names."""

    def __init__(self, shared: bool) -> None:
        super().__init__()
        self.shared = shared
        self.conv0, self.bn0 = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv1, self.bn1 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.conv2, self.bn2 = nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 4)
        if shared:
            self.relu = nn.ReLU(inplace=True)
        else:
            self.relu0, self.relu1, self.relu2 = nn.ReLU(), nn.ReLU(), nn.ReLU()

    def act(self, i: int) -> nn.Module:
        return self.relu if self.shared else getattr(self, f"relu{i}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(0)(self.bn0(self.conv0(x)))
        out = self.act(1)(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.fc(self.act(2)(out).mean(dim=(2, 3)))


@pytest.fixture
def twin_nets() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(shared in-place model in train mode, its distinct out-of-place twin in eval mode, inputs), float64, with
    non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    shared = _ResBlockNet(shared=True).double()
    for bn in (shared.bn0, shared.bn1, shared.bn2):
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 2.0)
    careful = _ResBlockNet(shared=False).double()
    careful.load_state_dict(shared.state_dict())
    x = torch.randn(3, 3, 10, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return shared.train(), careful.eval(), x


def _snapshot(model: nn.Module) -> dict:
    return {"modules": [(name, id(m), type(m)) for name, m in model.named_modules()],
            "tensors": {k: (id(v), v.detach().clone()) for k, v in model.state_dict(keep_vars=True).items()},
            "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
                         + len(m._backward_pre_hooks) for m in model.modules()),
            "training": model.training, "inplace": model.relu.inplace}


@pytest.mark.filterwarnings("ignore::UserWarning")  # captum's notices (hooks set, inputs made to require grad)
def test_reused_inplace_relu_runs_on_a_copy_and_matches_captum(twin_nets, monkeypatch):
    from captum.attr import DeepLift, GuidedBackprop

    import spectral_lib.explain.authors as authors_module
    import spectral_lib.explain.methods as methods_module

    shared, careful, x = twin_nets
    before = _snapshot(shared)
    copies: list[nn.Module] = []

    def spy(model, *args, **kwargs):
        twin = distinct_activations(model, *args, **kwargs)
        copies.append(twin)
        return twin

    monkeypatch.setattr(methods_module, "distinct_activations", spy)
    monkeypatch.setattr(authors_module, "distinct_activations", spy)
    with torch.no_grad():
        t = careful(x).argmax(1)
    ours = {"deeplift": deeplift(shared, x, t), "guided_backprop": guided_backprop(shared, x, t),
            "guided_backprop_captum_rule": guided_backprop(shared, x, t, rule="captum"),
            "captum_deeplift": captum_deeplift(shared, x, t),
            "captum_guided_backprop": captum_guided_backprop(shared, x, t)}
    # every method ran on a distinct-activations copy: the shared ReLU split into three out-of-place per-call copies
    assert len(copies) == len(ours)
    for twin in copies:
        assert twin is not shared
        stand_in = counterpart(twin, shared.relu)
        calls = list(stand_in.calls)
        assert len(calls) == 3 and len({id(c) for c in calls}) == 3 and not any(c.inplace for c in calls)
    # the user's model is untouched: same modules, same tensors (objects and values), no hooks, still in place
    after = _snapshot(shared)
    assert after["modules"] == before["modules"] and after["hooks"] == before["hooks"] == 0
    assert after["training"] is True and after["inplace"] is True
    for k, (ident, value) in before["tensors"].items():
        assert after["tensors"][k][0] == ident, k
        torch.testing.assert_close(after["tensors"][k][1], value, rtol=0, atol=0)
    # equal to captum on the model with distinct out-of-place ReLUs (where captum works directly)
    logsoftmax = nn.Sequential(careful, nn.LogSoftmax(dim=1)).eval()
    torch.testing.assert_close(ours["deeplift"], DeepLift(logsoftmax).attribute(x, baselines=torch.zeros_like(x),
                                                                                 target=t))
    torch.testing.assert_close(ours["captum_deeplift"], DeepLift(careful).attribute(x, target=t))
    torch.testing.assert_close(ours["captum_guided_backprop"], GuidedBackprop(careful).attribute(x, target=t))
    reference_gbp = GuidedBackprop(logsoftmax).attribute(x, target=t)
    torch.testing.assert_close(ours["guided_backprop_captum_rule"], reference_gbp)
    torch.testing.assert_close(ours["guided_backprop"], reference_gbp)  # ReLU only: the generalised rule is captum's
    # not a trivial agreement: DeepLIFT differs from the gradient x input here, Guided Backprop from the gradient
    assert not torch.allclose(ours["captum_deeplift"], x * torch.func.grad(lambda z: careful(z[None])[0, t[0]])(x[0]))
    assert not torch.allclose(ours["guided_backprop"], vanilla_grad(careful, x, t))


# ------------------------------------------------------------------------------------ degenerate explanations


def _cnn(head: str, seed: int = 0) -> nn.Module:
    """spectral_lib's simple CNN (1x28x28, 10 classes) with its head's weights zeroed; ``head="zero"``: bias zeroed
    too (constant logits, like torchvision's ViT), ``"bias"``: a random bias (distinct logits, zero gradients)."""
    torch.manual_seed(seed)
    model = build_model("simple_cnn", "relu", (1, 28, 28), 10).eval()
    fc = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        fc.weight.zero_()
        fc.bias.copy_(torch.randn(10) if head == "bias" else torch.zeros(10))
    return model


def test_constant_logits_refused_never_measured(tmp_path, capsys):
    x = torch.rand(3, 1, 28, 28)
    with pytest.raises(MethodRefused) as exc:
        analyze(_cnn("zero"), x, ["smooth_grad", "grad_cam"], progress=False, model_name="zero_head")
    (line,) = exc.value.lines
    assert line.startswith("zero_head: all methods: refused: the logits are identical for every class on all 3 images")
    assert "every map would be constant" in line and "vit_*" not in line
    # through the command line: exit 2, one line, nothing written
    torch.save(_cnn("zero").state_dict(), tmp_path / "w.pt")
    np.savez(tmp_path / "x.npz", images=(x.numpy() * 255).astype(np.uint8)[:, 0])
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as ex:
        main(["analyze", "--model", "simple_cnn", "--in-shape", "1", "28", "28", "--num-classes", "10",
              "--checkpoint", str(tmp_path / "w.pt"), "--images", str(tmp_path / "x.npz"), "--methods",
              "vanilla_grad", "--out", str(out), "--no-progress"])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert "simple_cnn: all methods: refused: the logits are identical" in err and "Traceback" not in err
    assert "error: nothing was computed\n" in err  # no "--skip-refused runs the other methods": there are none
    assert not out.exists()


def test_zero_gradients_flagged_not_measured(tmp_path, capsys):
    """Distinct logits but all-zero gradients: every map is flagged (EF NaN, reason in ``flag``), with a warning,
    a note under the figure and the flag in the CSV / JSON; never a number."""
    x = torch.rand(3, 1, 28, 28)
    methods = ("vanilla_grad", "smooth_grad", "integrated_gradients")
    with pytest.warns(AnalysisWarning) as caught:
        result = analyze_details(_cnn("bias"), x, methods, progress=False,
                                 method_options={"smooth_grad": {"n_samples": 3}})
    assert sorted(str(w.message) for w in caught) == sorted(
        f"SimpleCNN: {m}: 3 of 3 maps degenerate (all zero x3): EF not measured (NaN)" for m in methods)
    table = result.table
    assert len(table) == 9 and (table["flag"] == "all zero").all()
    assert table[["ef_paper", "ef_nyquist", "gap_ef_paper", "gap_ef_nyquist"]].isna().all().all()
    assert result.flag_counts == {m: {"all zero": 3} for m in methods}
    note = _footnote(result)
    assert "vanilla_grad: 3 maps all zero (EF not measured)" in note
    torch.save(_cnn("bias").state_dict(), tmp_path / "w.pt")
    np.savez(tmp_path / "x.npz", images=(x.numpy() * 255).astype(np.uint8)[:, 0])
    out = tmp_path / "out"
    assert main(["analyze", "--model", "simple_cnn", "--in-shape", "1", "28", "28", "--num-classes", "10",
                 "--checkpoint", str(tmp_path / "w.pt"), "--images", str(tmp_path / "x.npz"), "--methods",
                 "vanilla_grad", "--out", str(out), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "simple_cnn: vanilla_grad: 3 of 3 maps degenerate (all zero x3): EF not measured (NaN)" in captured.err
    assert "EF not measured: 3 of 3 maps degenerate" in captured.out
    csv = pd.read_csv(out / "results.csv")
    assert (csv["flag"] == "all zero").all() and csv["ef_paper"].isna().all()
    doc = json.loads((out / "results.json").read_text())
    assert [r["flag"] for r in doc["results"]] == ["all zero"] * 3
    assert all(r["ef_paper"] is None for r in doc["results"])
    assert doc["summary"][0]["n_measured"] == 0 and doc["summary"][0]["ef_paper"] is None


# ---------------------------------------------------------------------------------------------- preprocessing


@pytest.fixture(scope="module")
def odd_sizes(tmp_path_factory) -> Path:
    """Three RGB photos-to-be of different sizes, none square or 224 px."""
    folder = tmp_path_factory.mktemp("odd")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(200, 300), (240, 180), (90, 120)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


def _no_download(monkeypatch) -> None:
    import torch.hub

    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def test_resolve_weights_and_transforms_without_download(monkeypatch, odd_sizes):
    import torchvision

    _no_download(monkeypatch)
    v2 = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    assert resolve_weights("IMAGENET1K_V2", "resnet50") is v2
    assert resolve_weights("ResNet50_Weights.IMAGENET1K_V2") is v2
    assert resolve_weights("DEFAULT", "resnet50") is torchvision.models.ResNet50_Weights.DEFAULT
    with pytest.raises(ImageError, match="available: IMAGENET1K_V1, IMAGENET1K_V2"):
        resolve_weights("IMAGENET1K_V3", "resnet50")
    with pytest.raises(ImageError, match="needs a torchvision --model"):
        resolve_weights("IMAGENET1K_V2")
    prep = Preprocess.from_weights(v2)
    t = v2.transforms()
    assert (prep.resize_size, prep.crop_size, prep.mean, prep.std) == (list(t.resize_size), list(t.crop_size),
                                                                       list(t.mean), list(t.std))
    images, files = load_folder(odd_sizes, 3, None, prep)
    side = t.crop_size[0]
    assert images.shape == (3, 3, side, side) and files == ["p0.png", "p1.png", "p2.png"]
    mean, std = torch.tensor(t.mean).view(3, 1, 1), torch.tensor(t.std).view(3, 1, 1)
    for img, name in zip(images, files):
        with Image.open(odd_sizes / name) as im:
            torch.testing.assert_close((img - mean) / std, t(im.convert("RGB")))  # torchvision's preprocessing


def test_cli_weights_resize_and_normalisation_warning(monkeypatch, odd_sizes, tmp_path, capsys):
    import torchvision

    _no_download(monkeypatch)
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    out = tmp_path / "w"
    assert main(["analyze", "--model", "resnet18", "--weights", "IMAGENET1K_V1", "--images", str(odd_sizes),
                 "--methods", "vanilla_grad", "--n-images", "2", "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "not normalised" not in err and "no --checkpoint: the model has random weights" in err
    doc = json.loads((out / "results.json").read_text())
    t = weights.transforms()
    assert doc["config"]["image_shape"] == [3, t.crop_size[0], t.crop_size[0]]
    assert doc["preprocessing"]["resize"] == list(t.resize_size) and doc["preprocessing"]["crop"] == list(t.crop_size)
    assert doc["config"]["mean"] == list(t.mean) and doc["config"]["std"] == list(t.std)
    csv = pd.read_csv(out / "results.csv")
    assert csv["target_name"].tolist() == [weights.meta["categories"][c] for c in csv["target"]]  # class names
    # without --weights and without --mean/--std: resized by --image-size, and a warning that nothing normalises
    out2 = tmp_path / "s"
    assert main(["analyze", "--model", "resnet18", "--num-classes", "10", "--image-size", "64", "--images",
                 str(odd_sizes), "--methods", "vanilla_grad", "--out", str(out2), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "warning: the inputs are not normalised (no --weights, no --mean/--std)" in err
    doc = json.loads((out2 / "results.json").read_text())
    assert doc["config"]["image_shape"] == [3, 64, 64] and doc["config"]["mean"] is None
    assert len(doc["results"]) == 3


# ------------------------------------------------------------------------------------------ dtype of the model


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_dtype_follows_the_model(dtype, monkeypatch):
    torch.manual_seed(0)
    model = build_model("simple_cnn", "relu", (1, 28, 28), 10).eval().to(dtype)
    seen: list[torch.dtype] = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
    maps_dtypes: list[torch.dtype] = []
    real = METHODS["vanilla_grad"]

    @functools.wraps(real)
    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        maps_dtypes.append(out.dtype)
        return out

    monkeypatch.setitem(METHODS, "vanilla_grad", spy)
    x = torch.rand(3, 1, 28, 28)  # float32 images: cast to the model's dtype
    table = analyze(model, x, ["vanilla_grad", "smooth_grad", "grad_cam"], mean=[0.5], std=[0.25],
                    progress=False, method_options={"smooth_grad": {"n_samples": 2}})
    assert seen and set(seen) == {dtype} and set(maps_dtypes) == {dtype}
    assert len(table) == 9 and table["flag"].isna().all() and np.isfinite(table["ef_paper"]).all()
    if dtype == torch.float64:  # the EF of the float64 VanillaGrad maps
        x64 = (x.double() - 0.5) / 0.25
        ef = expected_frequency(to_map(real(model, x64).float())).numpy()
        np.testing.assert_allclose(table[table["method"] == "vanilla_grad"]["ef_paper"], ef, rtol=1e-6)


# ------------------------------------------------------------------------------ partial results of a failed run


class _Picky(nn.Module):
    """Class scores of (N, 1, 12, 12) inputs; raises on inputs above 1.2 (SmoothGrad's noisy copies of images in
    [0, 1] reach them; the clean images and Integrated Gradients' path do not): a failure after every check."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 12 * 12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x > 1.2).any()):
            raise RuntimeError("input above 1.2")
        return self.fc(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch deprecates TorchScript
def test_cli_failed_method_keeps_the_others(tmp_path, capsys):
    torch.manual_seed(0)
    torch.jit.script(_Picky().eval()).save(str(tmp_path / "picky.pt"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", images=rng.integers(0, 256, (4, 12, 12), dtype=np.uint8))
    out = tmp_path / "out"
    code = main(["analyze", "--torchscript", str(tmp_path / "picky.pt"), "--images", str(tmp_path / "x.npz"),
                 "--methods", "vanilla_grad", "smooth_grad", "integrated_gradients", "--out", str(out),
                 "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    # named with the error raised in the TorchScript code (not only "The following operation failed ...")
    assert "picky.pt: smooth_grad: failed: RuntimeError: input above 1.2 (in the TorchScript model)" in err
    assert "error: smooth_grad failed during the run; the other methods' results are written" in err
    assert "Traceback" not in err
    table = pd.read_csv(out / "results.csv")
    assert sorted(set(table["method"])) == ["integrated_gradients", "vanilla_grad"] and len(table) == 8
    assert np.isfinite(table["ef_paper"]).all()
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["failed"]) == ["smooth_grad"] and doc["plan"]["smooth_grad"]["status"] == "failed"
    assert doc["plan"]["integrated_gradients"]["status"] == "run"
    assert [r["method"] for r in doc["summary"]] == ["vanilla_grad", "integrated_gradients"]
    assert (out / "figure.png").stat().st_size > 0
