"""Datasets: Fashion-MNIST from IDX files and scikit-learn digits, as uint8 (N, 1, 32, 32).

Fashion-MNIST is searched in this order (DESIGN.md §6):
  1. ``$HLWB_DATA/fashion-mnist``
  2. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``)
  3. the user cache ``$XDG_CACHE_HOME/hlwb/fashion-mnist`` (default ``~/.cache/hlwb``), filled
     by :func:`download_fashion_mnist` from the official mirror, verified by SHA-256.

Every file is checked (magic number, declared sizes against the payload, images against
labels, and the SHA-256 of its decompressed payload against the official release); a bad
file raises :class:`DataError` naming it. Never a silent partial dataset. A ``$HLWB_DATA``
that exists must hold all four files: a missing one is an error, not a fall-back to the
next directory. ``HLWB_DATA_VERIFY=0`` skips the digest check (for a copy of your own, e.g.
a modified or subsampled Fashion-MNIST); the structural checks always run.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(i) for i in range(10))

MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# SHA-256 of the *decompressed* IDX payloads, which hlwb checks at load and after a download.
# The gzip containers differ between the official mirror and Debian's repack, the payload does
# not: Debian's dataset-fashion-mnist .gz files (checked 2026-12) have MD5s cf8536b0…, 10bea18f…,
# f78720b4…, 0d30e22e… (train images, train labels, test images, test labels), not the official
# 8d4fb7e6…, 25c81989…, bef4ecab…, bb300cfd… (the Fashion-MNIST README, torchvision), but they
# gunzip to exactly these digests. These digests were recorded when hlwb was first written; with
# no network here, the official .gz files could not be gunzipped again to re-confirm them, only
# the Debian copy (which matches).
FILES = {
    ("train", "images"): ("train-images-idx3-ubyte.gz",
                          "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    ("train", "labels"): ("train-labels-idx1-ubyte.gz",
                          "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    ("test", "images"): ("t10k-images-idx3-ubyte.gz",
                         "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte.gz",
                         "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
VERIFY_ENV = "HLWB_DATA_VERIFY"  # "0": skip the SHA-256 check of local files (your own copy)
_VERIFIED: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, sha256) checked this process
_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # uint8 vectors / uint8 rank-3 tensors


class DataError(RuntimeError):
    """A dataset is missing or a file is malformed; the message says which and what to do."""


@dataclass(frozen=True)
class Dataset:
    """Images ``(N, 1, 32, 32)`` uint8, labels ``(N,)`` int64, and the class names."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.shape[1:] != (1, 32, 32):
            raise DataError(f"{self.name}: images must be uint8 (N, 1, 32, 32), got "
                            f"{tuple(self.images.shape)} {self.images.dtype}")
        if len(self.images) != len(self.labels):
            raise DataError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def float_images(self) -> torch.Tensor:
        """Images as float in [-1, 1], shape (N, 1, 32, 32)."""
        return to_float(self.images)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, 32, 32) in [0, 255] -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float (N, C, H, W) in [-1, 1] -> uint8 in [0, 255] (clamped)."""
    return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def search_dirs() -> list[Path]:
    """Directories searched for the Fashion-MNIST IDX files, in order."""
    dirs = []
    if os.environ.get("HLWB_DATA"):
        dirs.append(Path(os.environ["HLWB_DATA"]) / "fashion-mnist")
    dirs.append(DEBIAN_DIR)
    dirs.append(cache_dir())
    return dirs


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hlwb" / "fashion-mnist"


def find_fashion_mnist() -> Path:
    """The first search directory that holds all four IDX files, else a :class:`DataError`.

    ``$HLWB_DATA``, when set to an existing directory, is the user's choice: if
    ``$HLWB_DATA/fashion-mnist`` lacks any of the four files, that is the error (naming them),
    not a silent switch to the system copy.
    """
    names = [name for name, _ in FILES.values()]
    if os.environ.get("HLWB_DATA") and Path(os.environ["HLWB_DATA"]).is_dir():
        d = Path(os.environ["HLWB_DATA"]) / "fashion-mnist"
        missing = [n for n in names if not (d / n).is_file()]
        if missing:
            raise DataError(f"HLWB_DATA={os.environ['HLWB_DATA']} is set, but {d} lacks "
                            f"{', '.join(missing)}; put all four Fashion-MNIST .gz files there, or unset "
                            "HLWB_DATA to use the system copy or the cache")
    for d in search_dirs():
        if all((d / n).is_file() for n in names):
            return d
    looked = "\n  ".join(str(d) for d in search_dirs())
    raise DataError(
        "Fashion-MNIST not found. Looked for " + ", ".join(names) + " in:\n  " + looked +
        "\nGet it with one of:\n"
        "  apt-get install dataset-fashion-mnist        (Debian/Ubuntu)\n"
        "  python -m hlwb download-data                 (official mirror, SHA-256 checked)\n"
        "  or put the four .gz files in $HLWB_DATA/fashion-mnist")


def read_idx(path: str | Path, rank: int, sha256: str | None = None) -> np.ndarray:
    """Read a gzip'd IDX file of uint8 with the given rank, checking magic and sizes.

    With ``sha256``, the decompressed payload must have that digest (unless
    ``HLWB_DATA_VERIFY=0``); a file is hashed once per process per (path, size, mtime).
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # truncated gzip stream, not gzip at all
        raise DataError(f"{path}: cannot decompress ({e}); the file is truncated or corrupt — "
                        "delete it and fetch it again") from e
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DataError(f"{path}: only {len(raw)} bytes, shorter than an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != _IDX_MAGIC[rank]:
        raise DataError(f"{path}: wrong magic number {magic:#010x}, expected "
                        f"{_IDX_MAGIC[rank]:#010x} (uint8, rank {rank}); not an IDX file of this kind")
    dims = struct.unpack(f">{rank}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(f"{path}: header declares {dims} = {expected} bytes of data but the file "
                        f"holds {len(raw) - header}; the file is truncated or corrupt")
    if sha256 is not None:
        _verify(path, raw, sha256)
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _verify(path: Path, payload: bytes, expected: str) -> None:
    """Refuse a payload whose SHA-256 is not ``expected``; skipped with ``HLWB_DATA_VERIFY=0``."""
    if os.environ.get(VERIFY_ENV, "1").strip() == "0":
        return
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, expected)
    if key in _VERIFIED:
        return
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise DataError(
            f"{path}: SHA-256 of the decompressed data is {actual}, expected {expected} (the official "
            f"Fashion-MNIST {path.name}); the file is corrupt or not Fashion-MNIST. Delete it and run "
            "`python -m hlwb download-data` (or `apt-get install --reinstall dataset-fashion-mnist` for the "
            f"system copy); if it is a copy of your own on purpose, set {VERIFY_ENV}=0")
    _VERIFIED.add(key)


