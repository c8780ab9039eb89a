"""Datasets: the embedded ones load offline, split stratified and deterministically; missing ones fail clearly."""
from __future__ import annotations

import hashlib
import socket
import time

import numpy as np
import pytest
import torch

from spectral_lib import data
from spectral_lib.data import catalog
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


@pytest.mark.parametrize("name,image_size", [("mnist5k", None), ("mnist5k", 16), ("digits", None), ("lfw", 32)])
def test_dataset_info_matches_load_without_loading(name, image_size):
    info = data.dataset_info(name, image_size)
    s = load(name, image_size=image_size)
    assert info.in_shape == s.info.in_shape and info.num_classes == s.info.num_classes
    assert (info.n_train, info.n_test) == (len(s.train), len(s.test))
    assert data.dataset_info("imagenette", 64).in_shape == (3, 64, 64)
    with pytest.raises(ValueError, match="dataset"):
        data.dataset_info("cifar100")


def test_take_refuses_bad_offsets(mnist5k):
    for ds in (mnist5k.test, torch.utils.data.Subset(mnist5k.test, range(10))):
        with pytest.raises(ValueError, match=r"offset=-1 is out of range"):
            take(ds, 2, offset=-1)
        with pytest.raises(ValueError, match=rf"offset={len(ds)} is out of range .*\(valid offsets: 0\.\.{len(ds) - 1}\)"):
            take(ds, 2, offset=len(ds))
        with pytest.raises(TypeError, match="offset must be an integer"):
            take(ds, 2, offset=1.0)
        x, _ = take(ds, 5, offset=len(ds) - 2)  # clipped at the end, as before
        assert len(x) == 2


class _FakeTorchvision(torch.utils.data.Dataset):
    """A torchvision-style dataset of small random PIL images (no files, no network); counts decoded items."""

    decoded = 0
    mode, size = "L", (30, 30)

    def __init__(self, root, train=True, download=False, transform=None, split=None, size=None):
        self.transform, self.n = transform, (50 if (train and split != "val") else 20)
        self.seed = 0 if (train and split != "val") else 1

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        from PIL import Image

        type(self).decoded += 1
        rng = np.random.default_rng(self.seed * 1000 + i)
        shape = self.size[::-1] + ((3,) if self.mode == "RGB" else ())
        img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=self.mode)
        return self.transform(img), i % 10


@pytest.mark.parametrize("name,cls_name,mode,size,image_size", [
    ("fashion_mnist", "FashionMNIST", "L", (28, 28), None),
    ("cifar10", "CIFAR10", "RGB", (32, 32), 16),
    ("imagenette", "Imagenette", "RGB", (30, 24), 12),  # (W, H) of the fake images
])
def test_torchvision_datasets_are_decoded_once_and_cached(name, cls_name, mode, size, image_size, tmp_path,
                                                          monkeypatch):
    import torchvision
    from torchvision import transforms as T

    fake = type("Fake", (_FakeTorchvision,), {"mode": mode, "size": size, "decoded": 0})
    monkeypatch.setattr(torchvision.datasets, cls_name, fake)
    first = load(name, root=tmp_path, image_size=image_size)
    assert fake.decoded == 70  # every image of both splits, once
    assert sorted(p.name for p in (tmp_path / name).glob("spectral-*.pt")) == [
        f"spectral-test-{first.info.in_shape[1]}px.pt", f"spectral-train-{first.info.in_shape[1]}px.pt"]
    again = load(name, root=tmp_path, image_size=image_size, augment=True)
    assert fake.decoded == 70  # read back from the cache: nothing decoded again

    # the same tensors as the per-item torchvision pipeline (resize/crop, ToTensor, Normalize)
    mean, std, shape, _ = catalog._TV_STATS[name]
    side = image_size or shape[1]
    base = [T.Resize(side), T.CenterCrop(side)] if (image_size or name == "imagenette") else []
    reference = fake(None, train=False, split="val", transform=T.Compose(base + [T.ToTensor(), T.Normalize(mean, std)]))
    x, y = take(first.test, 20)
    assert x.dtype == torch.float32 and x.shape == (20, *first.info.in_shape)
    assert torch.equal(x[3], reference[3][0]) and y[3] == 3
    xs, ys = next(iter(torch.utils.data.DataLoader(first.train, batch_size=8)))  # batched through __getitems__
    assert xs.shape == (8, *first.info.in_shape) and ys.tolist() == list(range(8))
    # augmentation (cifar10, imagenette): each training image is itself or its mirror image
    torch.manual_seed(0)
    xa, _ = again.train.batch(list(range(50)))
    xp, _ = first.train.batch(list(range(50)))
    flipped = torch.tensor([torch.equal(a, p.flip(-1)) and not torch.equal(a, p) for a, p in zip(xa, xp)])
    same = torch.tensor([torch.equal(a, p) for a, p in zip(xa, xp)])
    assert bool((flipped | same).all())
    assert bool(flipped.any()) == (name != "fashion_mnist")


def test_cached_torchvision_data_trains_and_decodes_with_workers(tmp_path, monkeypatch):
    """The cached splits go through train() (batched __getitems__, augmentation) and accuracy checks; decoding with
    DataLoader workers gives the same tensors as decoding in this process."""
    import torchvision

    from spectral_lib.training import TrainConfig, train

    fake = type("Fake", (_FakeTorchvision,), {"mode": "RGB", "size": (32, 32), "decoded": 0})
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", fake)
    monkeypatch.setenv("SPECTRAL_LIB_CACHE", str(tmp_path / "lib"))
    cfg = TrainConfig(dataset="cifar10", augment=True, model_options={"width": 4, "fc": 8}, batch_size=16,
                      max_epochs=1, accuracy_cap=None, device="cpu")
    _, result = train(cfg, progress=False)
    assert result.steps == 4 and 0.0 <= result.test_accuracy <= 1.0
    assert (tmp_path / "lib" / "datasets" / "cifar10" / "spectral-train-32px.pt").exists()
    monkeypatch.setenv("SPECTRAL_LIB_DATA_WORKERS", "2")
    with_workers = load("cifar10", root=tmp_path / "other")
    in_process = load("cifar10")  # the cache written by train()
    assert torch.equal(with_workers.train.images, in_process.train.images)
    assert torch.equal(with_workers.test.labels, in_process.test.labels)
