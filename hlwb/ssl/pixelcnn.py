"""A conditional PixelCNN head over quantised grayscale intensities (van den Oord et al. 2016).

The image is quantised to ``bins`` levels (:func:`quantize`); the head reads the bin centres
(:func:`dequantize`) through a 7x7 convolution with mask A (the centre pixel and everything
after it in raster order hidden), then residual 3x3 convolutions with mask B (centre visible),
then 1x1 convolutions to ``bins`` logits per pixel. Raster order is transitive, so the whole
stack is causal: the logits of pixel i depend only on pixels j < i (tests/test_gcrl.py checks
it on the whole head). No batch norm: its batch statistics would let pixel j of one image
reach the logits of pixel i < j (of every image in the batch).

Conditioning: a global feature c (N, D) adds a learned per-channel bias to the input layer and
to every residual block (the spatially constant term of the conditional PixelCNN). The bias is
the same at every pixel and does not read the image being modelled, so it cannot break the
causal order: whether c itself leaks the target is the caller's business (hlwb.ssl.gcrl feeds
the feature of the *other* view).

Sampling is ancestral, one pixel at a time in raster order: H x W passes of the head. Each pass
runs only on the band of rows that can reach the current row (``receptive_rows`` above it), so
a 32x32 image costs 1024 passes over at most 8 rows: at the default width 32 on one CPU core
(measured, torch 2.13) 1.1 s for one image, 0.4 s per image in batches of 16 or 64 (25 s for
64), plus one trunk pass for the conditioning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..latents import make_generator, row_seed
from .losses import pixel_nll


def quantize(x: Tensor, bins: int) -> Tensor:
    """Images (N, 1, H, W) in [-1, 1] -> int64 bin indices in [0, bins) (equal-width bins)."""
    return ((x.clamp(-1, 1) + 1) / 2 * bins).floor().clamp(0, bins - 1).long()


def dequantize(q: Tensor, bins: int) -> Tensor:
    """Bin indices -> their bin centres in [-1, 1] (float32), the head's input."""
    return (q.float() + 0.5) / bins * 2 - 1


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose kernel sees only raster-earlier pixels (mask A), or those and the
    centre (mask B); single-channel images, so no channel masking."""

    def __init__(self, c_in: int, c_out: int, kernel: int, mask: str):
        if mask not in ("A", "B") or kernel % 2 == 0:
            raise ValueError(f"mask must be 'A' or 'B' and the kernel odd, got {mask!r}, {kernel}")
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        m = torch.ones(kernel, kernel)
        m[kernel // 2, kernel // 2 + (mask == "B"):] = 0  # the centre row from the centre (A) or after it (B)
        m[kernel // 2 + 1:] = 0  # every row below
        self.register_buffer("mask", m[None, None], persistent=False)  # (1, 1, k, k)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNHead(nn.Module):
    """p(x | c) = prod_i p(x_i | x_<i, c) over ``bins`` intensity levels, raster order.

    Args:
        cond_dim: D of the conditioning feature c (N, D).
        bins: intensity levels (8-16 for grayscale, METHODS.md §4).
        width: channels of every layer; layers: residual mask-B blocks; kernel: mask-A kernel.
    """

    def __init__(self, cond_dim: int, bins: int = 16, width: int = 32, layers: int = 4, kernel: int = 7):
        super().__init__()
        if not 2 <= bins <= 256:
            raise ValueError(f"bins must be in [2, 256], got {bins}")
        self.bins, self.width, self.n_layers = bins, width, layers
        self.inp = MaskedConv2d(1, width, kernel, "A")
        self.blocks = nn.ModuleList(MaskedConv2d(width, width, 3, "B") for _ in range(layers))
        self.cond = nn.Linear(cond_dim, width * (layers + 1))  # one bias per channel and layer
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 1), nn.ReLU(), nn.Conv2d(width, bins, 1))
        self.receptive_rows = kernel // 2 + layers  # rows above a pixel that can reach its logits

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """x: (N, 1, H, W) bin centres (:func:`dequantize`), cond: (N, D) -> logits (N, bins, H, W)."""
        if x.ndim != 4 or x.shape[1] != 1 or cond.shape[0] != x.shape[0]:
            raise ValueError(f"x must be (N, 1, H, W) and cond (N, D), got {tuple(x.shape)}, {tuple(cond.shape)}")
        n = x.shape[0]
        bias = self.cond(cond).view(n, self.n_layers + 1, self.width, 1, 1)
        h = self.inp(x) + bias[:, 0]
        for i, conv in enumerate(self.blocks):
            h = h + conv(F.relu(h)) + bias[:, i + 1]
        return self.out(h)

    def nll(self, q: Tensor, cond: Tensor) -> Tensor:
        """(N,) nats per image of bin indices q (N, 1, H, W) given cond (N, D)."""
        return pixel_nll(self(dequantize(q, self.bins), cond), q)

    @torch.no_grad()
    def sample(self, cond: Tensor, size: tuple[int, int] = (32, 32), seed: int = 0, first: int = 0,
               temperature: float = 1.0) -> Tensor:
        """Ancestral samples: bin indices (N, 1, H, W), one per row of cond (N, D).

        Image i is addressable: its randomness is the uniforms of ``row_seed(seed, first + i)``
        (one per pixel, inverse-CDF draws), so it does not depend on the batch it is drawn in.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        n, (hgt, wid) = cond.shape[0], size
        u = torch.stack([torch.rand(hgt * wid, generator=make_generator(row_seed(seed, first + i)))
                         for i in range(n)]).to(cond.device)  # (N, H*W), pixel k of image i
        q = torch.zeros(n, 1, hgt, wid, dtype=torch.long, device=cond.device)
        for k in range(hgt * wid):
            r, c = divmod(k, wid)
            top = max(0, r - self.receptive_rows)  # rows above the band cannot reach row r
            logits = self(dequantize(q[:, :, top:r + 1], self.bins), cond)[:, :, r - top, c]  # (N, bins)
            cdf = torch.softmax(logits / temperature, dim=1).cumsum(1)
            q[:, 0, r, c] = (u[:, k:k + 1] > cdf).sum(1).clamp(max=self.bins - 1)
        return q
