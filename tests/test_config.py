"""Profiles and parameters (spectral_lib.config, book.parameters): every bad configuration fails within seconds,
before any training, with a message naming the chapter, the parameter and the value, on each of the three paths:
the book command (scripts/build_book.py), the sweep command (python -m spectral_lib.sweep) and papermill directly.

The chapter is a small generated notebook in a temporary folder whose first cell is ``P = book.parameters(globals())``;
nothing in it trains, so a run that is not refused ends in seconds too.
"""
from __future__ import annotations

import os
import re
import stat
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from spectral_lib import cache
from spectral_lib.companion import profiles as config
from spectral_lib.companion import runtime as book
from spectral_lib.experiments import point_path
from spectral_lib.checks import ConfigError, ParameterError
from spectral_lib.companion.parameters import check_params

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

STEM = "zz_chapter"
NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A grid chapter for the configuration tests

# %% tags=["parameters"]
profile = "quick"
cache_dir = None
dataset = "mnist5k"
model = "simple_cnn"
model_options = {"depth": 2}
activations = ["relu", "spc:1"]
seeds = [0]
accuracy_cap = 0.5
max_epochs = 1
n_images = 4
image_offset = 0
device = "cpu"

# %%
from spectral_lib import companion

P = companion.parameters(globals())
print("VALID", sorted(P))
'''
SETUP_NOTEBOOK = NOTEBOOK.replace("P = book.parameters(globals())", "P = book.setup(dict(profile=profile, "
                                  "cache_dir=cache_dir, dataset=dataset, model=model, model_options=model_options, "
                                  "activations=activations, seeds=seeds, accuracy_cap=accuracy_cap, "
                                  "max_epochs=max_epochs, n_images=n_images, image_offset=image_offset, "
                                  "device=device))")

# bad configuration -> (the chapter's profile entry, what the message must say)
BAD = {
    "model_options typo": ({"model_options": {"dpth": 2}},
                           r"model_options=\{'dpth': 2\}: unknown option 'dpth' for simple_cnn"),
    "impossible depth": ({"model_options": {"depth": 6}},
                         r"model_options=\{'depth': 6\}: depth=6 needs inputs of at least 64x64, got 28x28"),
    "unavailable device": ({"device": "cuda"}, r"parameter 'device' = 'cuda' is invalid: CUDA is not available"),
    "unknown parameter": ({"lr_typo": 0.1}, r"unknown parameter\(s\) \['lr_typo'\]"),
    "offset past the test split": ({"image_offset": 1000},
                                   r"parameter 'image_offset' = 1000 is out of range: dataset 'mnist5k' has 1000 "
                                   r"test images"),
    "negative offset": ({"image_offset": -3}, r"parameter 'image_offset' = -3 is invalid: expected a non-negative"),
}
SECONDS = 20.0  # generous for a shared 2-core machine; each check itself takes well under a second


@pytest.fixture
def chapter(tmp_path, monkeypatch):
    """A notebooks folder with the chapter, a profile writer, and no CUDA (here and in papermill's kernels)."""
    nb = tmp_path / "notebooks"
    nb.mkdir()
    (nb / f"{STEM}.py").write_text(NOTEBOOK)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    def profile(entry: dict, name: str = "bad", defaults: dict | None = None) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"defaults": defaults or {"profile": name},
                                        "notebooks": {STEM: entry}}))
        return path

    return tmp_path, nb, profile


# ------------------------------------------------------------------------------------------- the book command
@pytest.mark.parametrize("case", list(BAD))
def test_book_command_refuses_before_running(case, chapter, monkeypatch, capsys):
    tmp, nb, profile = chapter
    entry, message = BAD[case]
    monkeypatch.setattr(build_book, "NB_SRC", nb)
    monkeypatch.setattr(build_book, "toc_notebooks", lambda *a: [STEM])
    monkeypatch.setattr(build_book, "execute_notebook", lambda *a, **k: pytest.fail("a notebook was executed"))
    for flags in (["--check"], ["--no-build"]):  # validation only, and the real run: refused before executing
        t0 = time.perf_counter()
        assert build_book.main(["--profile", str(profile(entry)), *flags]) == 1
        err = capsys.readouterr().err
        assert time.perf_counter() - t0 < SECONDS
        assert f"error: {STEM}: " in err and "ParameterError" in err, err
        assert re.search(message, err), err


def test_book_command_check_passes_and_names_unknown_override(chapter, monkeypatch, capsys):
    tmp, nb, profile = chapter
    monkeypatch.setattr(build_book, "NB_SRC", nb)
    monkeypatch.setattr(build_book, "toc_notebooks", lambda *a: [STEM])
    assert build_book.main(["--profile", str(profile({})), "--check"]) == 0
    assert "1 chapter(s) valid" in capsys.readouterr().out
    assert build_book.main(["--profile", str(profile({})), "--check", "--param", "no_such=1"]) == 1
    assert "no selected notebook accepts ['no_such']" in capsys.readouterr().err
    assert build_book.main(["--profile", str(profile({}, defaults={"accuracy_capp": 0.9})), "--check"]) == 1
    assert "profile defaults: unknown parameter(s) ['accuracy_capp']" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- the sweep command
@pytest.mark.parametrize("case", list(BAD))
def test_sweep_command_refuses_before_submitting(case, chapter, capsys):
    from spectral_lib import sweep

    tmp, nb, profile = chapter
    entry, message = BAD[case]
    cache_dir = tmp / "sweep_cache"
    for flags in (["--dry-run"], []):
        t0 = time.perf_counter()
        rc = sweep.main(["--profile", str(profile(entry)), "--cache-dir", str(cache_dir), "--notebooks-dir",
                         str(nb), *flags])
        err = capsys.readouterr().err
        assert time.perf_counter() - t0 < SECONDS
        assert rc == 2, err
        assert f"error: {STEM}: " in err and re.search(message, err), err
    assert not cache_dir.exists()  # no state, no job folder, nothing trained


# ---------------------------------------------------------------------------------------------------- papermill
def _papermill(nb_dir: Path, tmp: Path, params: dict, source: str = NOTEBOOK, inject_paths: bool = False):
    """papermill's Python API, as ``papermill in.ipynb out.ipynb -p ...`` (``--inject-paths`` adds the paths)."""
    import jupytext
    import papermill as pm

    src, out = nb_dir / f"{STEM}.ipynb", tmp / "out.ipynb"
    jupytext.write(jupytext.reads(source, fmt="py:percent"), src)
    if inject_paths:
        params = {**params, "PAPERMILL_INPUT_PATH": str(src), "PAPERMILL_OUTPUT_PATH": str(out)}
    return pm.execute_notebook(str(src), str(out), parameters=params, kernel_name="python3", progress_bar=False,
                               cwd=str(tmp))


# Through a real kernel, one case of each kind (a model option, a name the cell does not declare): every case of BAD
# is refused by the same validate_chapter that the book-command and sweep tests above run on all of them, and a
# kernel costs 5-9 s
@pytest.mark.parametrize("case", ["model_options typo", "unknown parameter"])
def test_papermill_refuses_in_the_first_cell(case, chapter):
    import papermill as pm

    tmp, nb, _ = chapter
    entry, message = BAD[case]
    t0 = time.perf_counter()
    with pytest.raises(pm.PapermillExecutionError) as info:
        _papermill(nb, tmp, entry, inject_paths=True)  # --inject-paths: the message names the chapter
    assert time.perf_counter() - t0 < 3 * SECONDS  # includes starting the kernel
    e = info.value
    assert e.ename == "ParameterError" and e.exec_count == 3, (e.ename, e.evalue)  # parameters, injected, first
    assert e.evalue.startswith(f"{STEM}: ") and re.search(message, e.evalue), e.evalue


def test_papermill_good_parameters_and_setup_dict(chapter):
    import papermill as pm

    tmp, nb, _ = chapter
    out = _papermill(nb, tmp, {"seeds": [0, 1], "model_options": {"depth": 3}})
    text = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert "VALID" in text and "'image_offset'" in text and "'seeds'" in text
    # the old spelling (book.setup(dict(...))) keeps working, and refuses unknown injected names too
    out = _papermill(nb, tmp, {"seeds": [1]}, source=SETUP_NOTEBOOK)
    assert "VALID" in "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown parameter\(s\) \['no_such'\]"):
        _papermill(nb, tmp, {"no_such": 1}, source=SETUP_NOTEBOOK)


# --------------------------------------------------------------------------------- the module itself, directly
def test_merge_rule_and_parameters_cell(chapter):
    tmp, nb, profile = chapter
    prof = {"defaults": {"max_epochs": 3, "n_images": 7}, "notebooks": {STEM: {"n_images": 9}}}
    ch = config.chapter_parameters(STEM, prof, {"seeds": [4], "other": 1}, nb)
    assert ch.given == {"max_epochs": 3, "n_images": 9, "seeds": [4]}  # what papermill injects
    assert ch.params["max_epochs"] == 3 and ch.params["n_images"] == 9 and ch.params["seeds"] == [4]
    assert ch.params["model_options"] == {"depth": 2}  # from the parameters cell
    assert "image_offset" in ch.declared and "P" not in ch.declared
    points = config.validate_chapter(STEM, ch.params)
    assert [c.activation for c, _ in points] == ["relu", "spc:1"] and points[0][1].n_images == 9
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        config.load_profile("nope")


def test_cuda_refused_unless_every_point_is_cached(chapter):
    tmp, nb, profile = chapter
    ch = config.chapter_parameters(STEM, {"defaults": {}, "notebooks": {}}, {"device": "cuda"}, nb)
    with pytest.raises(ParameterError, match="'device' = 'cuda'"):
        config.validate_chapter(STEM, ch.params, cache_dir=tmp / "c")
    points = config.validate_chapter(STEM, ch.params, devices=False)
    for c, s in points:  # e.g. computed by a sweep on GPU nodes: the book only reads them
        cache.atomic_write(point_path(c, s, tmp / "c"), b"record")
    assert config.validate_chapter(STEM, ch.params, cache_dir=tmp / "c") == points


@pytest.mark.parametrize("name", ["tiny", "quick"])
def test_repository_profiles_validate_quickly(name):
    t0 = time.perf_counter()
    _, _, chapters = config.prepare(name, build_book.toc_notebooks(), devices=False)
    assert chapters and time.perf_counter() - t0 < SECONDS


def test_ablation_grid_errors_name_the_chapter(chapter):
    params = {"dataset": "mnist5k", "activations": ["relu"], "seeds": [0], "depths": [1, 6], "skip_bn": [[True, True]],
              "image_sizes": [16], "train_noise_stds": [0.0], "train_blur_sigmas": [0.0], "weight_decays": [0.0]}
    with pytest.raises(ParameterError, match=r"06_ablations: model_options=\{'depth': 6\}: depth=6 needs"):
        config.validate_chapter("06_ablations", params, devices=False)
    with pytest.raises(ParameterError, match=r"06_ablations: model_options=\{'skip': True, 'bn': True\}: skip_bn_cnn "
                                             r"needs inputs of at least 8 pixels a side, got 6x6"):
        config.validate_chapter("06_ablations", {**params, "depths": [1], "image_size": 6}, devices=False)


def test_find_cells_from_a_script(chapter):
    tmp, nb, _ = chapter
    declared, injected = book.find_cells({"__file__": str(nb / f"{STEM}.py")})  # python notebooks/<stem>.py
    assert declared[:2] == ["profile", "cache_dir"] and "image_offset" in declared and injected == []


def test_find_cells_from_history():
    params_cell, injected = 'profile = "quick"\nbetas = [1.0]\n', '# Parameters\nbetas = [2.0]\nextra = 1\n'
    ns = {"In": ["", params_cell, injected, "from spectral_lib import book\nP = book.parameters(globals())"]}
    assert book.find_cells(ns) == (["profile", "betas"], ["betas", "extra"])
    assert book.find_cells({"In": ["", params_cell, "import math"]}) == (["profile", "betas"], [])
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['extra'\]"):
        book.parameters({**ns, "profile": "quick", "betas": [2.0], "extra": 1})


# ----------------------------------------------------------------------------------------------- atomic writes
def test_atomic_write_bytes_text_callable_and_failure(tmp_path):
    p = tmp_path / "sub" / "f.bin"
    cache.atomic_write(p, b"abc")
    assert p.read_bytes() == b"abc"
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~cache._UMASK  # as a plain open() would create it
    cache.atomic_write(p, "é")
    assert p.read_text(encoding="utf-8") == "é"
    cache.atomic_write(p, lambda fh: fh.write(b"xyz"))
    assert p.read_bytes() == b"xyz"

    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.atomic_write(p, boom)
    assert p.read_bytes() == b"xyz" and sorted(x.name for x in p.parent.iterdir()) == ["f.bin"]


def test_extra_grids_and_lr_by_activation(chapter):
    tmp, nb, _ = chapter
    params = {"dataset": "mnist5k", "model_options": {"depth": 1}, "activations": ["relu", "sp:1"], "seeds": [0],
              "centred_activations": ["spc:1"], "lr_by_activation": {"sp:1": 0.01, "spc:1": 0.02}, "device": "cpu"}
    points = config.validate_chapter("04_ef_vs_beta", params)  # the EF chapter's second (centred) grid included
    assert [(c.activation, c.lr) for c, _ in points] == [("relu", 1e-3), ("sp:1", 0.01), ("spc:1", 0.02)]
    with pytest.raises(ParameterError, match=r"'lr_by_activation' = .* \['sp:0.9'\] not among the chapter's"):
        config.validate_chapter("04_ef_vs_beta", {**params, "lr_by_activation": {"sp:0.9": 0.01}})
    with pytest.raises(ParameterError, match=r"centred_activations\[0\]"):
        check_params({"centred_activations": ["spx:1"]})
