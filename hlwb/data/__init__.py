"""Datasets: one registry of image sets, each uint8 ``(N, C, S, S)`` with its :class:`~hlwb.spec.ImageSpec`.

``load(name, split, size)`` is the entry point and ``spec_of(name, size)`` the spec without the
images; :data:`DATASETS` maps each name to its :class:`DatasetEntry` (``names()`` lists them), and
``folder:PATH`` reads a folder of your own images (:mod:`hlwb.data.folder`). The formats and rules
are in docs/methods.md, "Datasets"; the downloadable sets live in :mod:`hlwb.data.store`'s places
(``$HLWB_DATA/<name>``, then the cache), each format in its module (:mod:`~hlwb.data.cifar`,
:mod:`~hlwb.data.svhn`, :mod:`~hlwb.data.stl10`), the colour set in :mod:`~hlwb.data.color`.

Fashion-MNIST and scikit-learn's digits, the two sets hlwb started with, are read here.
Fashion-MNIST is searched in this order:
  1. ``$HLWB_DATA/fashion-mnist``
  2. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``)
  3. the user cache ``$XDG_CACHE_HOME/hlwb/fashion-mnist`` (default ``~/.cache/hlwb``), filled
     by :func:`download_fashion_mnist` from the official mirror, verified by SHA-256.

Every file is checked (magic number, declared sizes against the payload, images against
labels, and the SHA-256 of its decompressed payload against the official release); a bad
file raises :class:`DataError` naming it. Never a silent partial dataset. A ``$HLWB_DATA``
that exists must hold all four files: a missing one is an error, not a fall-back to the
next directory; a ``$HLWB_DATA`` that is not an existing folder is an error naming it.
``HLWB_DATA_VERIFY=0`` skips the digest check (for a copy of your own, e.g. a modified or
subsampled Fashion-MNIST); the structural checks always run.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..spec import ImageSpec
from . import cifar, folder, stl10, svhn
from .cifar import CIFAR10_CLASSES, CIFAR100_CLASSES
from .color import colorize
from .color import colors as fashion_mnist_colors
from .core import DataError, Dataset, resize, to_float, to_uint8
from .stl10 import STL10_CLASSES
from .store import DATA_ENV, Remote, cache_root, data_root
from .store import download as download_remotes
from .svhn import SVHN_CLASSES

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
FASHION_SPEC = ImageSpec(1, 32, FASHION_CLASSES)  # 28x28 padded by 2 px of background
DIGITS_SPEC = ImageSpec(1, 32, DIGIT_CLASSES)     # 8x8 upsampled to 28x28, padded like Fashion-MNIST
DIGITS_TEST_EVERY = 5  # digits' fixed split: images 0, 5, 10, ... are "test" (360), the rest "train" (1437)


def search_dirs() -> list[Path]:
    """Directories searched for the Fashion-MNIST IDX files, in order (``$HLWB_DATA`` must exist if set)."""
    dirs = []
    root = data_root()
    if root is not None:
        dirs.append(root / "fashion-mnist")
    dirs.append(DEBIAN_DIR)
    dirs.append(cache_dir())
    return dirs


def cache_dir() -> Path:
    """Where :func:`download_fashion_mnist` puts the four files: ``<cache>/fashion-mnist``."""
    return cache_root() / "fashion-mnist"


def find_fashion_mnist() -> Path:
    """The first search directory that holds all four IDX files, else a :class:`DataError`.

    ``$HLWB_DATA``, when set to an existing directory, is the user's choice: if
    ``$HLWB_DATA/fashion-mnist`` lacks any of the four files, that is the error (naming them),
    not a silent switch to the system copy.
    """
    names = [name for name, _ in FILES.values()]
    root = data_root()  # set but not a folder: an error naming HLWB_DATA
    if root is not None:
        d = root / "fashion-mnist"
        missing = [n for n in names if not (d / n).is_file()]
        if missing:
            raise DataError(f"{DATA_ENV}={os.environ[DATA_ENV]} is set, but {d} lacks "
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
                   torch.from_numpy(labels.astype(np.int64)), FASHION_SPEC)


def fashion_mnist_color(split: str = "train") -> Dataset:
    """Fashion-MNIST in colour, 3x32x32: garment and background colours per image (:mod:`.color`)."""
    gray = fashion_mnist(split)
    fg, bg = fashion_mnist_colors(split, np.arange(len(gray)))
    spec = ImageSpec(3, gray.spec.size, gray.spec.classes)
    return Dataset(f"fashion_mnist_color/{split}", colorize(gray.images, fg, bg), gray.labels, spec)


def digits(split: str = "all") -> Dataset:
    """scikit-learn's 8x8 handwritten digits, bilinearly resized to 28x28 and padded to 32x32.

    ``all`` (1797, the default), or the fixed split: ``test`` the images whose index is a multiple
    of :data:`DIGITS_TEST_EVERY` (360), ``train`` the rest (1437).
    """
    from sklearn.datasets import load_digits

    if split not in ("all", "train", "test"):
        raise KeyError(f"unknown split {split!r} of digits; valid: all, train, test")
    d = load_digits()
    x = torch.from_numpy(d.images).float().unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    images, labels = F.pad(x, (2, 2, 2, 2)), torch.from_numpy(d.target.astype(np.int64))
    if split == "all":
        return Dataset("digits", images, labels, DIGITS_SPEC)
    test = torch.arange(len(images)) % DIGITS_TEST_EVERY == 0
    keep = test if split == "test" else ~test
    return Dataset(f"digits/{split}", images[keep], labels[keep], DIGITS_SPEC)


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


# ---- the registry ----

FOLDER = "folder:"  # load("folder:PATH", ...): a folder of your own images (hlwb.data.folder)


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: splits, native side, channels, class names, one line of help, loader.

    ``loader(split)`` gives the split at its native ``size``; ``remotes`` are the official files
    :func:`download` fetches, or ``fetch`` downloads it another way (none of the two: nothing to
    download); the ``unlabelled`` splits have no labels and no class names.
    """

    name: str
    splits: tuple[str, ...]
    size: int
    channels: int
    classes: tuple[str, ...] | None
    help: str
    loader: Callable[[str], Dataset] = dataclasses.field(repr=False, compare=False)
    remotes: tuple[Remote, ...] = ()
    fetch: Callable[[], Path] | None = dataclasses.field(default=None, repr=False, compare=False)
    unlabelled: tuple[str, ...] = ()

    def spec(self, size: int | None = None, split: str | None = None) -> ImageSpec:
        """The spec of ``split`` (default: a labelled one) at ``size`` (default: native)."""
        classes = None if split in self.unlabelled else self.classes
        return ImageSpec(self.channels, self.size if size is None else size, classes)


