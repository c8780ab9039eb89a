"""Configuration-keyed, checksummed, atomically written cache files.

File format: ``MAGIC (8 bytes) | sha256(payload) (32 bytes) | payload`` where the payload is ``torch.save`` of the
object. A file is written to a temporary name in the same folder, flushed, fsync'ed and renamed over the target, so a
reader sees either the old file, the new file or nothing: never a half-written one. A file whose checksum does not
match (truncated, corrupted, or from another program) raises :class:`CorruptCacheError`; :func:`memoize` reports it,
deletes it and recomputes.

Two processes that need the same entry at once (two chapters executed side by side, the book beside a sweep) do not
compute it twice: :func:`computing` holds an exclusive lock file (``<root>/locks/<namespace>/<entry>.lock``, outside the entries' folder) while one computes, and the other
waits for it and then reads the result.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Union

import torch

__all__ = ["config_key", "save", "load", "memoize", "computing", "atomic_write", "CorruptCacheError",
           "CACHE_VERSION"]

MAGIC = b"SPCACHE1"
CACHE_VERSION = 1  # bump when a computation whose result is cached changes meaning


class CorruptCacheError(RuntimeError):
    """A cache file exists but is truncated, corrupted or not one of ours."""


def _canonical(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, float):
        return repr(obj)  # exact, and 1.0 != 1
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    raise TypeError(f"config values must be plain data (str, int, float, bool, None, lists, dicts), got {obj!r}")


def config_key(config: Any) -> str:
    """Stable 20-hex-digit key of a configuration (dict or dataclass of plain data), including CACHE_VERSION."""
    text = json.dumps({"v": CACHE_VERSION, "config": _canonical(config)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: files written here get the permissions a plain open() would give them

Content = Union[bytes, str, Callable[[IO[bytes]], Any]]


def atomic_write(path: str | os.PathLike, content: Content) -> Path:
    """Write a file so that a reader sees the old file, the new one, or nothing: never a half-written one.

    ``content``: bytes, a str (written as UTF-8), or a callable that writes into the binary file object it is given
    (e.g. ``lambda fh: np.savez(fh, x=x)``). The data go to a temporary ``.<name>.<random>.tmp`` in the target's
    folder (created if needed), are flushed and fsync'ed, and the temporary file is renamed over ``path``; on any
    error (or interruption) the temporary file is removed and the target is left as it was. Returns ``path``.
    The one atomic writer of the library: cache entries, dataset caches, sweep state, the book's outputs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content.encode() if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` (tensors, dicts, lists, numbers, strings) to ``path`` atomically (:func:`atomic_write`) with a
    checksum."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getbuffer()

    def write(fh: IO[bytes]) -> None:
        fh.write(MAGIC)
        fh.write(hashlib.sha256(payload).digest())
        fh.write(payload)

    atomic_write(path, write)


def load(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """Read a file written by :func:`save`; raise CorruptCacheError if it is damaged, FileNotFoundError if absent."""
    data = Path(path).read_bytes()
    if len(data) < len(MAGIC) + 32 or not data.startswith(MAGIC):
        raise CorruptCacheError(f"{path}: not a spectral_lib cache file (or truncated before its header)")
    digest, payload = data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCacheError(f"{path}: checksum mismatch (truncated or corrupted, {len(payload)} payload bytes)")
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)


def computing(path: str | os.PathLike):
    """An exclusive inter-process lock for computing the cache entry ``path`` = ``<root>/<namespace>/<name>`` (the
    file ``<root>/locks/<namespace>/<name>.lock``, so that listing a namespace shows only entries; released when the
    holder exits, also if it is killed). Use as ``with computing(path): <check, compute, save>``:
    a second process blocks until the first has written the entry, then finds it."""
    from filelock import FileLock

    path = Path(path)
    lock = path.parent.parent / "locks" / path.parent.name / f"{path.name}.lock"  # outside the entries' folder
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock))


def memoize(
    cache_dir: str | os.PathLike | None,
    namespace: str,
    config: Any,
    compute: Callable[[], Any],
) -> Any:
    """Return the cached result for ``config`` under ``cache_dir/namespace``, computing and saving it if absent.

    ``cache_dir=None`` disables caching (always computes). A corrupt file is reported with a warning, removed and
    recomputed. The key is :func:`config_key` of ``config``, so any change of configuration is a new entry.
    """
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / namespace / f"{config_key(config)}.pt"
    if path.exists():  # a hit needs no lock (entries are written atomically): a read-only cache stays readable
        try:
            return load(path)
        except CorruptCacheError:
            pass  # recomputed under the lock below
    with computing(path):
        if path.exists():
            try:
                return load(path)
            except CorruptCacheError as e:
                warnings.warn(f"recomputing: {e}", stacklevel=2)
                path.unlink(missing_ok=True)
        result = compute()
        save(path, result)
        return result
