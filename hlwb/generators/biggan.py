"""BigGAN-style HL generator of C x S x S images (docs/methods.md §1, after BigBiGAN's z-chunks).

z is split into ``n_blocks + 1`` chunks. Chunk 0 feeds the linear layer that makes the
4x4 start tensor; chunk k (k = 1..n_blocks) sets the gain and bias of both conditional
batch-norms of upsampling block k (4 -> 8 -> ... -> S px, S = 4 * 2**n_blocks: hlwb's 32 px
has 3 blocks and 4 chunks, 64 px 5 chunks, 128 px 6, as BigGAN's hierarchical z gets one chunk
per block). The generator is unconditional: the batch-norm is conditioned on latent chunks,
not on class labels.

The discriminator is a spectrally normalised residual network trained with the hinge loss,
with one down-sampling block per halving from S to 4 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .. import latents as L
from ..spec import LEGACY, ImageSpec, check
from .base import HLGenerator, doublings

MAX_WIDTH_MULT = 16  # BigGAN's G_arch: no stage wider than 16 ch (its 128 px: 16, 16, 8, 4, 2, 1)


class ChunkBatchNorm(nn.Module):
    """Batch-norm whose gain and bias are linear functions of one latent chunk.

    y = BN(x) * (1 + W_g z) + W_b z  (BigGAN's conditional BN with the "1 +" gain).
    """

    def __init__(self, channels: int, z_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(z_dim, channels, bias=False)
        self.bias = nn.Linear(z_dim, channels, bias=False)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        g = 1.0 + self.gain(z)[:, :, None, None]  # (N, C, 1, 1)
        b = self.bias(z)[:, :, None, None]
        return self.bn(x) * g + b


class GBlock(nn.Module):
    """Up-sampling residual block conditioned on one chunk: 2x nearest, two 3x3 convs."""

    def __init__(self, c_in: int, c_out: int, z_dim: int):
        super().__init__()
        self.bn1 = ChunkBatchNorm(c_in, z_dim)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn2 = ChunkBatchNorm(c_out, z_dim)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, z)), scale_factor=2)  # (N, c_in, 2H, 2W)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), z)))
        return h + self.skip(F.interpolate(x, scale_factor=2))


class BigGANGenerator(HLGenerator):
    """z-chunked generator: ``(n_blocks + 1)`` chunks of ``chunk_dim``; images (N, C, S, S), S = 4 * 2**n_blocks.

    Args: ch: base width (the last block's; each coarser stage doubles it, up to 16 ch);
    chunk_dim: width of every chunk; n_blocks: up-sampling blocks (the size); channels: C.
    :meth:`from_spec` builds one for an image spec.
    """

    family = "biggan"
    default_truncation = 2.0  # BigBiGAN anchors: |z| <= 2 (docs/methods.md §2)

    def __init__(self, ch: int = 32, chunk_dim: int = 20, n_blocks: int = doublings(LEGACY.size),
                 channels: int = LEGACY.channels):
        super().__init__()
        if not 1 <= n_blocks <= 6:  # images are 4 * 2**n_blocks px (hlwb's first: 32, n_blocks = 3)
            raise ValueError(f"n_blocks must be in 1..6 (images of 8..256 px), got {n_blocks}")
        self.spec = ImageSpec(channels, 4 * 2 ** n_blocks)
        self.ch, self.chunk_dim, self.n_blocks = ch, chunk_dim, n_blocks
        names = ["global"] + [f"block{k}_{4 * 2 ** k}px" for k in range(1, n_blocks + 1)]
        self.chunks = tuple(L.Chunk(nm, chunk_dim, lvl) for lvl, nm in enumerate(names))
        widths = [ch * min(2 ** (n_blocks - k), MAX_WIDTH_MULT) for k in range(n_blocks + 1)]  # 32 px: 8,4,2,1 ch
        self.start = nn.Linear(chunk_dim, widths[0] * 4 * 4)
        self.blocks = nn.ModuleList(GBlock(widths[k], widths[k + 1], chunk_dim) for k in range(n_blocks))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], channels, 3, padding=1)
        self.widths = widths

    @classmethod
    def from_spec(cls, spec: ImageSpec, **config) -> BigGANGenerator:
        """A generator of ``spec``'s images: ``n_blocks = log2(S / 4)``, ``channels = C``; ``config``: the rest."""
        return cls(n_blocks=doublings(spec.size), channels=spec.channels, **config)

    def config(self) -> dict:
        return {"ch": self.ch, "chunk_dim": self.chunk_dim, "n_blocks": self.n_blocks, "channels": self.spec.channels}

    def forward(self, latents: L.Latents) -> Tensor:
        L.check(self.chunks, latents)
        return self.from_prefix(self.prefix(latents, len(self.chunks)), latents, len(self.chunks))

    def prefix(self, latents: L.Latents, level: int) -> Tensor:
        """The activation that chunks ``0 .. level-1`` alone determine (input of block ``level``).

        Views that share those chunks share it: compute it once and branch (docs/methods.md §2).
        """
        n = latents[0].shape[0]
        h = self.start(latents[0]).view(n, self.widths[0], 4, 4)  # (N, C0, 4, 4)
        for block, z in zip(self.blocks[:max(0, level - 1)], latents[1:level]):
            h = block(h, z)  # doubles H, W
        return h

    def from_prefix(self, h: Tensor, latents: L.Latents, level: int) -> Tensor:
        """Finish :meth:`prefix`: blocks ``level ..`` with chunks ``level ..``; (N, C, S, S)."""
        for block, z in zip(self.blocks[max(0, level - 1):], latents[max(1, level):]):
            h = block(h, z)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class DBlock(nn.Module):
    """Spectrally normalised residual block, optional 2x average-pool down-sampling."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False):
        super().__init__()
        self.conv1 = spectral_norm(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(c_out, c_out, 3, padding=1))
        self.skip = spectral_norm(nn.Conv2d(c_in, c_out, 1))
        self.down, self.first = down, first

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)  # no ReLU on raw pixels (SNGAN's optimised block)
        h = self.conv2(F.relu(self.conv1(h)))
        s = self.skip(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class Discriminator(nn.Module):
    """SN-ResNet discriminator for (N, C, S, S) images: one down-sampling block per halving to 4 px
    (32 -> 16 -> 8 -> 4), one block at 4 px, ReLU, sum-pool, linear. S is a power of two (8..256)."""

    def __init__(self, ch: int = 64, channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__()
        self.spec = ImageSpec(channels, size)
        self.ch = ch
        n_down = doublings(size, "discriminator")
        self.blocks = nn.Sequential(
            DBlock(channels, ch, down=True, first=True),
            *(DBlock(ch, ch, down=True) for _ in range(n_down - 1)),
            DBlock(ch, ch, down=False),
        )
        self.head = spectral_norm(nn.Linear(ch, 1))

    def config(self) -> dict:
        return {"ch": self.ch, "channels": self.spec.channels, "size": self.spec.size}

    def features(self, x: Tensor) -> Tensor:
        """(N, C, S, S) images of ``spec`` -> (N, ch) sum-pooled features (refused: another spec)."""
        check(x, self.spec, "discriminator")
        return F.relu(self.blocks(x)).sum(dim=(2, 3))  # (N, ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(1)  # (N,)
