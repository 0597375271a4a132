"""``folder:PATH``: a folder of your own images, read with PIL, as a :class:`~hlwb.data.Dataset`.

Layout. Sub-folders of ``PATH`` are classes (labels 0.. in sorted name order; files found
recursively inside each); a folder holding only image files is unlabelled (``classes`` None, labels
None); a mix of both at one level is refused. Splits: ``PATH/train`` and ``PATH/test``, when both
exist, each laid out as above with the same classes; otherwise a fixed holdout: within each class
(or among all files, unlabelled), in sorted path order, every 10th file (positions 9, 19, ...) is
``test`` and the rest ``train``. Hidden files and other extensions are skipped; the extensions read
are :data:`EXTENSIONS` (the first frame of a GIF or TIFF).

Pixels. The centred square of side ``min(width, height)`` is resized to ``size`` x ``size`` (default
:data:`DEFAULT_SIZE`) with PIL's antialiased BILINEAR filter: the shorter side scaled to ``size``, the
longer centre-cropped. Modes, explicitly: ``1``, ``L`` and 16-bit ``I;16``/``I`` (scaled by
255/65535) are grayscale; ``RGB`` is colour; ``RGBA``, ``LA``, ``PA`` and ``P`` with a transparent
colour are composited over **black** (hlwb's datasets have dark backgrounds); ``P`` without
transparency, ``CMYK``, ``YCbCr``, ``LAB`` and ``HSV`` are converted to RGB by PIL; other modes
(e.g. float ``F``) are refused. The dataset has 1 channel only if every image of every split is
grayscale, else 3 (grayscale images replicated to R = G = B). Each load warns once, with counts,
when images were composited, converted or scaled. An unreadable file is a DataError naming it.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..spec import ImageSpec
from .core import DataError, Dataset

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_SIZE = 32  # the side of a folder dataset when load() is given no size
HOLDOUT = 10       # without train/ and test/: every HOLDOUT-th file of each class is test
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N"})
_SIXTEEN_BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA = frozenset({"RGBA", "LA", "PA"})
_TO_RGB = frozenset({"P", "CMYK", "YCbCr", "LAB", "HSV"})
MODES = GRAY_MODES | _ALPHA | _TO_RGB | {"RGB"}
_UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


@dataclass(frozen=True)
class Layout:
    """What a folder's names say: its classes (None: unlabelled) and, per split, (file, label) pairs."""

    root: Path
    classes: tuple[str, ...] | None
    files: dict[str, tuple[tuple[Path, int], ...]]


def _visible(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if not p.name.startswith("."))


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in EXTENSIONS


def _listing(d: Path) -> tuple[tuple[str, ...] | None, list[list[Path]]]:
    """The classes of folder ``d`` (None: flat) and the sorted files of each class (one list if flat)."""
    entries = _visible(d)
    subdirs, images = [p for p in entries if p.is_dir()], [p for p in entries if _is_image(p)]
    if subdirs and images:
        raise DataError(f"{d} holds both image files ({images[0].name}, ...) and sub-folders "
                        f"({subdirs[0].name}, ...): put every image in a class sub-folder (labelled) or "
                        "none of them (unlabelled)")
    if images:
        return None, [images]
    if not subdirs:
        raise DataError(f"{d} holds no images ({', '.join(EXTENSIONS)}) and no class sub-folders")
    if len(subdirs) == 1:
        raise DataError(f"{d} holds one class folder ({subdirs[0].name}); a labelled folder needs >= 2 "
                        "classes, and unlabelled images go directly in the folder")
    per_class = []
    for c in subdirs:
        files = sorted((p for p in c.rglob("*") if _is_image(p)
                        and not any(part.startswith(".") for part in p.relative_to(c).parts)),
                       key=lambda p: p.relative_to(c).as_posix())
        if not files:
            raise DataError(f"class folder {c} holds no images ({', '.join(EXTENSIONS)})")
        per_class.append(files)
    return tuple(p.name for p in subdirs), per_class


def _pairs(per_class: list[list[Path]], labelled: bool) -> tuple[tuple[Path, int], ...]:
    return tuple((f, k if labelled else -1) for k, files in enumerate(per_class) for f in files)


