"""SVHN (cropped digits, format 2) from the official MATLAB files, read with ``scipy.io.loadmat``.

``train_32x32.mat`` (73,257 images) and ``test_32x32.mat`` (26,032) each hold ``X`` uint8
``(32, 32, 3, N)`` and ``y`` ``(N, 1)`` with labels 1..10, where 10 stands for the digit 0
(http://ufldl.stanford.edu/housenumbers/); hlwb maps 10 to 0, so label ``k`` is the digit ``k``.
``loadmat`` parses MATLAB's format; nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.io import loadmat

from ..spec import ImageSpec
from .core import DataError, Dataset
from .store import Remote, locate

SIZE, CHANNELS = 32, 3
SVHN_CLASSES = tuple(str(d) for d in range(10))
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}

# SHA-256 and size of the official files, from TensorFlow Datasets' url_checksums/svhn_cropped.txt
# (github.com/tensorflow/datasets, commit 333639b3); not re-computed here (no network).
SVHN_REMOTES = (
    Remote("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
           "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8", 182040794),
    Remote("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
           "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b", 64275384),
)


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One ``.mat`` file -> images uint8 ``(N, 3, 32, 32)`` and labels int64 ``(N,)`` (digit 0 is 0)."""
    try:
        mat = loadmat(path, variable_names=("X", "y"))
    except Exception as e:  # scipy raises ValueError, OSError, TypeError... on a truncated or foreign file
        raise DataError(f"{path}: cannot read it as a MATLAB file ({type(e).__name__}: {e}); the file is "
                        "truncated or corrupt. Delete it and fetch it again "
                        "(`python -m hlwb download-data --dataset svhn`)") from e
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None:
        raise DataError(f"{path}: has no variables X and y; it is not an SVHN cropped-digits file")
    if x.ndim != 4 or x.shape[:3] != (SIZE, SIZE, CHANNELS) or x.dtype != np.uint8:
        raise DataError(f"{path}: X is {x.shape} {x.dtype}, expected uint8 (32, 32, 3, N)")
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise DataError(f"{path}: X holds {x.shape[3]} images but y holds {y.shape[0]} labels")
    labels = y.astype(np.int64)
    if len(labels) and (labels.min() < 1 or labels.max() > 10 or not np.array_equal(labels, y)):
        raise DataError(f"{path}: labels span {y.min()}..{y.max()}, expected the integers 1..10 "
                        "(10 is the digit 0)")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), labels % 10  # (H, W, C, N) -> (N, C, H, W)


def load(split: str) -> Dataset:
    """SVHN ``train`` or ``test``, 3x32x32; label ``k`` is the digit ``k``."""
    name = SVHN_FILES[split]
    images, labels = read_mat(locate("svhn", (name,)) / name)
    return Dataset(f"svhn/{split}", torch.from_numpy(images), torch.from_numpy(labels),
                   ImageSpec(CHANNELS, SIZE, SVHN_CLASSES))
