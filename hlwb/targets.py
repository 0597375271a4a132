"""Transfer targets: labelled train/test image sets with fixed seeded splits.

Every target returns float images ``(N, C, S, S)`` in ``[-1, 1]`` (``data.to_float`` of the uint8
images), C and S its :class:`~hlwb.spec.ImageSpec`'s; :func:`load` with ``spec`` converts a target
to the in-distribution dataset's spec (channels repeated or averaged, antialiased resize), so one
encoder scores every target. Any labelled dataset of :mod:`hlwb.data` with a test split is a
target by its name (class-balanced subsets, :func:`in_domain`), and ``<dataset>_shift`` its
corrupted test set. :func:`suite` names the default targets of an in-distribution dataset.
The Fashion-MNIST study's default sizes keep one small encoder's full evaluation on every target
near a minute on one core:

| target | train | test | classes |
| --- | --- | --- | --- |
| ``fashion_mnist`` (in-domain) | 5000 (500/class, official train) | 2000 (200/class, official test) | 10 |
| ``digits`` (scikit-learn, real handwriting) | 1258 | 539 (30 % of each class) | 10 |
| ``letters`` (A-Z rendered in 16 matplotlib fonts) | 2600 (100/class) | 1040 (40/class) | 26 |
| ``fashion_mnist_shift`` (corrupted test, clean train) | 5000 | 2000 | 10 |

Every random draw takes ``seed``; the same seed gives bit-identical tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import data
from .latents import make_generator
from .spec import ImageSpec


@dataclass(frozen=True)
class Target:
    """A transfer target: ``x_*`` float ``(N, C, S, S)`` in [-1, 1], ``y_*`` int64 ``(N,)``."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for x, y, split in ((self.x_train, self.y_train, "train"), (self.x_test, self.y_test, "test")):
            if x.dtype != torch.float32 or x.ndim != 4 or x.shape[1:] != self.x_train.shape[1:] \
                    or x.shape[2] != x.shape[3]:
                raise ValueError(f"{self.name}/{split}: images must be float32 (N, C, S, S) like the train "
                                 f"split's, got {tuple(x.shape)} {x.dtype}")
            if len(x) != len(y) or y.dtype != torch.int64:
                raise ValueError(f"{self.name}/{split}: {len(x)} images but {len(y)} {y.dtype} labels")
            if len(x) and (x.min() < -1 or x.max() > 1):
                raise ValueError(f"{self.name}/{split}: images outside [-1, 1]")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def spec(self) -> ImageSpec:
        return ImageSpec(self.x_train.shape[1], self.x_train.shape[2], self.classes)


def to_spec(images: Tensor, spec: ImageSpec) -> Tensor:
    """Float images ``(N, C', S', S')`` as ``spec``'s ``(N, C, S, S)``: grayscale repeated into RGB,
    RGB averaged into grayscale, an antialiased bilinear resize; images already of the spec unchanged."""
    if images.shape[1] != spec.channels:
        images = images.repeat(1, spec.channels, 1, 1) if images.shape[1] == 1 else images.mean(1, keepdim=True)
    if images.shape[-1] != spec.size:
        images = F.interpolate(images, size=(spec.size, spec.size), mode="bilinear", antialias=True,
                               align_corners=False).clamp(-1.0, 1.0)
    return images


def convert(t: Target, spec: ImageSpec) -> Target:
    """``t`` with its images at ``spec``'s channels and size (labels and class names its own)."""
    if t.spec.same_images(spec):
        return t
    return Target(t.name, to_spec(t.x_train, spec), t.y_train, to_spec(t.x_test, spec), t.y_test, t.classes)


# ---- seeded, stratified index draws (also used by the probes in hlwb.evaluate) ----

def stratified_sample(labels: Tensor, per_class: int, seed: int) -> Tensor:
    """Sorted indices of exactly ``per_class`` random items of every class present in ``labels``."""
    g = make_generator(seed)
    out = []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} items, fewer than {per_class}")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(out).sort().values


