"""Encoders for 32x32 grayscale images: a ResNet-18-style trunk and MLP heads.

The trunk follows the CIFAR variant of ResNet (He et al. 2016): a 3x3 stem, no max-pool,
four stages of basic blocks at widths w, 2w, 4w, 8w (ResNet-18: w = 64, blocks 2-2-2-2);
smaller ``width`` and ``blocks`` give the smoke and laptop sizes and the walker critic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (nn.Sequential() if stride == 1 and c_in == c_out else
                     nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))


class ResNetTrunk(nn.Module):
    """(N, 1, 32, 32) -> (N, 8 * width) features after global average pooling."""

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        self.width, self.blocks = width, tuple(blocks)
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2 ** i
            for j in range(n):
                layers.append(BasicBlock(c, c_out, stride=2 if (j == 0 and i > 0) else 1))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(self.stem(x)).mean(dim=(2, 3))  # (N, out_dim)


def mlp(d_in: int, hidden: int, d_out: int, layers: int = 2, last_bn: bool = False) -> nn.Sequential:
    """Projection / prediction head: ``layers`` linear layers with BN + ReLU between them."""
    mods, d = [], d_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    if last_bn:
        mods.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*mods)


class Critic(nn.Module):
    """The walker critic f (docs/methods.md §3): small ResNet + MLP head, L2-normalised 128-d output."""

    def __init__(self, width: int = 16, blocks: tuple[int, ...] = (1, 1, 1, 1), out_dim: int = 128):
        super().__init__()
        self.trunk = ResNetTrunk(width, blocks)
        self.head = mlp(self.trunk.out_dim, 2 * self.trunk.out_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.head(self.trunk(x)), dim=1)  # (N, out_dim), unit norm


def save_encoder(path, trunk: ResNetTrunk, meta: dict | None = None) -> None:
    """Write a pretrained trunk (its architecture, weights and the run's metadata) atomically."""
    from . import checkpoint

    checkpoint.save(path, {"width": trunk.width, "blocks": list(trunk.blocks), "state_dict": trunk.state_dict(),
                           "meta": meta or {}}, kind="encoder")


def load_encoder(path, device: str | torch.device = "auto") -> ResNetTrunk:
    """A trunk written by :func:`save_encoder`, in eval mode, with ``.meta`` (how it was trained),
    on ``device`` (:func:`hlwb.devices.resolve`)."""
    from . import checkpoint, devices

    device = devices.resolve(device)
    state = checkpoint.load(path, kind="encoder", map_location=device)
    if "width" not in state or "blocks" not in state:
        raise checkpoint.CheckpointError(f"{path}: an encoder file without its architecture (width, blocks); "
                                         "write it with hlwb.encoders.save_encoder")
    checkpoint.require(path, state, "state_dict")
    blocks = state["blocks"]
    if not isinstance(blocks, (list, tuple)) or not all(isinstance(b, int) for b in blocks):
        raise checkpoint.CheckpointError(f"{path}: \"blocks\" is {blocks!r}, not a list of ints")
    trunk = checkpoint.build_module(path, ResNetTrunk, {"width": state["width"], "blocks": tuple(blocks)},
                                    what="encoder")
    checkpoint.load_weights(path, trunk, state["state_dict"])
    trunk.meta = state.get("meta", {})
    return trunk.to(device).eval()
