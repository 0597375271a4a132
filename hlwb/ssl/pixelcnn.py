"""A conditional PixelCNN head over quantised intensities of C-channel images (van den Oord et al. 2016).

The image is quantised to ``bins`` levels per channel (:func:`quantize`); the head reads the bin
centres (:func:`dequantize`) through a 7x7 convolution with mask A (the centre pixel and everything
after it in raster order hidden), then residual 3x3 convolutions with mask B (centre visible),
then masked 1x1 convolutions to ``bins`` logits per channel and pixel, laid out
``(N, C * bins, H, W)`` (channel c's logits are ``[c * bins, (c + 1) * bins)``). Raster order is
transitive, so the whole stack is causal: the logits of pixel i depend only on pixels j < i
(tests/test_gcrl.py checks it on the whole head). No batch norm: its batch statistics would let
pixel j of one image reach the logits of pixel i < j (of every image in the batch).

Colour (C = 3): inside a pixel the channels are ordered R -> G -> B, as in PixelCNN. Every feature
map belongs to one channel group (contiguous blocks of the width); at the centre pixel a mask-A
kernel lets output group g read input groups < g, a mask-B kernel groups <= g, and both see every
group at raster-earlier pixels. So the logits of G at pixel i read R at i but not G or B at i, and
those of R read no channel at i (tests/test_spec_models.py checks it). With one channel every
group is 0 and the masks are the grayscale ones.

Conditioning: a global feature c (N, D) adds a learned per-channel bias to the input layer and
to every residual block (the spatially constant term of the conditional PixelCNN). The bias is
the same at every pixel and does not read the image being modelled, so it cannot break the
causal order: whether c itself leaks the target is the caller's business (hlwb.ssl.gcrl feeds
the feature of the *other* view).

Sampling is ancestral, one pixel at a time in raster order and, inside a pixel, one channel at a
time: C x H x W passes of the head. Each pass runs only on the band of rows that can reach the
current row (``receptive_rows`` above it), so a 1 x 32 x 32 image costs 1024 passes over at most
8 rows: at the default width 32 on one CPU core (measured, torch 2.13) 1.1 s for one image, 0.4 s
per image in batches of 16 or 64 (25 s for 64), plus one trunk pass for the conditioning; a
colour image three times as many.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..latents import make_generator, row_seed
from ..spec import LEGACY, ImageSpec, check
from .losses import pixel_nll


def quantize(x: Tensor, bins: int) -> Tensor:
    """Images (N, C, H, W) in [-1, 1] -> int64 bin indices in [0, bins) (equal-width bins)."""
    return ((x.clamp(-1, 1) + 1) / 2 * bins).floor().clamp(0, bins - 1).long()


def dequantize(q: Tensor, bins: int) -> Tensor:
    """Bin indices -> their bin centres in [-1, 1] (float32), the head's input."""
    return (q.float() + 0.5) / bins * 2 - 1


def levels_per_bin(bins: int) -> Tensor:
    """(bins,) int64: how many of the 256 uint8 levels v (as ``v / 127.5 - 1``, :func:`hlwb.data.to_float`)
    :func:`quantize` puts in each bin; 256 / bins each when bins divides 256."""
    v = torch.arange(256, dtype=torch.float32).div(127.5).sub(1.0)  # to_float's arithmetic
    return torch.bincount(quantize(v.view(1, 1, 1, 256), bins).flatten(), minlength=bins)


def dequantization_bits(q: Tensor, bins: int) -> Tensor:
    """(N,) bits per image that turn a ``bins``-level likelihood into an 8-bit one under uniform
    dequantisation within a bin: sum over the C * H * W values of log2(levels in the value's bin)
    (:func:`levels_per_bin`), i.e. ``-log2 p_8bit(v) = -log2 P(bin(v)) + log2(levels)``; for bins
    dividing 256 it is D * log2(256 / bins) (16 bins: 4 bits per dimension). q: (N, C, H, W) bin indices."""
    return levels_per_bin(bins).to(q.device).double().log2()[q].flatten(1).sum(1)


