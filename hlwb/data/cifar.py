"""CIFAR-10 and CIFAR-100 from their official *binary* versions (never the pickled python versions).

A record is the label byte(s) then 3072 bytes of image: the 1024 red, 1024 green, 1024 blue values
of a 32x32 image, row by row (https://www.cs.toronto.edu/~kriz/cifar.html). CIFAR-10 records have
one label byte; CIFAR-100 records two, the coarse (20 superclasses) then the fine (100 classes)
label; hlwb uses the fine label. Class names are read from the archive's label file and must be
the official ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..spec import ImageSpec
from .core import DataError, Dataset
from .store import Remote, locate

SIZE, CHANNELS = 32, 3
_IMAGE_BYTES = CHANNELS * SIZE * SIZE

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = (  # fine_label_names.txt of the official archive, in label order
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
    "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
    "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
    "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
    "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle",
    "mountain", "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
    "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon",
    "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm")

_C10_DIR, _C100_DIR = "cifar-10-batches-bin", "cifar-100-binary"
CIFAR10_FILES = {"train": tuple(f"{_C10_DIR}/data_batch_{i}.bin" for i in range(1, 6)),
                 "test": (f"{_C10_DIR}/test_batch.bin",)}
CIFAR10_NAMES_FILE = f"{_C10_DIR}/batches.meta.txt"
CIFAR100_FILES = {"train": (f"{_C100_DIR}/train.bin",), "test": (f"{_C100_DIR}/test.bin",)}
CIFAR100_NAMES_FILE = f"{_C100_DIR}/fine_label_names.txt"

# SHA-256 and size of the official archives, from TensorFlow Datasets' url_checksums/cifar10.txt and
# url_checksums/cifar100.txt (github.com/tensorflow/datasets, commit 333639b3); not re-computed here
# (no network on the machine hlwb was written on).
CIFAR10_REMOTES = (Remote(
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171,
    (*CIFAR10_FILES["train"], *CIFAR10_FILES["test"], CIFAR10_NAMES_FILE)),)
CIFAR100_REMOTES = (Remote(
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec", 168513733,
    (*CIFAR100_FILES["train"], *CIFAR100_FILES["test"], CIFAR100_NAMES_FILE,
     f"{_C100_DIR}/coarse_label_names.txt")),)


def read_names(path: Path, official: tuple[str, ...]) -> tuple[str, ...]:
    """The class names of a label file (one per line, blank lines ignored); must be ``official``."""
    try:
        names = tuple(line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the class names ({e}); extract the file again") from e
    if names != official:
        raise DataError(f"{path}: holds {len(names)} class names {names[:3]}..., not the official "
                        f"{len(official)} {official[:3]}...; it is not this dataset's label file")
    return names


def read_records(path: Path, label_bytes: int, label: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One binary file -> images uint8 ``(N, 3, 32, 32)`` and labels int64 ``(N,)``.

    ``label`` picks which of the ``label_bytes`` leading bytes of a record is the label.
    """
    record = label_bytes + _IMAGE_BYTES
    size = path.stat().st_size
    if size == 0 or size % record:
        raise DataError(f"{path}: {size} bytes is not a whole number of {record}-byte records "
                        f"({label_bytes} label byte(s) + {_IMAGE_BYTES} pixels); the file is truncated or "
                        "not the binary version. Extract the official archive again")
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, record)    # (N, record)
    labels = raw[:, label].astype(np.int64)
    if labels.max() >= n_classes:
        raise DataError(f"{path}: label {labels.max()} at record {int(labels.argmax())} is outside "
                        f"0..{n_classes - 1}; the file is corrupt or from another dataset")
    images = raw[:, label_bytes:].reshape(-1, CHANNELS, SIZE, SIZE)  # R, G, B planes, row-major
    return images, labels


def _load(name: str, files: tuple[str, ...], names_file: str, official: tuple[str, ...],
          label_bytes: int, label: int, split: str) -> Dataset:
    root = locate(name, (*files, names_file))
    classes = read_names(root / names_file, official)
    parts = [read_records(root / f, label_bytes, label, len(classes)) for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return Dataset(f"{name}/{split}", images, labels, ImageSpec(CHANNELS, SIZE, classes))


def cifar10(split: str) -> Dataset:
    """CIFAR-10 ``train`` (data_batch_1..5, 50k) or ``test`` (test_batch, 10k), 3x32x32, 10 classes."""
    return _load("cifar10", CIFAR10_FILES[split], CIFAR10_NAMES_FILE, CIFAR10_CLASSES, 1, 0, split)


def cifar100(split: str) -> Dataset:
    """CIFAR-100 ``train`` (50k) or ``test`` (10k), 3x32x32, the 100 fine labels."""
    return _load("cifar100", CIFAR100_FILES[split], CIFAR100_NAMES_FILE, CIFAR100_CLASSES, 2, 1, split)
