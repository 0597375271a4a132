"""A dataset in memory: uint8 images of one :class:`~hlwb.spec.ImageSpec`, labels, and the conversions.

Every loader of :mod:`hlwb.data` returns a :class:`Dataset`; :func:`resize` is the one rule by which
any of them is brought to another side length (docs/methods.md, "Datasets").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..spec import ImageSpec, SpecError

_RESIZE_CHUNK = 2048  # images per interpolation call: bounds the float copy (2048 x 3 x 256 x 256 x 4 B = 1.6 GB)


class DataError(RuntimeError):
    """A dataset is missing or a file is malformed; the message says which and what to do."""


@dataclass(frozen=True)
class Dataset:
    """Images ``(N, C, S, S)`` uint8 of ``spec``; labels ``(N,)`` int64, or None for unlabelled data.

    ``spec`` may also be given as a tuple of class names (how datasets were built before specs): the
    spec is then read off the images' shape. ``labels`` is None exactly when ``spec.classes`` is None.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor | None
    spec: ImageSpec

    def __post_init__(self) -> None:
        x = self.images
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4:
            got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(f"{self.name}: images must be a uint8 tensor (N, C, S, S), got {got}")
        spec = self.spec
        if not isinstance(spec, ImageSpec):  # class names only: the images say channels and size
            if x.shape[2] != x.shape[3]:
                raise DataError(f"{self.name}: images must be square, got {tuple(x.shape)}")
            try:
                spec = ImageSpec(int(x.shape[1]), int(x.shape[2]), None if spec is None else tuple(spec))
            except SpecError as e:
                raise DataError(f"{self.name}: {e}") from None
            object.__setattr__(self, "spec", spec)
        if tuple(x.shape[1:]) != spec.shape:
            raise DataError(f"{self.name}: images are {tuple(x.shape[1:])}, but the spec says "
                            f"{spec.describe()}")
        y = self.labels
        if (y is None) != (spec.classes is None):
            raise DataError(f"{self.name}: labels must be None exactly when the spec has no classes "
                            f"(labels {'None' if y is None else 'given'}, spec {spec.describe()})")
        if y is not None:
            if y.dtype != torch.int64 or y.ndim != 1 or len(y) != len(x):
                raise DataError(f"{self.name}: {len(x)} images but labels {tuple(y.shape)} {y.dtype}; "
                                "labels must be int64 (N,)")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(spec.classes)):
                raise DataError(f"{self.name}: labels span {int(y.min())}..{int(y.max())}, outside "
                                f"0..{len(spec.classes) - 1} ({len(spec.classes)} classes)")

    @property
    def classes(self) -> tuple[str, ...] | None:
        """The class names (``spec.classes``); None for unlabelled data."""
        return self.spec.classes

    def __len__(self) -> int:
        return len(self.images)

    def float_images(self) -> torch.Tensor:
        """Images as float32 in [-1, 1], shape ``(N, C, S, S)``."""
        return to_float(self.images)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, C, S, S)`` in [0, 255] -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float ``(N, C, H, W)`` in [-1, 1] -> uint8 in [0, 255] (clamped)."""
    return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, S, S)`` -> uint8 ``(N, C, size, size)`` by antialiased bilinear interpolation.

    Downsampling averages over the footprint of each output pixel (torch's ``antialias=True``,
    the triangle filter PIL's BILINEAR uses); upsampling is plain bilinear. Rounded to the
    nearest integer. Done ``_RESIZE_CHUNK`` images at a time, so a lazily read (memory-mapped)
    input is read piece by piece.
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, len(images), _RESIZE_CHUNK):
        x = images[i:i + _RESIZE_CHUNK].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[i:i + _RESIZE_CHUNK] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out