def channel_groups(n: int, channels: int) -> Tensor:
    """The colour group of each of ``n`` feature maps: contiguous blocks, ``(i * channels) // n``;
    (n,) int64. For the image itself (n = C) channel c is group c; for the logits (n = C * bins)
    channel c's bins are group c."""
    return torch.arange(n) * channels // n


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose kernel sees only raster-earlier pixels (mask A), or those and the
    centre (mask B); with ``channels`` > 1, at the centre output group g reads input groups < g (A)
    or <= g (B) (:func:`channel_groups`, module docstring)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, mask: str, channels: int = LEGACY.channels):
        if mask not in ("A", "B") or kernel % 2 == 0:
            raise ValueError(f"mask must be 'A' or 'B' and the kernel odd, got {mask!r}, {kernel}")
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        k = kernel // 2
        m = torch.ones(c_out, c_in, kernel, kernel)
        m[:, :, k, k:] = 0  # the centre row from the centre on
        m[:, :, k + 1:] = 0  # every row below
        g_out, g_in = channel_groups(c_out, channels)[:, None], channel_groups(c_in, channels)[None, :]
        m[:, :, k, k] = (g_in < g_out if mask == "A" else g_in <= g_out).float()  # the centre: by colour group
        self.register_buffer("mask", m, persistent=False)  # (c_out, c_in, k, k)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNHead(nn.Module):
    """p(x | c) = prod_i prod_ch p(x_i,ch | x_<i, x_i,<ch, c) over ``bins`` intensity levels, raster
    order, channels R -> G -> B inside a pixel.

    Args:
        cond_dim: D of the conditioning feature c (N, D).
        bins: intensity levels per channel (8-16 for grayscale, docs/methods.md §5, GCRL).
        width: channels of every layer (>= ``channels``: each colour group needs one);
        layers: residual mask-B blocks; kernel: mask-A kernel.
        channels, size: the image spec it models (default 1 x 32 x 32, :data:`hlwb.spec.LEGACY`).
    """

    def __init__(self, cond_dim: int, bins: int = 16, width: int = 32, layers: int = 4, kernel: int = 7,
                 channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__()
        if not 2 <= bins <= 256:
            raise ValueError(f"bins must be in [2, 256], got {bins}")
        if width < channels:
            raise ValueError(f"width must be >= channels = {channels} (one feature map per colour group), got {width}")
        self.spec = ImageSpec(channels, size)
        self.bins, self.width, self.n_layers = bins, width, layers
        self.inp = MaskedConv2d(channels, width, kernel, "A", channels)
        self.blocks = nn.ModuleList(MaskedConv2d(width, width, 3, "B", channels) for _ in range(layers))
        self.cond = nn.Linear(cond_dim, width * (layers + 1))  # one bias per channel and layer
        # 1x1 convolutions mix the maps of one pixel: masked B, so a colour group reads only groups <= it
        self.out = nn.Sequential(nn.ReLU(), MaskedConv2d(width, width, 1, "B", channels), nn.ReLU(),
                                 MaskedConv2d(width, channels * bins, 1, "B", channels))
        self.receptive_rows = kernel // 2 + layers  # rows above a pixel that can reach its logits

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """x: (N, C, S, S) bin centres (:func:`dequantize`) of ``spec``, cond: (N, D) -> logits (N, C * bins, S, S)."""
        check(x, self.spec, "PixelCNN head")
        return self._logits(x, cond)

    def _logits(self, x: Tensor, cond: Tensor) -> Tensor:
        """:meth:`forward` on any (N, C, H, W), e.g. the band of rows :meth:`sample` runs on."""
        if x.ndim != 4 or x.shape[1] != self.spec.channels or cond.shape[0] != x.shape[0]:
            raise ValueError(f"x must be (N, {self.spec.channels}, H, W) and cond (N, D), got {tuple(x.shape)}, "
                             f"{tuple(cond.shape)}")
        n = x.shape[0]
        bias = self.cond(cond).view(n, self.n_layers + 1, self.width, 1, 1)
        h = self.inp(x) + bias[:, 0]
        for i, conv in enumerate(self.blocks):
            h = h + conv(F.relu(h)) + bias[:, i + 1]
        return self.out(h)

    def nll(self, q: Tensor, cond: Tensor) -> Tensor:
        """(N,) nats per image of bin indices q (N, C, S, S) given cond (N, D): the sum over C * S * S."""
        logits = self(dequantize(q, self.bins), cond)  # (N, C * bins, S, S)
        if self.spec.channels > 1:  # channel c's rows stacked below channel c - 1's: (N, bins, C * S, S)
            n, c, s = q.shape[0], self.spec.channels, self.spec.size
            logits = logits.view(n, c, self.bins, s, s).transpose(1, 2).reshape(n, self.bins, c * s, s)
            q = q.reshape(n, 1, c * s, s)
        return pixel_nll(logits, q)

    @torch.no_grad()
    def sample(self, cond: Tensor, size: int | None = None, seed: int = 0, first: int = 0,
               temperature: float = 1.0) -> Tensor:
        """Ancestral samples: bin indices (N, C, size, size), one per row of cond (N, D); ``size``
        None: the spec's (the head is convolutional: another size draws images of that side).

        Image i is addressable: its randomness is the uniforms of ``row_seed(seed, first + i)``
        (one per pixel and channel, in sampling order; inverse-CDF draws), so it does not depend
        on the batch it is drawn in.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        n, ch, bins = cond.shape[0], self.spec.channels, self.bins
        hgt = wid = self.spec.size if size is None else size
        u = torch.stack([torch.rand(hgt * wid * ch, generator=make_generator(row_seed(seed, first + i)))
                         for i in range(n)]).to(cond.device)  # (N, H*W*C): pixel k, channel c at k * C + c
        q = torch.zeros(n, ch, hgt, wid, dtype=torch.long, device=cond.device)
        for k in range(hgt * wid):
            r, c = divmod(k, wid)
            top = max(0, r - self.receptive_rows)  # rows above the band cannot reach row r
            for j in range(ch):  # R, then G (reading R), then B (reading R and G)
                logits = self._logits(dequantize(q[:, :, top:r + 1], bins), cond)[:, j * bins:(j + 1) * bins,
                                                                                  r - top, c]  # (N, bins)
                cdf = torch.softmax(logits / temperature, dim=1).cumsum(1)
                q[:, j, r, c] = (u[:, k * ch + j:k * ch + j + 1] > cdf).sum(1).clamp(max=bins - 1)
        return q
