"""The image spec: what every dataset, model and file of hlwb agrees on.

An :class:`ImageSpec` is ``channels`` x ``size`` x ``size`` images (float in ``[-1, 1]`` or uint8
in ``[0, 255]``) and, for labelled data, the class names. Every dataset carries one; every model
is built from one and records it (:meth:`ImageSpec.record`) in every file it is saved to; a model
fed images of another spec refuses them (:func:`check`), naming both. A file written before
specs existed has none: it is :data:`LEGACY` (1 x 32 x 32, what hlwb shipped first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

CHANNELS = (1, 3)           # grayscale, RGB (an alpha channel is dropped at load, and said)
MIN_SIZE, MAX_SIZE = 8, 256  # side lengths hlwb's models are built for (powers of two from 32 for the generators)


class SpecError(ValueError):
    """Images or a file do not fit the image spec expected; the message names both specs."""


@dataclass(frozen=True)
class ImageSpec:
    """``channels`` x ``size`` x ``size`` images; ``classes`` the label names (None: unlabelled)."""

    channels: int
    size: int
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.channels, bool) or self.channels not in CHANNELS:
            raise SpecError(f"channels must be one of {CHANNELS} (grayscale or RGB), got {self.channels!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE:
            raise SpecError(f"size must be an int in {MIN_SIZE}..{MAX_SIZE} px, got {self.size!r}")
        if self.classes is not None:
            classes = tuple(self.classes)
            if len(classes) < 2 or not all(isinstance(c, str) and c for c in classes):
                raise SpecError(f"classes must be None (unlabelled) or >= 2 non-empty names, got {self.classes!r}")
            object.__setattr__(self, "classes", classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, S, S)``: one image."""
        return (self.channels, self.size, self.size)

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    @property
    def dims(self) -> int:
        """Numbers per image, ``C * S * S`` (the raw-pixel feature size)."""
        return self.channels * self.size * self.size

    @property
    def color(self) -> bool:
        return self.channels == 3

    def image(self) -> ImageSpec:
        """The spec without its class names: what a generator or an encoder depends on."""
        return ImageSpec(self.channels, self.size)

    def describe(self) -> str:
        labels = "unlabelled" if self.classes is None else f"{len(self.classes)} classes"
        return f"{self.channels}x{self.size}x{self.size} ({labels})"

    def record(self) -> dict[str, Any]:
        """The plain dict every file stores (``"spec"``)."""
        return {"channels": self.channels, "size": self.size,
                "classes": None if self.classes is None else list(self.classes)}

    @classmethod
    def from_record(cls, rec: Any, where: str = "file") -> ImageSpec:
        """The spec a file records; no record is :data:`LEGACY` (files written before specs)."""
        if rec is None:
            return LEGACY
        if not isinstance(rec, dict) or "channels" not in rec or "size" not in rec:
            raise SpecError(f"{where}: \"spec\" is {rec!r}, not a dict with channels and size")
        classes = rec.get("classes")
        return cls(rec["channels"], rec["size"], None if classes is None else tuple(classes))

    def same_images(self, other: ImageSpec) -> bool:
        return self.channels == other.channels and self.size == other.size


LEGACY = ImageSpec(1, 32)  # a file without a spec: what hlwb wrote before specs existed


def check(images: Tensor, spec: ImageSpec, what: str) -> Tensor:
    """Refuse ``images`` that are not ``(N, C, S, S)`` of ``spec``, naming ``what`` expects which spec."""
    if images.ndim != 4 or tuple(images.shape[1:]) != spec.shape:
        got = ("x".join(map(str, images.shape[1:])) if images.ndim == 4 else f"a {images.ndim}-d tensor "
               f"{tuple(images.shape)}")
        raise SpecError(f"{what} is built for {spec.channels}x{spec.size}x{spec.size} images, got {got}; "
                        "use a model built for this data's spec (dataset / image_size) or resize the data")
    return images


def require_same(model: ImageSpec, data: ImageSpec, what: str) -> None:
    """Refuse a model whose spec is not the data's, naming both."""
    if not model.same_images(data):
        raise SpecError(f"{what} is built for {model.describe()} images, but the data is {data.describe()}; "
                        "train one for this dataset / image size, or choose the matching dataset")

