"""Images for your model, prepared like torchvision does: a weights enum's transforms (resize, centre crop,
normalisation) and class names, or a plain resize and crop; image folders of any size and .npz batches.

``torchvision.models.get_model_weights(name)[WEIGHTS]`` carries everything needed without a download:
``weights.transforms()`` (an ``ImageClassification`` with ``resize_size``, ``crop_size``, ``interpolation``,
``antialias``, ``mean``, ``std``) and ``weights.meta["categories"]``. :class:`Preprocess` applies the same resize
and crop, in the same order and on the same PIL image, as ``weights.transforms()`` does, and keeps the result in
[0, 1]: the normalisation is left to :func:`spectral_lib.tools.analyze` (``mean``/``std``), so the figure can show
the images as they are. Normalising its output gives ``weights.transforms()(image)`` exactly (tested).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["Preprocess", "resolve_weights", "weights_build_kwargs", "load_folder", "load_npz", "IMAGE_SUFFIXES",
           "ImageError"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


class ImageError(ValueError):
    """A problem with the images or the weights named on the command line (reported in one line)."""


def resolve_weights(name: str, model_name: str | None = None):
    """A torchvision weights enum member from ``name``: ``"IMAGENET1K_V2"`` or ``"DEFAULT"`` (with
    ``model_name``, a torchvision architecture) or a full name such as ``"ResNet50_Weights.IMAGENET1K_V2"``.
    ImageError listing the weights available for ``model_name`` when the name is unknown."""
    import torchvision.models as tvm

    if "." in name:
        try:
            return tvm.get_weight(name)
        except (ValueError, KeyError, AttributeError) as e:
            raise ImageError(f"unknown --weights {name!r}: {e}") from None
    if model_name is None:
        raise ImageError(f"--weights {name!r} needs a torchvision --model, or a full name such as "
                         "'ResNet50_Weights.IMAGENET1K_V2'")
    try:
        enum = tvm.get_model_weights(model_name)
    except (ValueError, KeyError):
        raise ImageError(f"--weights {name!r}: {model_name!r} is not a torchvision architecture with weights; give "
                         "a full name such as 'ResNet50_Weights.IMAGENET1K_V2'") from None
    try:
        return enum.DEFAULT if name == "DEFAULT" else enum[name]
    except KeyError:
        raise ImageError(f"unknown --weights {name!r} for {model_name}; available: "
                         f"{', '.join(w.name for w in enum)} (or DEFAULT)") from None


def weights_build_kwargs(model_name: str, weights) -> dict[str, Any]:
    """The keyword arguments torchvision's builder ``model_name`` sets itself when it is given ``weights`` (its
    ``_ovewrite_named_param`` calls), so that ``builder(weights=None, **kwargs)`` builds the architecture those
    weights fit, with nothing downloaded: ``num_classes`` (the number of categories), ViT's ``image_size``,
    MaxViT's ``input_size``, and GoogLeNet's / Inception-v3's ``transform_input``, ``aux_logits`` and
    ``init_weights``."""
    kwargs: dict[str, Any] = {"num_classes": len(weights.meta["categories"])}
    if model_name.startswith("vit_"):
        kwargs["image_size"] = weights.meta["min_size"][0]
    if model_name.startswith("maxvit_"):
        kwargs["input_size"] = weights.meta["min_size"]
    if model_name in ("googlenet", "inception_v3"):
        kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
    return kwargs


@dataclass
class Preprocess:
    """Resize (shorter side to ``resize_size``, or to the (h, w) given), then centre crop to ``crop_size``, as
    torchvision's ``ImageClassification`` does; values in [0, 1]. ``mean``/``std``: the normalisation analyze
    applies afterwards (None: none). ``source``: where the settings come from (for messages)."""

    resize_size: Sequence[int] | None
    crop_size: Sequence[int] | None
    interpolation: Any = None
    antialias: bool = True
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    source: str = ""

    @classmethod
    def from_weights(cls, weights) -> "Preprocess":
        """The settings of ``weights.transforms()``."""
        t = weights.transforms()
        return cls(resize_size=list(t.resize_size), crop_size=list(t.crop_size), interpolation=t.interpolation,
                   antialias=t.antialias, mean=list(t.mean), std=list(t.std), source=str(weights))

    @classmethod
    def square(cls, size: int) -> "Preprocess":
        """Shorter side to ``size`` (bilinear, antialiased), centre crop ``size`` x ``size``; no normalisation."""
        from torchvision.transforms import InterpolationMode

        return cls(resize_size=[size], crop_size=[size], interpolation=InterpolationMode.BILINEAR,
                   source=f"--image-size {size}")

    def __call__(self, image):
        """A PIL image or a (C, H, W) / (N, C, H, W) float tensor -> float32 tensor in [0, 1], resized and
        cropped."""
        import torchvision.transforms.functional as TF

        if self.resize_size is not None:
            image = TF.resize(image, list(self.resize_size), interpolation=self.interpolation,
                              antialias=self.antialias)
        if self.crop_size is not None:
            image = TF.center_crop(image, list(self.crop_size))
        if not isinstance(image, torch.Tensor):
            image = TF.pil_to_tensor(image)
        return TF.convert_image_dtype(image, torch.float).clamp(0, 1)


def load_folder(folder: Path, channels: int | None = None, n_images: int | None = None,
                preprocess: Preprocess | None = None) -> tuple[torch.Tensor, list[str]]:
    """PNG/JPEG files of ``folder`` (sorted by name) as (N, C, H, W) float32 in [0, 1], and their names.

    ``channels`` 1 or 3 converts every image to "L" or "RGB"; None picks "L" when all are grayscale, else "RGB".
    Without ``preprocess`` all files must have the same size (checked on every file's header first); with it,
    each image is resized and cropped by it. ``n_images`` loads the first ones."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"no images ({'/'.join(IMAGE_SUFFIXES)}) in folder {folder}")
    sizes, modes = [], []
    for p in files:
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
                modes.append(im.mode)
        except Exception as e:  # noqa: BLE001
            raise ImageError(f"cannot read image {p}: {e}") from e
    if preprocess is None:
        for p, size in zip(files, sizes):
            if size != sizes[0]:
                raise ImageError(f"images must all have the same size: {files[0].name} is {sizes[0][0]}x"
                                 f"{sizes[0][1]} but {p.name} is {size[0]}x{size[1]} (width x height); give "
                                 "--weights NAME or --image-size S to resize and crop them")
    if channels is None:
        channels = 1 if all(m in _GRAY_MODES for m in modes) else 3
    if channels not in (1, 3):
        raise ImageError(f"image folders give 1 (L) or 3 (RGB) channels, but the model takes {channels}; use an .npz")
    files = files[: n_images or len(files)]
    arrays = []
    for p in files:
        with Image.open(p) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if preprocess is not None:
                arrays.append(preprocess(im))
            else:
                a = np.asarray(im, dtype=np.float32) / 255.0
                arrays.append(torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy()))
    return torch.stack(arrays), [p.name for p in files]


