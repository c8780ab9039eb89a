"""Datasets: the embedded ones load offline, split stratified and deterministically; missing ones fail clearly."""
from __future__ import annotations

import hashlib
import socket
import time

import numpy as np
import pytest
import torch

from spectral_lib import data
from spectral_lib.data import DatasetUnavailableError, load, take


def _hashes(x: torch.Tensor) -> set[str]:
    return {hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in x}


def test_mnist5k_split_sizes_stratified_and_normalised(mnist5k):
    xtr, ytr = mnist5k.train.tensors
    xte, yte = mnist5k.test.tensors
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert torch.bincount(ytr, minlength=10).tolist() == [400] * 10
    assert torch.bincount(yte, minlength=10).tolist() == [100] * 10
    assert float(xtr.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(xtr.std()) == pytest.approx(1.0, abs=1e-3)
    info = mnist5k.info
    assert info.in_shape == (1, 28, 28) and info.num_classes == 10
    # train and test are disjoint and together are the 5,000 digits (no image twice)
    h_tr, h_te = _hashes(xtr), _hashes(xte)
    assert not (h_tr & h_te)
    assert len(h_tr) + len(h_te) == 5000
    # undoing the normalisation gives back pixel values in [0, 1]
    raw = xtr * info.std[0] + info.mean[0]
    assert float(raw.min()) == pytest.approx(0.0, abs=1e-5) and float(raw.max()) == pytest.approx(1.0, abs=1e-5)


def test_mnist5k_is_deterministic_and_cached(mnist5k, spectral_cache_dir):
    assert (spectral_cache_dir / "datasets" / "mnist5k.npz").exists()  # in the session cache, not ~/.cache
    again = load("mnist5k")
    for a, b in zip(mnist5k.train.tensors + mnist5k.test.tensors, again.train.tensors + again.test.tensors):
        assert torch.equal(a, b)
    x, y = take(again.test, 5, offset=10)
    assert torch.equal(x, mnist5k.test.tensors[0][10:15]) and torch.equal(y, mnist5k.test.tensors[1][10:15])


def test_damaged_dataset_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECTRAL_LIB_CACHE", str(tmp_path))
    first = load("digits")
    path = tmp_path / "datasets" / "digits.npz"
    path.write_bytes(path.read_bytes()[:100])  # truncated
    again = load("digits")
    assert torch.equal(first.train.tensors[0], again.train.tensors[0])
    with np.load(path) as z:  # rewritten whole
        assert z["x"].shape[0] == 1797


@pytest.mark.parametrize("name,n_total,test_fraction,shape,classes", [("digits", 1797, 0.2, (1, 8, 8), 10),
                                                                       ("lfw", 200, 0.25, (1, 25, 25), 2)])
def test_other_embedded_datasets(name, n_total, test_fraction, shape, classes):
    s = load(name)
    assert len(s.train) + len(s.test) == n_total
    assert s.info.in_shape == shape and s.info.num_classes == classes
    x, y = s.train.tensors
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-4) and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    assert not (_hashes(x) & _hashes(s.test.tensors[0]))
    counts_tr, counts_te = torch.bincount(y, minlength=classes), torch.bincount(s.test.tensors[1], minlength=classes)
    # stratified: each class contributes its own share (to the nearest image) to the test split
    assert bool(((counts_te - test_fraction * (counts_tr + counts_te)).abs() <= 0.5 + 1e-9).all())


def test_image_size_resizes(mnist5k):
    s = load("mnist5k", image_size=16)
    assert s.train.tensors[0].shape == (4000, 1, 16, 16) and s.info.in_shape == (1, 16, 16)
    assert torch.equal(s.train.tensors[1], mnist5k.train.tensors[1])


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "imagenette"])
def test_missing_torchvision_dataset_fails_fast_without_network(name, tmp_path, monkeypatch):
    import torchvision  # noqa: F401  (imported before timing)

    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailableError) as info:
        load(name, root=tmp_path, download=False)
    elapsed = time.perf_counter() - t0
    msg = str(info.value)
    assert repr(name) in msg
    assert str(tmp_path / name) in msg
    assert "download=True" in msg and "mnist5k" in msg  # the two fixes: download, or an embedded dataset
    assert isinstance(info.value, FileNotFoundError)
    assert attempts == []
    assert elapsed < 5.0


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(name="cifar100"), ValueError, "name"),
    (dict(name="MNIST5K"), ValueError, "name"),
    (dict(name="mnist5k", image_size=3), ValueError, "image_size"),
    (dict(name="mnist5k", image_size=16.0), TypeError, "image_size"),
    (dict(name="mnist5k", image_size=True), TypeError, "image_size"),
])
def test_load_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        load(**kwargs)


def test_take_validates_and_clips(mnist5k):
    x, y = take(mnist5k.test, 5000)
    assert len(x) == 1000
    with pytest.raises(ValueError, match="n"):
        take(mnist5k.test, 0)
    assert data.fingerprint(mnist5k) == data.fingerprint(load("mnist5k"))
    assert data.fingerprint(mnist5k) != data.fingerprint(load("mnist5k", image_size=16))