def scan(path: str | Path) -> Layout:
    """The layout of ``path`` from file and folder names only (no file is opened)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{path}: {root} is not an existing folder")
    has_train, has_test = (root / "train").is_dir(), (root / "test").is_dir()
    if has_train != has_test:
        raise DataError(f"{root} has a {'train' if has_train else 'test'}/ folder but no "
                        f"{'test' if has_train else 'train'}/; give both, or neither (then every "
                        f"{HOLDOUT}th file per class is the test split)")
    if has_train:
        (classes, tr), (test_classes, te) = _listing(root / "train"), _listing(root / "test")
        if classes != test_classes:
            raise DataError(f"{root}: train/ has classes {classes}, test/ has {test_classes}; they must "
                            "be the same class folders (or both flat)")
        return Layout(root, classes, {"train": _pairs(tr, classes is not None),
                                      "test": _pairs(te, classes is not None)})
    classes, per_class = _listing(root)
    train = [[f for i, f in enumerate(files) if i % HOLDOUT != HOLDOUT - 1] for files in per_class]
    test = [[f for i, f in enumerate(files) if i % HOLDOUT == HOLDOUT - 1] for files in per_class]
    return Layout(root, classes, {"train": _pairs(train, classes is not None),
                                  "test": _pairs(test, classes is not None)})


def _mode(path: Path) -> str:
    """The PIL mode from the file's header (no pixels decoded); an unsupported one is refused."""
    try:
        with Image.open(path) as img:
            mode = img.mode
    except _UNREADABLE as e:
        raise DataError(f"{path}: cannot read it as an image ({e}); delete or replace the file") from e
    if mode not in MODES:
        raise DataError(f"{path}: image mode {mode} is not supported (grayscale, RGB, with or without "
                        "alpha, palette, CMYK, YCbCr); convert it to RGB or L")
    return mode


def channels(layout: Layout) -> int:
    """1 if every image of every split is grayscale (by its header), else 3."""
    gray = all(_mode(f) in GRAY_MODES for pairs in layout.files.values() for f, _ in pairs)
    return 1 if gray else 3


def spec(path: str | Path, size: int | None = None) -> ImageSpec:
    """The spec of ``folder:path`` at ``size`` from names and file headers, without decoding pixels."""
    layout = scan(path)
    return ImageSpec(channels(layout), DEFAULT_SIZE if size is None else size, layout.classes)


def _pixels(path: Path, size: int, notes: Counter) -> np.ndarray:
    """One image -> uint8 ``(size, size)`` (grayscale) or ``(size, size, 3)``, by the module's rules."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "P" and "transparency" in img.info or mode == "PA":
                img = img.convert("RGBA")
            elif mode in _TO_RGB:
                notes[f"{mode} converted to RGB"] += 1
                img = img.convert("RGB")
            elif mode == "1":
                img = img.convert("L")
            if img.mode in _SIXTEEN_BIT:
                notes["16-bit scaled to 8 bit"] += 1
                a = np.asarray(img).astype(np.float64)  # 0..65535
                img = Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8))
            if img.mode in _ALPHA:
                notes["transparent composited over black"] += 1
                a = np.asarray(img).astype(np.uint32)       # (H, W, 2 or 4): colour then alpha
                comp = (a[..., :-1] * a[..., -1:] + 127) // 255
                img = Image.fromarray(comp.astype(np.uint8).squeeze(-1) if comp.shape[-1] == 1
                                      else comp.astype(np.uint8))
            if img.mode not in ("L", "RGB"):
                raise DataError(f"{path}: image mode {mode} is not supported; convert it to RGB or L")
            w, h = img.size
            side = min(w, h)
            box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)  # centred square
            out = img.resize((size, size), Image.Resampling.BILINEAR, box=box)
            return np.asarray(out)
    except _UNREADABLE as e:
        raise DataError(f"{path}: cannot read it as an image ({e}); delete or replace the file") from e


def load(path: str | Path, split: str, size: int | None = None) -> Dataset:
    """``folder:path``'s ``split`` (``train`` / ``test``) at ``size`` (default :data:`DEFAULT_SIZE`)."""
    layout = scan(path)
    if split not in layout.files:
        raise KeyError(f"unknown split {split!r} of folder:{path}; valid: {', '.join(layout.files)}")
    image_spec = ImageSpec(channels(layout), DEFAULT_SIZE if size is None else size, layout.classes)
    pairs = layout.files[split]
    if not pairs:
        raise DataError(f"folder:{path}: split {split} has no images (without train/ and test/, every "
                        f"{HOLDOUT}th file of each class is test); add images or give train/ and test/")
    notes: Counter = Counter()
    images = np.empty((len(pairs), *image_spec.shape), dtype=np.uint8)  # (N, C, S, S)
    for i, (f, _) in enumerate(pairs):
        px = _pixels(f, image_spec.size, notes)
        images[i] = px[None] if px.ndim == 2 else px.transpose(2, 0, 1)  # gray broadcasts to 3 channels
    if notes:
        warnings.warn(f"folder:{path} ({split}): " + ", ".join(f"{n} {what}" for what, n in sorted(notes.items())),
                      stacklevel=3)
    labels = None if layout.classes is None else torch.tensor([k for _, k in pairs], dtype=torch.int64)
    return Dataset(f"folder:{layout.root}/{split}", torch.from_numpy(images), labels, image_spec)
