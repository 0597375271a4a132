"""StyleGAN-style HL generator of C x S x S images (docs/methods.md §1, after StyleGAN2).

A mapping network turns z into w; a synthesis network starts from a learned 4x4 constant
and applies modulated/demodulated 3x3 convolutions, one style per layer, up-sampling
4 -> 8 -> ... -> S (one layer at 4 px, two at every larger resolution, then the to-image layer:
:func:`layer_resolutions`). The per-layer styles are an explicit tensor ``ws: (N, n_layers, w_dim)``
(StyleGAN's ``num_ws`` layout); consecutive layers are grouped into chunks, coarse -> fine, two
layers a chunk (:func:`layer_groups`): 4 chunks at 32 px, 5 at 64, 6 at 128, as BigGAN's.

Latents are one z per chunk. An anchor uses the *same* z in every chunk (an ordinary
StyleGAN sample); perturbing chunk k means mapping a perturbed z and swapping in only that
group's styles ("style mixing"), so every hlwb tool that edits one chunk works unchanged.
Per-pixel noise inputs are fixed constants at sampling, so an image depends only on its z.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import latents as L
from ..spec import LEGACY, ImageSpec
from .base import HLGenerator, doublings

# The chunk names of the generator hlwb shipped first (1 x 32 x 32). Its last chunk was once called
# "finest_32px_rgb" (StyleGAN's toRGB layer) though its images are grayscale; files that store that
# name (walkers, notebook 04's sigmas) still load: a walker is matched on chunk sizes and levels.
LEGACY_NAMES = ("coarse_4-8px", "middle_8-16px", "fine_16-32px", "finest_32px_gray")


def layer_resolutions(size: int) -> tuple[int, ...]:
    """Layer -> resolution: one conv at 4 px, two at each of 8 .. ``size`` px, then the to-image
    layer at ``size`` (32 px: 4, 8, 8, 16, 16, 32, 32, 32)."""
    return (4, *(4 * 2 ** k for k in range(1, doublings(size) + 1) for _ in range(2)), size)


def layer_groups(size: int) -> tuple[tuple[int, int], ...]:
    """Chunks as pairs of consecutive layers, coarse -> fine (32 px: (0, 1), (2, 3), (4, 5), (6, 7))."""
    n = len(layer_resolutions(size))
    return tuple((i, i + 1) for i in range(0, n, 2))


def chunk_names(spec: ImageSpec) -> tuple[str, ...]:
    """``coarse_4-8px``, ``middle_..``, ``fine_..``, ``finest_Spx_<rgb|gray>`` (the last holds the
    to-image layer; rgb for colour images, gray for one channel); 1 x 32 x 32: :data:`LEGACY_NAMES`."""
    res, groups = layer_resolutions(spec.size), layer_groups(spec.size)
    words = ["coarse", *["middle"] * max(0, len(groups) - 3), "fine"][:len(groups) - 1]
    names = [f"{w}_{res[a]}-{res[b]}px" for w, (a, b) in zip(words, groups)]
    return (*names, f"finest_{spec.size}px_{'rgb' if spec.color else 'gray'}")


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, w_dim): pixel-norm, then ``depth`` leaky-ReLU linear layers."""

    def __init__(self, z_dim: int, w_dim: int, depth: int = 4):
        super().__init__()
        layers, d = [], z_dim
        for _ in range(depth):
            layers += [nn.Linear(d, w_dim), nn.LeakyReLU(0.2)]
            d = w_dim
        self.net = nn.Sequential(*layers)
        for m in self.net:  # He init for leaky ReLU: w keeps an O(1) scale through the layers
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=math.sqrt(2 / (1 + 0.2 ** 2)) / math.sqrt(m.in_features))
                nn.init.zeros_(m.bias)

    def forward(self, z: Tensor) -> Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # normalised input
        return self.net(z)


