"""BigGAN-style HL generator at 32x32 (docs/methods.md §1, after BigBiGAN's z-chunks).

z is split into ``n_blocks + 1`` chunks. Chunk 0 feeds the linear layer that makes the
4x4 start tensor; chunk k (k = 1..n_blocks) sets the gain and bias of both conditional
batch-norms of upsampling block k (4 -> 8 -> 16 -> 32 px). The generator is unconditional:
the batch-norm is conditioned on latent chunks, not on class labels.

The discriminator is a spectrally normalised residual network trained with the hinge loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .. import latents as L
from .base import HLGenerator


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
    """z-chunked generator: ``(n_blocks + 1)`` chunks of ``chunk_dim``; images (N, 1, 32, 32)."""

    family = "biggan"
    default_truncation = 2.0  # BigBiGAN anchors: |z| <= 2 (docs/methods.md §2)

    def __init__(self, ch: int = 32, chunk_dim: int = 20, n_blocks: int = 3):
        super().__init__()
        if not 1 <= n_blocks <= 6:  # images are 4 * 2**n_blocks px (hlwb's: 32, n_blocks = 3)
            raise ValueError(f"n_blocks must be in 1..6 (images of 8..256 px), got {n_blocks}")
        self.ch, self.chunk_dim, self.n_blocks = ch, chunk_dim, n_blocks
        names = ["global"] + [f"block{k}_{4 * 2 ** k}px" for k in range(1, n_blocks + 1)]
        self.chunks = tuple(L.Chunk(nm, chunk_dim, lvl) for lvl, nm in enumerate(names))
        widths = [ch * 2 ** (n_blocks - k) for k in range(n_blocks + 1)]  # e.g. 256,128,64,32
        self.start = nn.Linear(chunk_dim, widths[0] * 4 * 4)
        self.blocks = nn.ModuleList(GBlock(widths[k], widths[k + 1], chunk_dim) for k in range(n_blocks))
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = nn.Conv2d(widths[-1], 1, 3, padding=1)
        self.widths = widths

    def config(self) -> dict:
        return {"ch": self.ch, "chunk_dim": self.chunk_dim, "n_blocks": self.n_blocks}

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
        """Finish :meth:`prefix`: blocks ``level ..`` with chunks ``level ..``; (N, 1, 32, 32)."""
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
    """SN-ResNet discriminator for (N, 1, 32, 32) images: 32 -> 16 -> 8 -> 4, sum-pool, linear."""

    def __init__(self, ch: int = 64):
        super().__init__()
        self.ch = ch
        self.blocks = nn.Sequential(
            DBlock(1, ch, down=True, first=True),
            DBlock(ch, ch, down=True),
            DBlock(ch, ch, down=True),
            DBlock(ch, ch, down=False),
        )
        self.head = spectral_norm(nn.Linear(ch, 1))

    def config(self) -> dict:
        return {"ch": self.ch}

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # (N, ch)
        return self.head(h).squeeze(1)  # (N,)
