"""STL-10 from the official binary files: 96x96 colour images, 10 classes and 100k unlabelled.

``<split>_X.bin`` holds uint8 images of 3 x 96 x 96 bytes each, every channel stored column-major
(MATLAB order): read as ``(N, 3, 96, 96)`` and the last two axes swapped. ``<split>_y.bin`` holds
one label byte per image, 1..10, mapped to 0..9 (the line order of ``class_names.txt``)
(https://cs.stanford.edu/~acoates/stl10/). ``train`` has 5,000 labelled images, ``test`` 8,000, and
``unlabeled`` 100,000 without labels (2.7 GB): it is memory-mapped, not read, so a subset or a
resize reads only what it touches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..spec import ImageSpec
from .cifar import read_names  # the same label-file rule as CIFAR's
from .core import DataError, Dataset
from .store import Remote, locate

SIZE, CHANNELS = 96, 3
_IMAGE_BYTES = CHANNELS * SIZE * SIZE
STL10_CLASSES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
_DIR = "stl10_binary"
STL10_NAMES_FILE = f"{_DIR}/class_names.txt"
STL10_FILES = {"train": (f"{_DIR}/train_X.bin", f"{_DIR}/train_y.bin"),
               "test": (f"{_DIR}/test_X.bin", f"{_DIR}/test_y.bin"),
               "unlabeled": (f"{_DIR}/unlabeled_X.bin",)}

# SHA-256 and size of the official archive, from TensorFlow Datasets' url_checksums/stl10.txt
# (github.com/tensorflow/datasets, commit 333639b3); not re-computed here (no network).
STL10_REMOTES = (Remote(
    "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
    "f31fd99273a1acb8609c8db427cebb1de3f71de77758cdc0e22956e1289b9866", 2640397119,
    (*STL10_FILES["train"], *STL10_FILES["test"], *STL10_FILES["unlabeled"], STL10_NAMES_FILE,
     f"{_DIR}/fold_indices.txt")),)


def read_images(path: Path) -> torch.Tensor:
    """``<split>_X.bin`` -> uint8 ``(N, 3, 96, 96)``, a view of a copy-on-write memory map of the file."""
    size = path.stat().st_size
    if size == 0 or size % _IMAGE_BYTES:
        raise DataError(f"{path}: {size} bytes is not a whole number of {_IMAGE_BYTES}-byte images "
                        "(3 x 96 x 96); the file is truncated or corrupt. Extract the official archive again")
    # mode "c": writable pages in memory, the file never written; torch needs a writable array
    mm = np.memmap(path, dtype=np.uint8, mode="c", shape=(size // _IMAGE_BYTES, CHANNELS, SIZE, SIZE))
    return torch.from_numpy(mm).transpose(2, 3)  # column-major planes -> (N, C, H, W)


def read_labels(path: Path, n_images: int, n_classes: int) -> torch.Tensor:
    """``<split>_y.bin`` -> int64 ``(N,)`` in 0..n_classes-1 (the file's 1..n_classes, minus one)."""
    y = np.fromfile(path, dtype=np.uint8).astype(np.int64)
    if len(y) != n_images:
        raise DataError(f"{path}: {len(y)} labels for {n_images} images in the matching _X.bin; one of the "
                        "two files is truncated or from another split")
    if len(y) and (y.min() < 1 or y.max() > n_classes):
        raise DataError(f"{path}: labels span {y.min()}..{y.max()}, expected 1..{n_classes}")
    return torch.from_numpy(y - 1)


def load(split: str) -> Dataset:
    """STL-10 ``train`` (5k), ``test`` (8k) labelled, or ``unlabeled`` (100k, memory-mapped), 3x96x96."""
    if split == "unlabeled":
        root = locate("stl10", STL10_FILES[split])
        return Dataset("stl10/unlabeled", read_images(root / STL10_FILES[split][0]), None,
                       ImageSpec(CHANNELS, SIZE))
    x_file, y_file = STL10_FILES[split]
    root = locate("stl10", (x_file, y_file, STL10_NAMES_FILE))
    classes = read_names(root / STL10_NAMES_FILE, STL10_CLASSES)
    images = read_images(root / x_file).contiguous()  # 5k / 8k images: 138 / 221 MB, read at once
    return Dataset(f"stl10/{split}", images, read_labels(root / y_file, len(images), len(classes)),
                   ImageSpec(CHANNELS, SIZE, classes))