# Loaders are lambdas over this module's names, so a test that replaces e.g. `data.fashion_mnist`
# (or `data.svhn.load`) replaces it for `load` too.
DATASETS: dict[str, DatasetEntry] = {e.name: e for e in (
    DatasetEntry("fashion_mnist", ("train", "test"), 32, 1, FASHION_CLASSES,
                 "Fashion-MNIST, 60k/10k grayscale garments, 28x28 zero-padded to 32x32",
                 lambda split: fashion_mnist(split), fetch=lambda: download_fashion_mnist()),
    DatasetEntry("fashion_mnist_color", ("train", "test"), 32, 3, FASHION_CLASSES,
                 "Fashion-MNIST with a random garment and background colour per image (colour is noise)",
                 lambda split: fashion_mnist_color(split), fetch=lambda: download_fashion_mnist()),
    DatasetEntry("digits", ("train", "test", "all"), 32, 1, DIGIT_CLASSES,
                 "scikit-learn's 1797 8x8 digits, upsampled to 28 and padded to 32; test = every 5th",
                 lambda split: digits(split)),
    DatasetEntry("cifar10", ("train", "test"), 32, 3, CIFAR10_CLASSES,
                 "CIFAR-10, 50k/10k colour 32x32 images, 10 classes (binary version)",
                 lambda split: cifar.cifar10(split), cifar.CIFAR10_REMOTES),
    DatasetEntry("cifar100", ("train", "test"), 32, 3, CIFAR100_CLASSES,
                 "CIFAR-100, 50k/10k colour 32x32 images, 100 fine classes (binary version)",
                 lambda split: cifar.cifar100(split), cifar.CIFAR100_REMOTES),
    DatasetEntry("svhn", ("train", "test"), 32, 3, SVHN_CLASSES,
                 "SVHN cropped digits, 73k/26k colour 32x32 house numbers; label k is the digit k",
                 lambda split: svhn.load(split), svhn.SVHN_REMOTES),
    DatasetEntry("stl10", ("train", "test", "unlabeled"), 96, 3, STL10_CLASSES,
                 "STL-10, 5k/8k labelled and 100k unlabelled colour 96x96 images, 10 classes",
                 lambda split: stl10.load(split), stl10.STL10_REMOTES, unlabelled=("unlabeled",)),
)}


