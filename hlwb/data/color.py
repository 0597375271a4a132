"""``fashion_mnist_color``: Fashion-MNIST with a random garment colour and background colour per image.

Colour is a nuisance here, as in Colored-MNIST: each image ``i`` of a split gets a foreground and a
background colour drawn from a counter-based hash of (:data:`COLOR_SEED`, split, ``i``), never from
its label, so colour carries no information about the class, and image ``i`` has the same colours
whichever subset is loaded (:func:`colors` gives them for any indices without loading images).
The gray level ``a = g / 255`` of the original pixel blends the two::

    pixel = bg * (1 - a) + fg * a          (per channel, rounded to the nearest integer)

Foreground and background stay apart by brightness: the background is dark (HSV value in
``[0, 0.4]``), the garment bright (value in ``[0.75, 1]``, saturation ``[0.6, 1]``), so every channel
maximum of a garment colour exceeds every background's by at least 0.35 x 255 = 89 levels. Hues are
uniform for both. This is not a benchmark of natural colour images; it exercises the 3-channel path
(models, views, colour jitter) on data that runs offline (docs/methods.md, "Datasets").
"""

from __future__ import annotations

import numpy as np
import torch

COLOR_SEED = 0x5EED_C0102  # base of the colour hash; changing it changes every colour
SPLIT_STREAM = {"train": 0, "test": 1}  # train and test images with the same index differ in colour
FG_VALUE, BG_VALUE = (0.75, 1.0), (0.0, 0.4)  # HSV value ranges: garment bright, background dark
FG_SAT, BG_SAT = (0.6, 1.0), (0.3, 1.0)
_CHUNK = 1024  # images blended per step: bounds the uint16 intermediates (1024 x 3 x 1024 x 2 B = 6 MB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea & Flood 2014), element-wise on a uint64 array."""
    x = x + np.uint64(0x9E3779B97F4A7C15)  # arrays wrap modulo 2**64 silently, as the hash wants
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _uniforms(split: str, indices: np.ndarray, k: int) -> np.ndarray:
    """``(n, k)`` float64 uniforms in [0, 1), a pure function of (seed, split, index, column)."""
    if split not in SPLIT_STREAM:
        raise KeyError(f"unknown split {split!r} of fashion_mnist_color; valid: {', '.join(SPLIT_STREAM)}")
    key = _splitmix64(np.array([COLOR_SEED ^ (SPLIT_STREAM[split] << 56)], dtype=np.uint64))  # (1,)
    counter = indices.astype(np.uint64)[:, None] * np.uint64(k) + np.arange(k, dtype=np.uint64)[None, :]
    bits = _splitmix64(_splitmix64(counter ^ key))
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] -> RGB ``(n, 3)`` in [0, 1] (the hexcone model)."""
    i = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, 1) for c in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return table[i, np.arange(len(h))]


def colors(split: str, indices: torch.Tensor | np.ndarray | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The garment and background colours of images ``indices`` of ``split``: two uint8 ``(n, 3)`` RGB."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if len(idx) and idx.min() < 0:
        raise ValueError(f"image indices must be >= 0, got {int(idx.min())}")
    u = _uniforms(split, idx, 6)

    def lerp(x: np.ndarray, lo_hi: tuple[float, float]) -> np.ndarray:
        return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * x

    fg = _hsv_to_rgb(u[:, 0], lerp(u[:, 1], FG_SAT), lerp(u[:, 2], FG_VALUE))
    bg = _hsv_to_rgb(u[:, 3], lerp(u[:, 4], BG_SAT), lerp(u[:, 5], BG_VALUE))
    rgb = np.rint(np.stack([fg, bg]) * 255.0).astype(np.uint8)  # (2, n, 3)
    return torch.from_numpy(rgb[0]), torch.from_numpy(rgb[1])


def colorize(gray: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
    """Blend: gray uint8 ``(N, 1, S, S)``, colours uint8 ``(N, 3)`` -> uint8 ``(N, 3, S, S)``.

    ``round((bg * (255 - g) + fg * g) / 255)`` in exact integer arithmetic.
    """
    n = len(gray)
    if gray.ndim != 4 or gray.shape[1] != 1 or fg.shape != (n, 3) or bg.shape != (n, 3):
        raise ValueError(f"colorize takes gray (N, 1, S, S) and colours (N, 3), got {tuple(gray.shape)}, "
                         f"{tuple(fg.shape)}, {tuple(bg.shape)}")
    # uint16 numpy: bg * (255 - g) + fg * g + 127 <= 255 * 255 + 127 fits, and numpy's integer
    # arithmetic on it is ~15x faster here than torch's int32 (0.6 s for 60k images)
    g16, f16, b16 = (t.numpy().astype(np.uint16) for t in (gray, fg, bg))
    out = np.empty((n, 3, gray.shape[2], gray.shape[3]), dtype=np.uint8)
    for i in range(0, n, _CHUNK):
        g = g16[i:i + _CHUNK]                                   # (n, 1, S, S)
        f, b = f16[i:i + _CHUNK, :, None, None], b16[i:i + _CHUNK, :, None, None]  # (n, 3, 1, 1)
        out[i:i + _CHUNK] = (b * (255 - g) + f * g + 127) // 255
    return torch.from_numpy(out)