def stratified_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Disjoint sorted index sets ``(rest, held_out)``; ``round(fraction * n_c)`` of each class held out."""
    g = make_generator(seed)
    rest, held = [], []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = round(fraction * len(idx))
        held.append(idx[:k])
        rest.append(idx[k:])
    return torch.cat(rest).sort().values, torch.cat(held).sort().values


# ---- Fashion-MNIST, in-domain and shifted ----

def in_domain(dataset: str = "fashion_mnist", n_train: int = 60_000, n_test: int = 10_000, seed: int = 0,
              size: int | None = None) -> Target:
    """Class-balanced subsets of a labelled dataset's train (``n_train``) and test (``n_test``) splits
    (:func:`hlwb.data.load`, at ``size`` px; None: the dataset's own), in a seeded order; sizes
    beyond a split take all of it (``n // classes`` per class, at most the rarest class's count)."""
    tr, te = data.load(dataset, "train", size), data.load(dataset, "test", size)
    if tr.labels is None or te.labels is None:
        raise ValueError(f"dataset {dataset!r} is unlabelled: it cannot be a transfer target")
    k = len(tr.classes)
    i_tr = stratified_sample(tr.labels, min(n_train // k, int(torch.bincount(tr.labels).min())), seed)
    i_te = stratified_sample(te.labels, min(n_test // k, int(torch.bincount(te.labels).min())), seed + 1)
    return Target(dataset, data.to_float(tr.images[i_tr]), tr.labels[i_tr],
                  data.to_float(te.images[i_te]), te.labels[i_te], tr.classes)


def fashion_mnist(n_train: int = 60_000, n_test: int = 10_000, seed: int = 0) -> Target:
    """:func:`in_domain` of Fashion-MNIST; the defaults are the full splits (60k probe-train / kNN
    memory, 10k test), in a seeded order."""
    return in_domain("fashion_mnist", n_train, n_test, seed)


def _gaussian_noise(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    sigma = (0.1, 0.2, 0.3, 0.45, 0.6)[severity - 1]  # in [-1, 1] units (1.0 = half the range)
    return x + sigma * torch.randn(x.shape, generator=g)


def _blur(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    sigma = (0.6, 0.9, 1.2, 1.6, 2.0)[severity - 1] * x.shape[-1] / 32  # pixels at 32 px, scaled
    r = int(np.ceil(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.pad(x, (r, r, r, r), mode="replicate")  # borders are background
    c = x.shape[1]  # depthwise: each channel blurred alone
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # horizontal pass
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # vertical pass


def _contrast(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    c = (0.5, 0.4, 0.3, 0.2, 0.1)[severity - 1]
    m = x.mean(dim=(1, 2, 3), keepdim=True)  # per image, as ImageNet-C does
    return m + c * (x - m)


def _occlusion(x: Tensor, severity: int, g: torch.Generator) -> Tensor:
    s = x.shape[-1]
    side = round((6, 9, 12, 15, 18)[severity - 1] * s / 32)  # sides at 32 px, scaled with the image
    x = x.clone()
    lo, hi = round(2 * s / 32), s - round(2 * s / 32) - side  # inside the object frame (28x28 of 32 px)
    pos = torch.randint(lo, hi + 1, (len(x), 2), generator=g)
    for i, (r, c) in enumerate(pos.tolist()):
        x[i, :, r:r + side, c:c + side] = 0.0  # a mid-grey square
    return x


CORRUPTIONS: dict[str, Callable[[Tensor, int, torch.Generator], Tensor]] = {
    "gaussian_noise": _gaussian_noise, "blur": _blur, "contrast": _contrast, "occlusion": _occlusion}


def corrupt(images: Tensor, corruption: str, severity: int = 3, seed: int = 0) -> Tensor:
    """``images (N, C, S, S)`` in [-1, 1] under a named corruption of severity 1..5, clamped."""
    if corruption not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {corruption!r}; valid: {', '.join(CORRUPTIONS)}")
    if severity not in range(1, 6):
        raise ValueError(f"severity must be 1..5, got {severity}")
    return CORRUPTIONS[corruption](images, severity, make_generator(seed)).clamp(-1.0, 1.0)


def shift(dataset: str = "fashion_mnist", corruption: str = "gaussian_noise", severity: int = 3,
          n_train: int = 5000, n_test: int = 2000, seed: int = 0, size: int | None = None) -> Target:
    """A clean train subset of ``dataset``; its test subset under ``corruption`` (see :data:`CORRUPTIONS`)."""
    clean = in_domain(dataset, n_train, n_test, seed, size)
    x_test = corrupt(clean.x_test, corruption, severity, seed)
    return Target(f"{dataset}_shift/{corruption}{severity}", clean.x_train, clean.y_train,
                  x_test, clean.y_test, clean.classes)


def fashion_mnist_shift(corruption: str = "gaussian_noise", severity: int = 3, n_train: int = 5000,
                        n_test: int = 2000, seed: int = 0) -> Target:
    """Clean Fashion-MNIST train subset; the test subset under ``corruption`` (see :data:`CORRUPTIONS`)."""
    return shift("fashion_mnist", corruption, severity, n_train, n_test, seed)


# ---- scikit-learn digits ----

def digits(test_fraction: float = 0.3, seed: int = 0) -> Target:
    """scikit-learn's 1797 8x8 digits, bilinearly upsampled to 28x28 and zero-padded to 32x32
    (:func:`hlwb.data.digits`, the framing of Fashion-MNIST); stratified seeded split."""
    ds = data.digits()
    tr, te = stratified_split(ds.labels, test_fraction, seed)
    return Target("digits", data.to_float(ds.images[tr]), ds.labels[tr],
                  data.to_float(ds.images[te]), ds.labels[te], ds.classes)


# ---- letters rendered from matplotlib's bundled fonts ----

LETTER_CLASSES = tuple(chr(ord("A") + i) for i in range(26))
LETTER_FONTS = (  # files in matplotlib's mpl-data/fonts/ttf: always present, no system fonts
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf")
LETTERS_SPEC = ImageSpec(1, 32, LETTER_CLASSES)  # the letters target's own images (converted by load(spec=...))
_HI = 2 * LETTERS_SPEC.size  # glyphs are drawn, thickened and warped at 64 px, then area-downsampled to 32


@lru_cache(maxsize=1)
def glyph_bank() -> Tensor:
    """``(fonts, 26, 64, 64)`` float glyphs in [0, 1], ink-box centred, longer side 44 px."""
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    bank = np.zeros((len(LETTER_FONTS), 26, _HI, _HI), dtype=np.float32)
    for f, name in enumerate(LETTER_FONTS):
        font = ImageFont.truetype(str(font_dir / name), 48)
        for c, ch in enumerate(LETTER_CLASSES):
            im = Image.new("L", (96, 96))
            ImageDraw.Draw(im).text((48, 48), ch, fill=255, font=font, anchor="mm")
            im = im.crop(im.getbbox())
            s = 44 / max(im.size)
            im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.BILINEAR)
            canvas = Image.new("L", (_HI, _HI))
            canvas.paste(im, ((_HI - im.width) // 2, (_HI - im.height) // 2))
            bank[f, c] = np.asarray(canvas, dtype=np.float32) / 255.0
    return torch.from_numpy(bank)


def render_letters(indices: Tensor | range, seed: int) -> tuple[Tensor, Tensor]:
    """Images ``(N, 1, 32, 32)`` (:data:`LETTERS_SPEC`) in [-1, 1] and labels for the given sample indices.

    Sample i is a function of ``(seed, i)`` alone: class ``i % 26``; font, stroke width
    (erode / keep / dilate / dilate twice at 64 px), ink level in [0.6, 1], rotation +-15 deg,
    scale 0.8-1.15, shear +-0.3, shift +-3 px, and Gaussian pixel noise with std in [0, 0.15].
    """
    bank = glyph_bank()
    idx = [int(i) for i in indices]
    labels = torch.tensor([i % 26 for i in idx], dtype=torch.int64)
    n = len(idx)
    theta = np.zeros((n, 2, 3), dtype=np.float32)
    fonts, strokes, ink = np.zeros(n, int), np.zeros(n, int), np.zeros(n, np.float32)
    noise = np.zeros((n, *LETTERS_SPEC.shape), dtype=np.float32)
    for j, i in enumerate(idx):
        rng = np.random.default_rng([seed, i])
        fonts[j], strokes[j] = rng.integers(len(LETTER_FONTS)), rng.integers(-1, 3)
        ink[j] = rng.uniform(0.6, 1.0)
        a, s, sh = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(0.8, 1.15), rng.uniform(-0.3, 0.3)
        shift = rng.uniform(-3, 3, size=2) / 16  # pixels at 32 px -> normalised coordinates
        fwd = (np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[1, sh], [0, 1]])) * s
        inv = np.linalg.inv(fwd)  # affine_grid maps output to input coordinates
        theta[j, :, :2], theta[j, :, 2] = inv, -inv @ shift
        noise[j] = rng.uniform(0, 0.15) * rng.standard_normal(LETTERS_SPEC.shape)
    x = bank[torch.from_numpy(fonts), labels].unsqueeze(1)  # (N, 1, 64, 64)
    for w in (-1, 1, 2):  # stroke width: min-/max-pool with a (2|w| + 1)-square
        m = torch.from_numpy(strokes == w)
        if m.any():
            k = 2 * abs(w) + 1
            pooled = F.max_pool2d(x[m] if w > 0 else -x[m], k, 1, k // 2)
            x[m] = pooled if w > 0 else -pooled
    grid = F.affine_grid(torch.from_numpy(theta), [n, 1, _HI, _HI], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = F.avg_pool2d(x, 2)  # (N, *LETTERS_SPEC.shape) in [0, 1]
    x = -1 + 2 * x * torch.from_numpy(ink)[:, None, None, None] + torch.from_numpy(noise)
    return x.clamp(-1.0, 1.0), labels


def letters(n_train: int = 2600, n_test: int = 1040, seed: int = 0) -> Target:
    """Rendered capitals A-Z (26 classes): train samples are indices ``0..n_train-1``, test
    samples the next ``n_test`` (disjoint draws); balanced when the sizes are multiples of 26."""
    x_tr, y_tr = render_letters(range(n_train), seed)
    x_te, y_te = render_letters(range(n_train, n_train + n_test), seed)
    return Target("letters", x_tr, y_tr, x_te, y_te, LETTER_CLASSES)


TARGETS: dict[str, Callable[..., Target]] = {
    "fashion_mnist": fashion_mnist, "digits": digits, "letters": letters,
    "fashion_mnist_shift": fashion_mnist_shift}


# the default transfer targets of an in-distribution dataset: itself, its corrupted test set, and the
# targets of another kind that convert to its spec (digits and letters are grayscale 32 px: repeated
# into RGB and resized for colour or larger data)
SUITES: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("fashion_mnist", "digits", "letters", "fashion_mnist_shift"),
    "fashion_mnist_color": ("fashion_mnist_color", "fashion_mnist", "digits", "letters", "fashion_mnist_color_shift"),
    "cifar10": ("cifar10", "cifar100", "svhn", "cifar10_shift"),
    "cifar100": ("cifar100", "cifar10", "svhn", "cifar100_shift"),
    "svhn": ("svhn", "digits", "svhn_shift"),
    "stl10": ("stl10", "cifar10", "stl10_shift"),
}


def suite(dataset: str) -> tuple[str, ...]:
    """The default targets of ``dataset`` (a folder or an unlisted dataset: itself and its shift)."""
    return SUITES.get(dataset, (dataset, f"{dataset}_shift"))


def _labelled(name: str) -> bool:
    try:
        return "test" in data.DATASETS[name].splits and data.spec_of(name).classes is not None
    except (KeyError, data.DataError):
        return name.startswith("folder:")


def known(name: str) -> bool:
    """Whether :func:`load` knows ``name`` (without loading anything but a folder's file names)."""
    base = name.removesuffix("_shift")
    return name in TARGETS or _labelled(name) or (base != name and _labelled(base))


def load(name: str, spec: ImageSpec | None = None, **kwargs) -> Target:
    """A target by name with its keyword arguments, at ``spec``'s channels and size when given.

    Names: :data:`TARGETS`, any labelled dataset of :mod:`hlwb.data` (its class-balanced splits,
    keyword ``size`` among the arguments) and ``<dataset>_shift``; an unknown name lists the valid ones.
    """
    if name in TARGETS:
        t = TARGETS[name](**kwargs)
    elif _labelled(name):
        t = in_domain(name, **kwargs)
    elif name.endswith("_shift") and _labelled(name[:-len("_shift")]):
        t = shift(name[:-len("_shift")], **kwargs)
    else:
        valid = list(TARGETS) + [n for n in data.DATASETS if _labelled(n)]
        raise KeyError(f"unknown target {name!r}; valid: {', '.join(dict.fromkeys(valid))}, <dataset>_shift "
                       "or folder:PATH")
    return t if spec is None else convert(t, spec)