def names() -> tuple[str, ...]:
    """The registered dataset names (and ``folder:PATH`` besides them)."""
    return tuple(DATASETS)


def _entry(name: str) -> DatasetEntry:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}, or {FOLDER}PATH")
    return DATASETS[name]


def _check_split(entry: DatasetEntry, split: str) -> None:
    if split not in entry.splits:
        raise KeyError(f"unknown split {split!r} of {entry.name}; valid: {', '.join(entry.splits)}")


def spec_of(name: str, size: int | None = None, split: str | None = None) -> ImageSpec:
    """The spec ``load(name, split, size)`` gives, without reading images.

    ``folder:PATH`` scans its file names and headers. ``split`` matters only for an unlabelled
    split (``stl10``'s ``unlabeled``: no classes); omitted, the labelled splits' spec.
    """
    if name.startswith(FOLDER):
        return folder.spec(name[len(FOLDER):], size)
    entry = _entry(name)
    if split is not None:
        _check_split(entry, split)
    return entry.spec(size, split)


def load(name: str, split: str = "train", size: int | None = None) -> Dataset:
    """Dataset ``name``'s ``split`` at side ``size`` (None: its native size), uint8 with its spec.

    Another ``size`` resizes every image by :func:`~hlwb.data.core.resize` (antialiased bilinear)
    and the spec says the new size. An unknown name or split lists the valid ones.
    """
    if name.startswith(FOLDER):
        return folder.load(name[len(FOLDER):], split, size)
    entry = _entry(name)
    _check_split(entry, split)
    spec = entry.spec(size, split)  # a size outside MIN_SIZE..MAX_SIZE is refused before any reading
    ds = entry.loader(split)
    if ds.spec.size == spec.size:
        return ds
    return Dataset(f"{ds.name}@{spec.size}", resize(ds.images, spec.size), ds.labels,
                   dataclasses.replace(ds.spec, size=spec.size))


def download(name: str) -> Path:
    """Fetch dataset ``name``'s official files into the cache, SHA-256 checked; the folder they are in."""
    if name.startswith(FOLDER):
        raise DataError(f"{name} is a folder of your own; there is nothing to download")
    entry = _entry(name)
    if entry.remotes:
        return download_remotes(entry.name, entry.remotes)
    if entry.fetch is not None:
        return entry.fetch()
    raise DataError(f"{name} needs no download ({entry.help})")


__all__ = [
    "CIFAR10_CLASSES", "CIFAR100_CLASSES", "DATASETS", "DATA_ENV", "DEBIAN_DIR", "DIGIT_CLASSES",
    "FASHION_CLASSES", "FILES", "FOLDER", "MIRROR", "STL10_CLASSES", "SVHN_CLASSES", "VERIFY_ENV",
    "DataError", "Dataset", "DatasetEntry", "Remote", "cache_dir", "cache_root", "colorize", "data_root",
    "digits", "download", "download_fashion_mnist", "fashion_mnist", "fashion_mnist_color",
    "fashion_mnist_colors", "find_fashion_mnist", "load", "names", "read_idx", "resize", "search_dirs",
    "spec_of", "to_float", "to_uint8",
]