def load_npz(path: Path, n_images: int | None = None, preprocess: Preprocess | None = None) -> torch.Tensor:
    """Key ``images`` of an .npz: (N, C, H, W), (N, H, W, C) (C in 1, 3, 4) or (N, H, W); uint8 is scaled by 1/255,
    floats are kept. Returns (N, C, H, W) float32, resized and cropped by ``preprocess`` when given (which needs
    values in [0, 1])."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z.files:
                raise ImageError(f"{path} has no key 'images' (keys: {', '.join(z.files) or 'none'})")
            a = z["images"]
    except (OSError, ValueError) as e:
        if isinstance(e, ImageError):
            raise
        raise ImageError(f"cannot read {path} as an .npz: {e}") from e
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.size == 0:
        raise ImageError(f"{path}: 'images' must have shape (N, C, H, W) or (N, H, W, C), got {a.shape}")
    if a.shape[1] not in (1, 3, 4) and a.shape[-1] in (1, 3, 4):
        a = a.transpose(0, 3, 1, 2)
    if a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    elif np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float32)
    else:
        raise ImageError(f"{path}: 'images' must be uint8 or floating point, got dtype {a.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(a[: n_images or len(a)]))
    if preprocess is not None:
        if float(x.min()) < 0 or float(x.max()) > 1:
            raise ImageError(f"{path}: resizing with {preprocess.source} needs images in [0, 1] (uint8, or floats "
                             f"in [0, 1]); got values in [{float(x.min()):.3g}, {float(x.max()):.3g}]")
        x = preprocess(x)
    return x
