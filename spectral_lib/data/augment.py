"""Image tensors served through a batch transform: :class:`TransformedImageTensors` (uint8 images, a transform of
each batch in [0, 1] pixel units, then the normalisation) and the transforms the JPEG copies use: :func:`resize`
(the authors' test transform ``Resize((s, s))``) and :class:`AuthorsImagenetteTrain` (the authors' Imagenette
training augmentation, as their ``src/datasets.py`` composes it, applied image by image).

Random draws use torch's global generator, as torchvision's transforms and :class:`ImageTensors`' flips do
(:func:`spectral_lib.training.train` seeds it from the configuration's seed and keeps its state in the per-epoch
checkpoints)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..checks import check_positive_int
from .tensors import ImageTensors

__all__ = ["TransformedImageTensors", "resize", "Resize", "AuthorsImagenetteTrain"]

BatchTransform = Callable[[torch.Tensor], torch.Tensor]


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """``torchvision.transforms.Resize((size, size))`` on float tensors (bilinear, antialiased, no rounding).
    (B, C, H, W) -> (B, C, size, size); unchanged when already that size."""
    size = check_positive_int("size", size)
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class Resize:
    """The test transform as a picklable batch transform: :func:`resize` to ``size`` pixels."""

    def __init__(self, size: int) -> None:
        self.size = check_positive_int("size", size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return resize(x, self.size)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class AuthorsImagenetteTrain:
    """The authors' Imagenette training augmentation (``get_imagenette_train`` with ``augmentation=True``), after
    their ``ToTensor``: ``RandomResizedCrop(size)`` (scale 0.08-1, ratio 3/4-4/3), then *one* of horizontal flip,
    vertical flip, ``ColorJitter(0.1, 0.1, 0.1, 0.1)``, ``RandomRotation(10)``, ``RandomAffine(0, translate=(0.1,
    0.1))``, ``RandomPerspective(0.1)``, ``RandomErasing(p=0.25, value="random")``, ``RandomGrayscale(p=0.1)``
    (uniform, as torchvision's ``RandomChoice``, but drawn from torch's generator: ``RandomChoice`` draws from
    Python's ``random``, which no seed of the training fixes), then Gaussian noise of standard deviation ``noise_std`` (0.05, their
    ``GaussianISONoise``) in [0, 1] pixel units; their ``Normalize`` follows in :class:`TransformedImageTensors`.
    Each image of a batch gets its own draws (torchvision's objects, called one image at a time).

    Applied here to images that are already 224x224 (the JPEG copy), where the authors crop the original, larger
    images: the crops are upsampled from fewer pixels (listed on the deviations page). (B, 3, H, W) floats in
    [0, 1] -> (B, 3, size, size)."""

    def __init__(self, size: int, noise_std: float = 0.05) -> None:
        from torchvision import transforms as T

        self.size = check_positive_int("size", size)
        self.noise_std = float(noise_std)
        self.crop = T.RandomResizedCrop(self.size, antialias=True)
        self.choices = [  # torchvision's RandomChoice draws from Python's `random`; we draw the index from torch
            T.RandomHorizontalFlip(),
            T.RandomVerticalFlip(),
            T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1),
            T.RandomRotation(10),
            T.RandomAffine(degrees=0, translate=(0.1, 0.1)),
            T.RandomPerspective(distortion_scale=0.1),
            T.RandomErasing(p=0.25, value="random"),
            T.RandomGrayscale(p=0.1),
        ]

    def _one(self, img: torch.Tensor) -> torch.Tensor:
        img = self.crop(img)
        return self.choices[int(torch.randint(len(self.choices), ()))](img)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.stack([self._one(img) for img in x])
        if self.noise_std > 0:
            out = out + torch.randn_like(out) * self.noise_std
        return out

    def __repr__(self) -> str:
        return f"AuthorsImagenetteTrain({self.size}, noise_std={self.noise_std})"


class TransformedImageTensors(ImageTensors):
    """:class:`ImageTensors` whose batches go through ``transform`` before the normalisation.

    ``images``: (N, C, H, W) uint8; ``transform``: (B, C, H, W) floats in [0, 1] -> (B, C, h, w) floats (e.g.
    :class:`Resize`, :class:`AuthorsImagenetteTrain`), or None; ``flip``: random horizontal flips (as
    :class:`ImageTensors`). Items are ``(x, y)`` with x a (C, h, w) float32 tensor, normalised with ``mean``/``std``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
                 transform: BatchTransform | None = None, flip: bool = False) -> None:
        super().__init__(images, labels, mean, std, flip=flip)
        self.transform = transform
        self._mean_tuple, self._std_tuple = tuple(mean), tuple(std)

    def batch(self, idx: torch.Tensor | list[int] | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x: (B, C, h, w) float32 normalised, y: (B,))`` for the given indices."""
        x = self.images[idx].float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        x = x.sub_(self.mean).div_(self.std) if x.is_contiguous() else (x - self.mean) / self.std
        if self.flip:
            flips = torch.rand(len(x)) < 0.5
            x[flips] = x[flips].flip(-1)
        return x, self.labels[idx]

    def subset(self, idx: torch.Tensor) -> "TransformedImageTensors":
        """The same dataset restricted to the examples ``idx`` (same transform, flips and normalisation)."""
        return TransformedImageTensors(self.images[idx], self.labels[idx], self._mean_tuple, self._std_tuple,
                                       self.transform, self.flip)
