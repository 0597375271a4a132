"""Encoders built from the image spec: a ResNet-18-style trunk and MLP heads.

The trunk is ResNet (He et al. 2016): a stem, then four stages of basic blocks at widths w, 2w,
4w, 8w (ResNet-18: w = 64, blocks 2-2-2-2); smaller ``width`` and ``blocks`` give the smoke and
laptop sizes and the walker critic. The stem follows the image size as solo-learn's does for
CIFAR vs ImageNet, but decided by the size, not the dataset's name: up to
:data:`SMALL_STEM_MAX` px (CIFAR's 32, Tiny-ImageNet's 64) the CIFAR stem (3x3 conv, stride 1,
no max-pool: the stages see the full image); above it (STL-10's 96 px and up) the ImageNet
stem (7x7 conv, stride 2, then a 3x3 max-pool, stride 2: the stages see a quarter of the side).
Sizes between 64 and 96 take the ImageNet stem: 72 px becomes 18 px, the side at which the
small stem's stages already work at 16-32 px.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .spec import LEGACY, ImageSpec, check

SMALL_STEM_MAX = 64  # px: the CIFAR stem up to here, the ImageNet stem above (module docstring)


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


def stem(channels: int, width: int, size: int) -> nn.Sequential:
    """The trunk's stem for ``size``-px images (module docstring): CIFAR's up to SMALL_STEM_MAX, else ImageNet's."""
    if size <= SMALL_STEM_MAX:
        return nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
    return nn.Sequential(nn.Conv2d(channels, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                         nn.MaxPool2d(3, 2, 1))  # (N, width, S/4, S/4)


class ResNetTrunk(nn.Module):
    """(N, C, S, S) images of ``spec`` -> (N, 8 * width) features after global average pooling.

    Args: width, blocks: the stages (module docstring); channels, size: the image spec the
    trunk is built for (default :data:`hlwb.spec.LEGACY`, 1 x 32 x 32), which picks the stem.
    """

    def __init__(self, width: int = 64, blocks: tuple[int, ...] = (2, 2, 2, 2),
                 channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__()
        self.spec = ImageSpec(channels, size)
        self.width, self.blocks = width, tuple(blocks)
        self.stem = stem(channels, width, size)
        layers, c = [], width
        for i, n in enumerate(blocks):
            c_out = width * 2 ** i
            for j in range(n):
                layers.append(BasicBlock(c, c_out, stride=2 if (j == 0 and i > 0) else 1))
                c = c_out
        self.layers = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, x: Tensor) -> Tensor:
        check(x, self.spec, "encoder trunk")
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

    def __init__(self, width: int = 16, blocks: tuple[int, ...] = (1, 1, 1, 1), out_dim: int = 128,
                 channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__()
        self.trunk = ResNetTrunk(width, blocks, channels, size)
        self.head = mlp(self.trunk.out_dim, 2 * self.trunk.out_dim, out_dim)

    @property
    def spec(self) -> ImageSpec:
        return self.trunk.spec

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.head(self.trunk(x)), dim=1)  # (N, out_dim), unit norm


def save_encoder(path, trunk: ResNetTrunk, meta: dict | None = None) -> None:
    """Write a pretrained trunk (its architecture and image spec, weights, the run's metadata) atomically."""
    from . import checkpoint

    checkpoint.save(path, {"width": trunk.width, "blocks": list(trunk.blocks), "channels": trunk.spec.channels,
                           "size": trunk.spec.size, "spec": trunk.spec.record(), "state_dict": trunk.state_dict(),
                           "meta": meta or {}}, kind="encoder", sidecar={})


def load_encoder(path, device: str | torch.device = "auto") -> ResNetTrunk:
    """A trunk written by :func:`save_encoder`, in eval mode, with ``.meta`` (how it was trained),
    on ``device`` (:func:`hlwb.devices.resolve`). A file without ``channels``/``size``/``spec`` was
    written before specs: 1 x 32 x 32 (:data:`hlwb.spec.LEGACY`); a recorded spec that is not the
    built trunk's is refused."""
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
    config = {"width": state["width"], "blocks": tuple(blocks),
              **{k: state[k] for k in ("channels", "size") if k in state}}
    trunk = checkpoint.build_module(path, ResNetTrunk, config, what="encoder")
    checkpoint.recorded_spec(path, state, trunk.spec, "encoder")
    checkpoint.load_weights(path, trunk, state["state_dict"])
    trunk.meta = state.get("meta", {})
    return trunk.to(device).eval()
