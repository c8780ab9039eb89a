"""The JPEG copies (``cifar10_jpeg``, ``imagenette_jpeg224``): verification, decoding, order, normalisation,
augmentation, the decode cache, bad inputs; the class-balanced training subset; torchvision's official CIFAR-10 path
on a fake ``cifar-10-batches-py`` folder.

Most tests run on small fake copies (a few JPEG files written here, with their own checksums), so they exercise the
same reader as the real archives; the shipped CIFAR-10 archive and the Imagenette copy in ``../shared/data`` are
checked where they are (the latter skipped with a reason where it is absent)."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from spectral_lib.data import DatasetFormatError, DatasetUnavailableError, balanced_head, jpeg_copies, load
from spectral_lib.data.augment import AuthorsImagenetteTrain, Resize, TransformedImageTensors
from spectral_lib.data.jpeg_copies import JPEG_COPIES, content_digest, file_sha256
from spectral_lib.data.subsets import balanced_order

REPO = Path(__file__).resolve().parents[1]
SHARED_IMAGENETTE = Path(os.environ.get("SPECTRAL_LIB_IMAGENETTE")
                         or REPO.parent / "shared" / "data" / "imagenette-jpeg224.tar.gz")


# ------------------------------------------------------------------------------------------------ fake copies
def _jpeg(rng: np.random.Generator, side: int, gray: bool = False) -> bytes:
    from PIL import Image

    base = rng.integers(0, 256, (4, 4, 1 if gray else 3), dtype=np.uint8)  # smooth images: JPEG keeps them close
    img = Image.fromarray(base.squeeze(-1) if gray else base).resize((side, side), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_fake_copy(tmp: Path, name: str = "cifar10_jpeg", per_class=(3, 2), n_classes: int = 3, side: int = 8,
                   gray_first: bool = False, tree: bool = False):
    """A small copy in ``name``'s layout (``n_classes`` classes, ``per_class`` images per class and split) written
    as an archive (or an unpacked tree) under ``tmp``; returns (the JpegCopy describing it, its path, the images by
    relative path as decoded by PIL)."""
    from PIL import Image

    real = JPEG_COPIES[name]
    tmp.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    files, pixels = {}, {}
    for s, split in enumerate(real.split_dirs):
        for c in real.classes[:n_classes]:
            for i in range(per_class[s]):
                rel = f"{split}/{c}/{i:04d}{real.suffix if name == 'cifar10_jpeg' else '.JPEG'}"
                files[rel] = _jpeg(rng, side, gray=gray_first and i == 0)
                pixels[rel] = np.array(Image.open(io.BytesIO(files[rel])).convert("RGB"))
    if tree:
        path = tmp / real.top
        for rel, data in files.items():
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            (path / rel).write_bytes(data)
        archive_sha, size = "0" * 64, 0
    else:
        path = tmp / real.archive_name
        with tarfile.open(path, "w:gz") as tf:
            for rel, data in files.items():
                info = tarfile.TarInfo(f"{real.top}/{rel}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        archive_sha, size = file_sha256(path), path.stat().st_size
    digest = content_digest([(rel, hashlib.sha256(d).hexdigest()) for rel, d in files.items()])
    copy = dataclasses.replace(real, classes=real.classes[:n_classes], class_names=real.class_names[:n_classes],
                               sizes=(per_class[0] * n_classes, per_class[1] * n_classes), side=side,
                               archive_sha256=archive_sha, archive_bytes=size, content_sha256=digest)
    return copy, path, pixels


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    copy, path, pixels = make_fake_copy(tmp_path)
    monkeypatch.setitem(JPEG_COPIES, "cifar10_jpeg", copy)
    monkeypatch.setenv(copy.env, str(path))
    jpeg_copies._MEMO.clear()
    return copy, path, pixels


# ------------------------------------------------------------------------------------------------ decoding
def test_decode_order_classes_and_normalisation(fake_cifar, tmp_path):
    copy, path, pixels = fake_cifar
    splits = load("cifar10_jpeg", root=tmp_path / "cache")
    assert splits.info.in_shape == (3, 8, 8) and splits.info.num_classes == 3
    assert splits.info.mean == (0.4914, 0.4822, 0.4465) and splits.info.std == (0.2470, 0.2435, 0.2616)
    # round-robin over the classes, class order = the official label order
    assert splits.train.labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert splits.test.labels.tolist() == [0, 1, 2, 0, 1, 2]
    # item k of the test split is file k // 3 of class k % 3, normalised as ToTensor + Normalize
    x, y = splits.test[4]
    ref = torch.from_numpy(pixels["test/automobile/0001.jpg"]).permute(2, 0, 1).float() / 255
    mean, std = torch.tensor(copy.mean)[:, None, None], torch.tensor(copy.std)[:, None, None]
    assert int(y) == 1 and torch.allclose(x, (ref - mean) / std, atol=1e-6)
    # the decode cache holds exactly the decoded uint8 pixels
    assert torch.equal(splits.train.images[3].permute(1, 2, 0), torch.from_numpy(pixels["train/airplane/0001.jpg"]))


def test_flips_only_on_the_training_split(fake_cifar, tmp_path):
    plain = load("cifar10_jpeg", root=tmp_path / "cache")
    aug = load("cifar10_jpeg", root=tmp_path / "cache", augment=True)
    assert aug.train.flip and not aug.test.flip and not plain.train.flip
    torch.manual_seed(0)
    xa = torch.stack([aug.train.batch(list(range(9)))[0] for _ in range(8)])  # 8 draws of the 9 images
    xp, _ = plain.train.batch(list(range(9)))
    flipped = (xa == xp.flip(-1)).flatten(2).all(-1)
    same = (xa == xp).flatten(2).all(-1)
    assert bool((flipped | same).all()) and bool(flipped.any()) and bool(same.any())
    assert torch.equal(aug.test.batch(list(range(6)))[0], plain.test.batch(list(range(6)))[0])


def test_decoded_once_then_served_from_the_cache_without_the_source(fake_cifar, tmp_path, monkeypatch):
    copy, path, _ = fake_cifar
    first = load("cifar10_jpeg", root=tmp_path / "cache")
    cached = sorted(p.name for p in (tmp_path / "cache" / "cifar10_jpeg").iterdir())
    assert cached == [f"test-{copy.content_sha256[:12]}-v1.pt", f"train-{copy.content_sha256[:12]}-v1.pt"]
    path.unlink()  # the source is gone: the cache is enough
    jpeg_copies._MEMO.clear()
    again = load("cifar10_jpeg", root=tmp_path / "cache")
    assert torch.equal(first.train.images, again.train.images)


def test_damaged_or_half_written_decode_cache_is_never_read(fake_cifar, tmp_path, monkeypatch):
    copy, path, _ = fake_cifar
    good = load("cifar10_jpeg", root=tmp_path / "cache")
    train_cache = tmp_path / "cache" / "cifar10_jpeg" / f"train-{copy.content_sha256[:12]}-v1.pt"
    train_cache.write_bytes(train_cache.read_bytes()[:-100])  # truncated, as by a crash mid-write
    (train_cache.parent / ".train-x.tmp").write_bytes(b"half")  # a leftover temporary file is ignored
    jpeg_copies._MEMO.clear()
    decoded = []
    real = jpeg_copies.decode_jpeg_copy
    monkeypatch.setattr(jpeg_copies, "decode_jpeg_copy", lambda c, s: decoded.append(s) or real(c, s))
    again = load("cifar10_jpeg", root=tmp_path / "cache")
    assert decoded == [path]  # decoded again from the source, not read from the damaged file
    assert torch.equal(good.train.images, again.train.images)
    jpeg_copies._MEMO.clear()
    load("cifar10_jpeg", root=tmp_path / "cache")
    assert len(decoded) == 1  # the rewritten cache is intact


def test_unpacked_tree_gives_the_same_tensors_as_the_archive(tmp_path, monkeypatch):
    copy, archive, _ = make_fake_copy(tmp_path / "a")
    copy_tree, tree, _ = make_fake_copy(tmp_path / "t", tree=True)
    assert copy_tree.content_sha256 == copy.content_sha256  # the content digest does not depend on the packing
    a = jpeg_copies.decode_jpeg_copy(copy, archive)
    t = jpeg_copies.decode_jpeg_copy(copy, tree)
    t_parent = jpeg_copies.decode_jpeg_copy(copy, tree.parent)  # the folder holding the top folder works too
    for (xa, ya), (xt, yt), (xp, _) in zip(a, t, t_parent):
        assert torch.equal(xa, xt) and torch.equal(ya, yt) and torch.equal(xa, xp)


def test_imagenette_order_is_torchvisions_and_grayscale_becomes_rgb(tmp_path):
    copy, path, pixels = make_fake_copy(tmp_path, "imagenette_jpeg224", per_class=(2, 2), side=16, gray_first=True)
    (xtr, ytr), (xte, yte) = jpeg_copies.decode_jpeg_copy(copy, path)
    assert ytr.tolist() == [0, 0, 1, 1, 2, 2] and yte.tolist() == [0, 0, 1, 1, 2, 2]  # class-sorted, by WordNet id
    assert xte.shape == (6, 3, 16, 16)
    gray = xte[0]  # file 0000 of the first class was grayscale: three equal channels
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    assert torch.equal(xte[2].permute(1, 2, 0), torch.from_numpy(pixels["val/n02102040/0000.JPEG"]))


# ------------------------------------------------------------------------------------------------ bad inputs
def test_truncated_or_corrupt_archive_is_refused_naming_the_file(fake_cifar, tmp_path):
    copy, path, _ = fake_cifar
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match=r"checksum mismatch.*expected " + copy.archive_sha256) as e:
        load("cifar10_jpeg", root=tmp_path / "cache")
    assert str(path) in str(e.value) and "replace it" in str(e.value)
    assert not (tmp_path / "cache" / "cifar10_jpeg").exists()  # nothing decoded, nothing cached


def test_missing_archive_or_folder_is_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("SPECTRAL_LIB_CIFAR10_JPEG", str(tmp_path / "nowhere.tar.gz"))
    jpeg_copies._MEMO.clear()
    with pytest.raises(DatasetUnavailableError, match=r"no data found at .*nowhere\.tar\.gz.*To fix"):
        load("cifar10_jpeg", root=tmp_path / "cache")
    monkeypatch.delenv("SPECTRAL_LIB_CIFAR10_JPEG")
    monkeypatch.setattr(jpeg_copies, "REPO_DATASETS", tmp_path / "datasets")  # a clone without the shipped file
    with pytest.raises(DatasetUnavailableError, match=r"git checkout -- datasets/cifar10-jpeg\.tar\.gz"):
        load("cifar10_jpeg", root=tmp_path / "cache")
    monkeypatch.delenv("SPECTRAL_LIB_IMAGENETTE", raising=False)
    with pytest.raises(DatasetUnavailableError, match=r"SPECTRAL_LIB_IMAGENETTE is not set.*imagenette_path"):
        load("imagenette_jpeg224", root=tmp_path / "cache")


def test_folder_without_the_expected_classes_is_refused(tmp_path, monkeypatch):
    copy, tree, _ = make_fake_copy(tmp_path, tree=True)
    (tree / "train" / "airplane").rename(tree / "train" / "aeroplane")
    with pytest.raises(DatasetFormatError, match=r"missing class folder\(s\) \['train/airplane'\]"):
        jpeg_copies.decode_jpeg_copy(copy, tree)
    (tree / "train" / "aeroplane").rename(tree / "train" / "airplane")
    extra = tree / "test" / "bird" / "0009.jpg"  # an image too many: counts are checked
    extra.write_bytes((tree / "test" / "bird" / "0000.jpg").read_bytes())
    with pytest.raises(DatasetFormatError, match=r"should hold 9 train and 6 test images, found 9 and 7"):
        jpeg_copies.decode_jpeg_copy(copy, tree)
    extra.unlink()
    victim = tree / "test" / "bird" / "0001.jpg"  # same counts, one file changed: the content digest catches it
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DatasetFormatError, match=r"differ from the published cifar10_jpeg"):
        jpeg_copies.decode_jpeg_copy(copy, tree)
    with pytest.raises(DatasetUnavailableError, match="no such file or folder"):
        jpeg_copies.decode_jpeg_copy(copy, tmp_path / "does-not-exist")


def test_misspelt_dataset_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"name must be one of .*'cifar10_jpeg', 'imagenette_jpeg224'.*got 'cifar10_jpg'"):
        load("cifar10_jpg")


# ------------------------------------------------------------------------------------------------ the real copies
def test_shipped_cifar10_archive_is_a_real_file_with_the_published_checksum():
    path = REPO / "datasets" / "cifar10-jpeg.tar.gz"
    copy = JPEG_COPIES["cifar10_jpeg"]
    assert path.stat().st_size == copy.archive_bytes  # not a Git LFS pointer (those are ~130 bytes of text)
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert file_sha256(path) == copy.archive_sha256
    text = (REPO / "datasets" / "README.md").read_text()
    assert copy.archive_sha256 in text and copy.content_sha256 in text and "Not bit-identical" in text


def test_real_cifar10_jpeg_official_split_class_order_and_pixels(monkeypatch):
    from PIL import Image

    monkeypatch.delenv("SPECTRAL_LIB_CIFAR10_JPEG", raising=False)
    splits = load("cifar10_jpeg")
    assert (len(splits.train), len(splits.test)) == (50000, 10000)
    assert splits.test.labels[:20].tolist() == list(range(10)) * 2
    assert torch.bincount(splits.train.labels).tolist() == [5000] * 10
    with tarfile.open(REPO / "datasets" / "cifar10-jpeg.tar.gz") as tf:
        data = tf.extractfile("cifar10-jpeg/test/cat/0007.jpg").read()
    ref = np.array(Image.open(io.BytesIO(data)).convert("RGB"))
    assert torch.equal(splits.test.images[7 * 10 + 3].permute(1, 2, 0), torch.from_numpy(ref))  # cat is label 3


@pytest.mark.skipif(not SHARED_IMAGENETTE.exists(), reason=f"Imagenette 224 px copy not found at "
                    f"{SHARED_IMAGENETTE} (set SPECTRAL_LIB_IMAGENETTE to the archive or its folder)")
def test_shared_imagenette_copy_has_the_published_checksum():
    path = SHARED_IMAGENETTE if SHARED_IMAGENETTE.is_file() else SHARED_IMAGENETTE / "imagenette-jpeg224.tar.gz"
    if path.is_file():
        assert file_sha256(path) == JPEG_COPIES["imagenette_jpeg224"].archive_sha256


# ------------------------------------------------------------------------------------------------ transforms
def test_test_transform_is_the_authors_resize_and_normalize():
    from PIL import Image
    from torchvision import transforms as T

    rng = np.random.default_rng(1)
    pil = [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(3)]
    images = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in pil])
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ours = TransformedImageTensors(images, torch.arange(3), mean, std, Resize(16))
    theirs = T.Compose([T.ToTensor(), T.Resize((16, 16)), T.Normalize(mean, std)])
    x, _ = ours.batch(slice(0, 3))
    assert torch.allclose(x, torch.stack([theirs(p) for p in pil]), atol=1e-5)


def test_authors_imagenette_augmentation_draws_per_image():
    aug = AuthorsImagenetteTrain(24)
    x = torch.rand(1, 3, 40, 40).expand(16, -1, -1, -1).contiguous()  # 16 copies of one image
    torch.manual_seed(0)
    out = aug(x)
    assert out.shape == (16, 3, 24, 24) and out.dtype == torch.float32
    assert len({tuple(o.flatten()[:50].tolist()) for o in out}) == 16  # each copy got its own crop and noise
    torch.manual_seed(0)
    assert torch.equal(aug(x), out)  # torch's global generator decides everything: reproducible
    torch.manual_seed(0)
    clean = AuthorsImagenetteTrain(24, noise_std=0.0)(x)  # same draws for crops and choices, no noise at the end
    noise = out - clean  # the authors' GaussianISONoise(0.05), in [0, 1] pixel units
    assert abs(float(noise.std()) - 0.05) < 0.003 and abs(float(noise.mean())) < 0.003


def test_imagenette_augment_on_train_only(tmp_path, monkeypatch):
    copy, path, _ = make_fake_copy(tmp_path, "imagenette_jpeg224", per_class=(2, 2), side=16)
    monkeypatch.setitem(JPEG_COPIES, "imagenette_jpeg224", copy)
    monkeypatch.setenv(copy.env, str(path))
    jpeg_copies._MEMO.clear()
    s = load("imagenette_jpeg224", root=tmp_path / "cache", augment=True, image_size=8)
    assert isinstance(s.train.transform, AuthorsImagenetteTrain) and s.info.in_shape == (3, 8, 8)
    x, _ = s.train.batch(list(range(6)))
    assert x.shape == (6, 3, 8, 8)
    t1, t2 = s.test[:][0], load("imagenette_jpeg224", root=tmp_path / "cache", image_size=8).test[:][0]
    assert torch.equal(t1, t2)  # the test split is deterministic (the authors' test transform)


# ------------------------------------------------------------------------------------------------ subsets
def test_balanced_head_is_class_balanced_deterministic_and_keeps_the_kind(fake_cifar, tmp_path):
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    order = balanced_order(labels)
    assert order.tolist() == [0, 3, 5, 1, 4, 6, 2, 7, 8]
    s = load("cifar10_jpeg", root=tmp_path / "cache", augment=True)
    head = balanced_head(s.train, 6)
    assert len(head) == 6 and torch.bincount(head.labels).tolist() == [2, 2, 2] and head.flip
    assert balanced_head(s.train, None) is s.train and balanced_head(s.train, 100) is s.train
    sub = load("cifar10_jpeg", root=tmp_path / "cache", n_train=3)
    assert torch.equal(sub.train.images, s.train.images[:3]) and len(sub.test) == len(s.test)
    with pytest.raises(ValueError, match="n_train"):
        load("cifar10_jpeg", root=tmp_path / "cache", n_train=0)


def test_augmented_training_resumes_to_the_same_weights(fake_cifar, tmp_path, monkeypatch):
    """The flips are drawn from torch's global generator, whose state the per-epoch checkpoint keeps: a run
    interrupted after epoch 1 ends with the weights of an uninterrupted one."""
    from spectral_lib.training import TrainConfig, train

    monkeypatch.setenv("SPECTRAL_LIB_CACHE", str(tmp_path / "lib"))
    cfg = TrainConfig(dataset="cifar10_jpeg", augment=True, model_options={"depth": 1, "width": 4, "fc": 8},
                      batch_size=4, max_epochs=2, accuracy_cap=None, device="cpu")
    full, _ = train(cfg, progress=False)
    ck = tmp_path / "ck.pt"
    train(dataclasses.replace(cfg, max_epochs=1), progress=False, checkpoint_path=ck)
    torch.manual_seed(123)  # a different global state at the restart: the checkpoint's is restored
    resumed, _ = train(cfg, progress=False, checkpoint_path=ck)
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------ official CIFAR-10
def test_fake_official_cifar10_folder_loads_through_torchvision(tmp_path, monkeypatch):
    """A tiny ``cifar-10-batches-py`` folder in torchvision's format (pickled dicts of uint8 rows and labels), with
    torchvision's own integrity check pointed at these files' MD5s, loads through ``load("cifar10", root=...)``."""
    import torchvision

    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name, n in [*((f"data_batch_{i}", 4) for i in range(1, 6)), ("test_batch", 6)]:
        d = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [int(v) for v in
             rng.integers(0, 10, n)], "batch_label": name}
        (folder / name).write_bytes(pickle.dumps(d))
        batches[name] = d
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": classes}))
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "train_list", [[f"data_batch_{i}", md5[f"data_batch_{i}"]]
                                                                    for i in range(1, 6)])
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setitem(torchvision.datasets.CIFAR10.meta, "md5", md5["batches.meta"])
    splits = load("cifar10", root=tmp_path)
    assert (len(splits.train), len(splits.test)) == (20, 6) and splits.info.in_shape == (3, 32, 32)
    img = torch.from_numpy(batches["test_batch"]["data"][2].reshape(3, 32, 32))
    assert torch.equal(splits.test.images[2], img)
    assert splits.test.labels.tolist() == batches["test_batch"]["labels"]
    (folder / "test_batch").write_bytes(b"damaged")  # a root whose files are not the official ones
    for p in (tmp_path / "cifar10").glob("spectral-*.pt"):
        p.unlink()
    with pytest.raises(DatasetUnavailableError, match=r"not available under root=.*cifar10"):
        load("cifar10", root=tmp_path)


# ------------------------------------------------------------------------------------------------ the loop's data path
@pytest.mark.parametrize("n,batch", [(10, 4), (12, 4), (3, 8)])
def test_direct_image_batches_equal_the_dataloaders_bit_for_bit(n, batch):
    """train()'s batches of uint8 image tensors skip the DataLoader's per-item machinery but are its batches, and
    leave the generator (and torch's global generator, which draws the flips) exactly where the DataLoader does,
    also when the loop draws from the generator between batches (training noise)."""
    from torch.utils.data import DataLoader

    from spectral_lib.data import ImageTensors
    from spectral_lib.training.loop import _batches

    g = torch.Generator().manual_seed(5)
    ds = ImageTensors(torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8, generator=g), torch.arange(n) % 3,
                      (0.5,) * 3, (0.25,) * 3, flip=True)
    out = {}
    for kind in ("dataloader", "direct"):
        gen = torch.Generator().manual_seed(0)
        torch.manual_seed(1)
        it = (DataLoader(ds, batch_size=batch, shuffle=True, generator=gen, num_workers=0) if kind == "dataloader"
              else _batches(ds, batch, shuffle=True, generator=gen))
        got = []
        for _ in range(2):  # two epochs
            for x, y in it if kind == "direct" else iter(it):
                got.append((x, y, torch.randn(2, generator=gen)))  # a draw between batches, as training noise
            it = _batches(ds, batch, shuffle=True, generator=gen) if kind == "direct" else it
        out[kind] = (got, gen.get_state(), torch.get_rng_state())
    (a, ga, ra), (b, gb, rb) = out["dataloader"], out["direct"]
    assert len(a) == len(b)
    for (xa, ya, na), (xb, yb, nb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb) and torch.equal(na, nb)
    assert torch.equal(ga, gb) and torch.equal(ra, rb)
    torch.manual_seed(2)
    xs = torch.cat([x for x, _ in _batches(ds, batch, shuffle=False)])  # unshuffled (accuracy): in order
    torch.manual_seed(2)
    ref = torch.cat([x for x, _ in DataLoader(ds, batch_size=batch, shuffle=False)])
    assert torch.equal(xs, ref)