def _pad32(images28: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images28.copy()).unsqueeze(1)  # (N, 1, 28, 28)
    return F.pad(x, (2, 2, 2, 2))  # (N, 1, 32, 32), zero background like the data


def fashion_mnist(split: str = "train", root: str | Path | None = None) -> Dataset:
    """Fashion-MNIST ``train`` (60k) or ``test`` (10k), 28x28 zero-padded to 32x32."""
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    d = Path(root) if root is not None else find_fashion_mnist()
    (img_name, img_sha), (lab_name, lab_sha) = FILES[(split, "images")], FILES[(split, "labels")]
    img_path, lab_path = d / img_name, d / lab_name
    for p in (img_path, lab_path):
        if not p.is_file():
            raise DataError(f"{p}: missing; see `python -m hlwb download-data`")
    images = read_idx(img_path, 3, sha256=img_sha)
    labels = read_idx(lab_path, 1, sha256=lab_sha)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
                        f"{labels.shape[0]} labels; one of them is from another dataset")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{img_path}: images are {images.shape[1:]}, expected 28x28")
    if labels.max() >= len(FASHION_CLASSES):
        raise DataError(f"{lab_path}: label {labels.max()} out of range 0..9")
    return Dataset(f"fashion_mnist/{split}", _pad32(images),
                   torch.from_numpy(labels.astype(np.int64)), FASHION_CLASSES)


def digits() -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797), bilinearly resized to 28x28 and padded to 32x32."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float().unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    return Dataset("digits", F.pad(x, (2, 2, 2, 2)), torch.from_numpy(d.target.astype(np.int64)),
                   DIGIT_CLASSES)


def download_fashion_mnist(dest: str | Path | None = None, mirror: str = MIRROR) -> Path:
    """Download the four IDX files into ``dest`` (default: the cache), verifying SHA-256.

    Each file is written to a temporary name and renamed only once verified.
    """
    dest = Path(dest) if dest is not None else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for name, sha in FILES.values():
        target = dest / name
        if target.is_file() and _payload_sha256(target) == sha:
            continue
        tmp = target.with_suffix(".part")
        try:
            with urllib.request.urlopen(mirror + name, timeout=60) as r, open(tmp, "wb") as f:
                f.write(r.read())
        except BaseException:  # no network, a timeout mid-file, Ctrl-C: leave no partial file
            tmp.unlink(missing_ok=True)
            raise
        got = _payload_sha256(tmp)
        if got != sha:
            tmp.unlink()
            raise DataError(f"{mirror + name}: SHA-256 of the payload is {got}, expected {sha}; "
                            "the download is corrupt or the mirror changed")
        os.replace(tmp, target)
    return dest


def _payload_sha256(path: Path) -> str:
    try:
        with gzip.open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (OSError, EOFError):
        return "unreadable"


DATASETS = {"fashion_mnist_train": lambda: fashion_mnist("train"),
            "fashion_mnist_test": lambda: fashion_mnist("test"),
            "digits": digits}


def load(name: str) -> Dataset:
    """A dataset by registry name; an unknown name lists the valid ones."""
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]()