class ModConv(nn.Module):
    """Modulated 3x3 convolution with demodulation (StyleGAN2), per-pixel noise and bias."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, res: int, demodulate: bool = True,
                 kernel: int = 3):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel) / math.sqrt(c_in * kernel ** 2))
        self.affine = nn.Linear(w_dim, c_in)
        # StyleGAN2: s = 1 + A w with A ~ N(0, 1 / w_dim), so styles vary O(1) with w from the start
        # (torch's default init makes them vary ~0.03 and the generator ignores z)
        nn.init.normal_(self.affine.weight, std=1 / math.sqrt(w_dim))
        nn.init.ones_(self.affine.bias)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.demodulate, self.kernel = demodulate, kernel
        if demodulate:  # toRGB (demodulate=False) takes no noise
            self.noise_strength = nn.Parameter(torch.zeros(()))
            self.register_buffer("const_noise", torch.randn(1, 1, res, res))

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        # StyleGAN2's non-fused form: scale the input channels by the style, convolve with the
        # shared weight, scale the output channels by the demodulation coefficient. It equals
        # the per-sample modulated weight (``modulated_weight``) and is one batched convolution.
        s = self.affine(w)  # (N, c_in)
        y = F.conv2d(x * s[:, :, None, None], self.weight, padding=self.kernel // 2)
        if self.demodulate:
            d = torch.rsqrt(s.pow(2) @ self.weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # (N, c_out)
            y = y * d[:, :, None, None]
            noise = self.const_noise if not self.training else torch.randn(y.shape[0], 1, *y.shape[2:], device=x.device)
            y = y + self.noise_strength * noise
            return F.leaky_relu(y + self.bias[None, :, None, None], 0.2) * math.sqrt(2)
        return y + self.bias[None, :, None, None]

    def modulated_weight(self, w: Tensor) -> Tensor:
        """The per-sample weight (N, c_out, c_in, k, k) that ``forward`` applies (tests compare)."""
        weight = self.weight[None] * self.affine(w)[:, None, :, None, None]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        return weight


class StyleGANGenerator(HLGenerator):
    """Mapping + synthesis; chunks = groups of consecutive style layers; images (N, C, S, S).

    Args: chunk_dim: z width (every chunk); w_dim: style width; ch: base width (the finest
    resolution has ch / 2 channels, each coarser one twice as many, up to 2 ch, as StyleGAN2's
    channel_base / res capped at channel_max); mapping_depth: mapping layers; channels, size:
    the images (S a power of two, 8..256). :meth:`from_spec` builds one for an image spec.
    """

    family = "stylegan"
    default_truncation = 2.0  # bound on |z| (the law it was trained on); the reference samples |z| <= 0.9
    tied_chunks = True  # an anchor is one z in every chunk; GenRep and multi-chunk walkers move that one z

    def __init__(self, chunk_dim: int = 32, w_dim: int = 64, ch: int = 64, mapping_depth: int = 4,
                 channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__()
        self.spec = ImageSpec(channels, size)
        self.z_dim, self.w_dim, self.ch, self.mapping_depth = chunk_dim, w_dim, ch, mapping_depth
        self.layer_res, self.groups = layer_resolutions(size), layer_groups(size)
        self.chunks = tuple(L.Chunk(nm, chunk_dim, lvl) for lvl, nm in enumerate(chunk_names(self.spec)))
        self.n_layers = len(self.layer_res)
        self.mapping = MappingNetwork(chunk_dim, w_dim, mapping_depth)
        widths = {r: min(2 * ch, ch * size // (2 * r)) for r in self.layer_res}  # 32 px: 2ch, 2ch, ch, ch // 2
        self.const = nn.Parameter(torch.randn(1, widths[4], 4, 4))
        convs, c_prev = [], widths[4]
        for res in self.layer_res[:-1]:
            convs.append(ModConv(c_prev, widths[res], w_dim, res))
            c_prev = widths[res]
        self.convs = nn.ModuleList(convs)
        self.to_rgb = ModConv(c_prev, channels, w_dim, size, demodulate=False, kernel=1)  # the to-image layer
        self.register_buffer("w_avg", torch.zeros(w_dim))  # set by recompute_statistics, for psi < 1
        self.psi = 1.0
        self.mapping_lr_mul = 0.01  # StyleGAN's lr multiplier of the mapping network

    def optim_groups(self, lr: float) -> list[dict]:
        """StyleGAN's mapping network learns 100x slower than the synthesis network."""
        mapping = list(self.mapping.parameters())
        ids = {id(p) for p in mapping}
        return [{"params": [p for p in self.parameters() if id(p) not in ids], "lr": lr},
                {"params": mapping, "lr": lr * self.mapping_lr_mul}]

    @classmethod
    def from_spec(cls, spec: ImageSpec, **config) -> StyleGANGenerator:
        """A generator of ``spec``'s images (channels, size); ``config``: the other arguments."""
        return cls(channels=spec.channels, size=spec.size, **config)

    def config(self) -> dict:
        return {"chunk_dim": self.z_dim, "w_dim": self.w_dim, "ch": self.ch, "mapping_depth": self.mapping_depth,
                "channels": self.spec.channels, "size": self.spec.size}

    def sample_latents(self, n: int, seed: int | None = None, truncation: float | None = None,
                       start: int = 0) -> L.Latents:
        """Anchors: one z per sample, the same in every chunk (an unmixed StyleGAN sample)."""
        bound = self.default_truncation if truncation is None else truncation
        z = L.sample((L.Chunk("z", self.z_dim, 0),), n, seed=seed, truncation=bound, device=self.device,
                     start=start)[0]
        return [z.clone() for _ in self.chunks]

    def training_latents(self, n: int, seed: int, mixing_prob: float = 0.9) -> L.Latents:
        """Mixing regularisation: with ``mixing_prob`` a random crossover group c, chunks
        from c on take a second z, so groups learn distinct roles (StyleGAN)."""
        z = self.sample_latents(n, seed=seed)
        z2 = L.sample((L.Chunk("z", self.z_dim, 0),), n, seed=seed, truncation=self.default_truncation,
                      device=self.device, stream=L.EXTRA)[0]  # own stream: not another step's anchor
        g = L.make_generator(seed)
        mix = torch.rand(n, generator=g) < mixing_prob
        cross = torch.randint(1, len(self.chunks), (n,), generator=g)
        for k in range(1, len(self.chunks)):
            use2 = (mix & (cross <= k)).to(z[k].device)[:, None]
            z[k] = torch.where(use2, z2, z[k])
        return z

    @torch.no_grad()
    def recompute_statistics(self, seed: int, n_batches: int = 40, batch: int = 256) -> None:
        """``w_avg``: the mean of w over fresh z (the centre that truncation ``psi`` pulls to)."""
        ws = [self.mapping(self.sample_latents(batch, seed=seed * 100_003 + b)[0]) for b in range(n_batches)]
        self.w_avg.copy_(torch.cat(ws).mean(0))
        self.eval()

    def styles(self, latents: L.Latents, psi: float | None = None) -> Tensor:
        """Per-layer styles ``ws (N, n_layers, w_dim)``: chunk k's w fills group k's layers."""
        L.check(self.chunks, latents)
        psi = self.psi if psi is None else psi
        n = latents[0].shape[0]
        w = self.mapping(torch.cat(latents)).view(len(self.chunks), n, self.w_dim)  # one pass
        if psi != 1.0:
            w = self.w_avg + psi * (w - self.w_avg)  # truncation in w towards the mean
        ws = torch.empty(n, self.n_layers, self.w_dim, device=w.device, dtype=w.dtype)
        for k, layers in enumerate(self.groups):
            ws[:, list(layers)] = w[k][:, None, :]
        return ws

    def synthesize(self, ws: Tensor) -> Tensor:
        """ws (N, n_layers, w_dim) -> images (N, C, S, S) in [-1, 1]."""
        n = ws.shape[0]
        x = self.const.expand(n, -1, -1, -1)
        for i, conv in enumerate(self.convs):
            if i > 0 and self.layer_res[i] != self.layer_res[i - 1]:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = conv(x, ws[:, i])
        return torch.tanh(self.to_rgb(x, ws[:, -1]))

    def forward(self, latents: L.Latents) -> Tensor:
        return self.synthesize(self.styles(latents))
