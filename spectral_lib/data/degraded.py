"""mnist5k after the processing the natural-image copies went through, to measure what that processing does to EF
(the CIFAR-10 chapter): ``mnist5k_jpeg75`` (every digit JPEG-encoded at quality 75 and decoded again, as the
CIFAR-10 and Imagenette copies were) and ``mnist5k_resized`` (every digit resized to 20x20 and back to 28x28,
bilinear with antialiasing: the loss of detail of a training crop upsampled from a smaller image, as the authors'
random resized crop does on the 224-px Imagenette copy instead of on the larger originals).

Same images, split and standardisation (with the training split's statistics) as ``mnist5k``, so that a network
trained on each differs only by the processing."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .catalog import Splits

__all__ = ["DEGRADED", "jpeg_round_trip", "resize_round_trip", "load_degraded"]

DEGRADED = {"mnist5k_jpeg75": "mnist5k", "mnist5k_resized": "mnist5k"}  # name -> the dataset it degrades
JPEG_QUALITY = 75
RESIZE_SIDE = 20


def jpeg_round_trip(x: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """Each image of ``x`` (N, C, H, W) float in [0, 1], C = 1 or 3, rounded to 8 bits, JPEG-encoded with Pillow
    at ``quality`` (standard tables; 4:2:0 chroma for RGB, as the copies) and decoded. Returns float32 in [0, 1]."""
    from PIL import Image

    u8 = np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)
    out = np.empty_like(u8)
    for i, img in enumerate(u8):
        arr = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
        dec = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        out[i] = dec[None] if img.shape[0] == 1 else dec.transpose(2, 0, 1)
    return out.astype(np.float32) / 255


def resize_round_trip(x: np.ndarray, side: int = RESIZE_SIDE) -> np.ndarray:
    """Each image of ``x`` (N, C, H, W) resized to ``side`` x ``side`` and back to H x W (bilinear, antialiased,
    as ``torchvision.transforms.Resize`` on tensors). Returns float32."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    h, w = t.shape[-2:]
    small = F.interpolate(t, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False, antialias=True).numpy()


_MEMO: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def load_degraded(name: str, image_size: int | None, cache_dir: Path) -> Splits:
    """``Splits`` of a degraded dataset (:data:`DEGRADED`): the source's raw images processed, then split and
    standardised exactly as :func:`~spectral_lib.data.embedded.load_embedded` does with the source."""
    from .embedded import _raw_embedded, normalised_splits

    if name not in _MEMO:
        x, y = _raw_embedded(DEGRADED[name], cache_dir)
        x = jpeg_round_trip(x) if name == "mnist5k_jpeg75" else resize_round_trip(x)
        _MEMO[name] = x, y
    x, y = _MEMO[name]
    return normalised_splits(name, x, y, 0.2, image_size)  # mnist5k's split and normalisation
