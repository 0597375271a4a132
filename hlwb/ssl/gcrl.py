"""GCRL (Kim, Kim, Lee 2021, arXiv 2106.06162): one trunk trained by a generative and a
contrastive loss, L = alpha * L_gen + beta * L_con (docs/methods.md, GCRL).

* L_con: SimCLR's NT-Xent on the two views, with SimCLR's projection head
  (:class:`hlwb.ssl.simclr.SimCLR`); at ``alpha = 0`` the loss on a pair is exactly SimCLR's.
* L_gen: autoregressive NLL of view x1 over ``bins`` quantised intensities per channel under a
  PixelCNN head (:mod:`hlwb.ssl.pixelcnn`), in nats per dimension (the paper's sum over pixels
  divided by D = C H W, so that alpha = beta = 1 weighs the two terms alike; bits/dim = L_gen / ln 2).

Units of bits/dim. ``bits_per_dim`` is per ``bins``-level (default 16) channel value: the uniform
model scores log2(bins) = 4. To compare with 8-bit (256-level) literature values it is also given in
8-bit units, ``bits_per_dim_8bit``, under **uniform dequantisation within a bin**: each of the
uint8 levels a bin holds gets 1 / (levels in the bin) of its probability, which adds log2(levels)
per dimension; every bin holds 256 / bins levels when bins divides 256, so 8-bit = bin bits +
log2(256 / bins) (+4 for 16 bins; the uniform model: 4 -> 8 = log2 256).
(:func:`hlwb.ssl.pixelcnn.dequantization_bits`): the model spends log2(256 / bins) bits per dimension on
the levels inside a bin, which it does not model.

Which views (:class:`WeakStrongViews`, what :func:`hlwb.pretrain.run_source` gives every GCRL run).
GCRL's L_c pairs a weak and a strong augmentation of one image and its generative term models the
weak one. Here x1 is the **weak** view, a random horizontal flip (p 0.5) and a translation by up to
``size // 16`` px on each axis (2 px at 32 px; at least 1), the border filled with black (uint8 0):
near the clean images OOD detection later scores, so the density is fitted to what it is asked
about; x2 is the **strong** view, the source's own T_x (its preset; the study's GCRL runs: SimCLR's).
L_con is NT-Xent between the weak and the strong view (the paper's pairing, so at alpha = 0 a GCRL
*run* is SimCLR on a weak/strong pair, not on two strong views: the study's beta-only row is the
SimCLR runs themselves, strong/strong); L_gen models the weak x1. Both come from the source's
un-augmented pair (real data: the image twice; generated: anchor and positive), so it works for
every view strategy and image spec.

Which image, conditioned on what. GCRL models the weakly augmented view x1 with a causal
Transformer whose early blocks are the shared encoder. A ResNet trunk is not causal: fed x1,
its pooled feature holds x1's pixels, and a head conditioned on it could copy pixel i from the
feature instead of predicting it from x_<i (the likelihood would be meaningless and the trunk
would learn to compress pixels, not semantics). So the head models **x1** given the trunk's
pooled feature of **x2**, the other view: c = trunk(x2) never sees x1's pixels, it enters the
head only as a per-channel bias (the same at every pixel), and the head reads x1 through
masked convolutions, so p(x1 | c) = prod_i p(x1_i | x1_<i, c) is a proper conditional
likelihood and the gradient of L_gen teaches the trunk what of x2 predicts x1 (content shared
by the views, not the pixel noise they do not share). A pair of identical views would be the
leak again: a batch whose views are all identical is refused (and :class:`WeakStrongViews` refuses
a strong T_x that is the identity on real data, whose x2 would be the clean image x1 is a view of).

Under DDP the NT-Xent term gathers its negatives from all ranks (:func:`hlwb.ssl.nt_xent`), the
generative term is a mean of per-image terms, so averaging gradients over ranks gives the
gradient of the loss on the whole batch.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders import ResNetTrunk, mlp
from ..latents import make_generator, row_seed
from ..spec import LEGACY, ImageSpec, check
from .losses import nt_xent
from .pixelcnn import PixelCNNHead, dequantization_bits, dequantize, quantize
from .simclr import _std

# the streams of the weak and strong augmentation draws under a view source's seed, beside
# hlwb.latents' four (ANCHOR, NOISE, RESAMPLE, EXTRA = 0..3) that the sources themselves use
WEAK, STRONG = 4, 5
WEAK_FLIP = 0.5  # probability of the weak view's horizontal flip


def weak_shift(spec: ImageSpec) -> int:
    """The weak view's largest translation in px on each axis: ``size // 16``, at least 1 (2 at 32 px)."""
    return max(1, spec.size // 16)


def weak_augment(x: Tensor, seed: int, shift: int) -> Tensor:
    """GCRL's weak view of images x (N, C, S, S) in [-1, 1]: each flipped horizontally with
    probability 0.5, then translated by (dy, dx) uniform in [-shift, shift]^2 px, the uncovered
    border black (-1, uint8 0). Every draw from ``seed``'s generator (on the host), so a batch is
    replayable on any device. Returns (N, C, S, S) on x's device."""
    n, s = x.shape[0], x.shape[-1]
    g = make_generator(seed)
    flip = (torch.rand(n, generator=g) < WEAK_FLIP).to(x.device)
    off = torch.randint(0, 2 * shift + 1, (n, 2), generator=g).to(x.device)  # (N, 2): top-left corner in the padding
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if shift == 0:
        return x
    padded = F.pad(x, (shift,) * 4, value=-1.0)  # (N, C, S + 2 shift, S + 2 shift)
    ar = torch.arange(s, device=x.device)
    rows, cols = off[:, :1] + ar, off[:, 1:] + ar  # (N, S) each
    # one gather with all four indices broadcast to (N, C, S, S): a plain contiguous result (a permuted
    # (N, S, S, 1) one also reads as channels-last, and a trunk's backward on it hung in oneDNN, torch 2.13)
    idx_n = torch.arange(n, device=x.device)[:, None, None, None]
    idx_c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]


def _seeded(aug: nn.Module, x: Tensor, seed: int) -> Tensor:
    """``aug(x)`` replayable from ``seed`` (kornia draws from torch's global RNG: a forked, seeded one)."""
    with torch.random.fork_rng(devices=[x.device.index] if x.is_cuda else []):
        torch.manual_seed(seed)
        return aug(x)


class WeakStrongViews:
    """GCRL's views of a view source: x1 its weak view (:func:`weak_augment`, modelled by the head),
    x2 the strong one (the source's own T_x), both from the source's un-augmented pair at each step.

    Args:
        source: a view source with an ``aug`` module and a ``seed`` (:class:`hlwb.views.RealViews`,
            ``GeneratedViews``, ``FixedViews``, :class:`hlwb.rcg.views.RCGViews`); it is not changed
            (a shallow copy with the identity T_x gives the un-augmented pairs).
        shift: the weak view's largest translation in px (None: :func:`weak_shift` of its spec).

    ``spec`` is the source's record plus ``gcrl_views`` (the weak augmentation and the pairing), so a
    run's checkpoint records it and a work directory of other views is not resumed.
    """

    def __init__(self, source, shift: int | None = None):
        aug = getattr(source, "aug", None)
        if not isinstance(aug, nn.Module) or not hasattr(source, "seed"):
            raise TypeError(f"GCRL's weak/strong views need a view source with an augmentation module `aug` and a "
                            f"`seed` (hlwb.views.make_source builds them), got {type(source).__name__}")
        self.image_spec = source.image_spec
        self.shift = weak_shift(self.image_spec) if shift is None else int(shift)
        if not 0 <= self.shift < self.image_spec.size // 2:
            raise ValueError(f"shift must be in [0, {self.image_spec.size // 2}) px for "
                             f"{self.image_spec.size} px images, got {shift}")
        self.strong, self.seed, self.batch = aug, source.seed, getattr(source, "batch", None)
        self.inner = copy.copy(source)
        self.inner.aug = nn.Identity()
        self.spec = {**(getattr(source, "spec", None) or {}),
                     "gcrl_views": {"x1": "weak (modelled; L_con)", "x2": "strong: the preset (conditions; L_con)",
                                    "weak_flip": WEAK_FLIP, "weak_shift_px": self.shift, "weak_fill": "black"}}

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        """(weak x1, strong x2), each (B, C, S, S) in [-1, 1], of step ``step``."""
        xa, xb = self.inner.batch_at(step)
        if isinstance(self.strong, nn.Identity) and torch.equal(xa, xb):
            raise ValueError("GCRL's strong view is the identity (augment preset 'none') on identical images: the "
                             "head would be conditioned on the clean image it models; use a preset that augments")
        return (weak_augment(xa, row_seed(self.seed, step, WEAK), self.shift),
                _seeded(self.strong, xb, row_seed(self.seed, step, STRONG)))

    def __iter__(self):
        step = 0
        while True:
            yield self.batch_at(step)
            step += 1


class GCRL(nn.Module):
    def __init__(self, encoder: ResNetTrunk, alpha: float = 1.0, beta: float = 1.0, bins: int = 16,
                 head_width: int = 32, head_layers: int = 4, proj_dim: int = 128, hidden: int = 512,
                 tau: float = 0.2):
        super().__init__()
        if alpha < 0 or beta < 0 or alpha + beta == 0:
            raise ValueError(f"alpha and beta must be >= 0 and not both 0, got {alpha}, {beta}")
        self.encoder, self.alpha, self.beta, self.tau = encoder, alpha, beta, tau
        self.projector = mlp(encoder.out_dim, hidden, proj_dim)  # SimCLR's head
        spec = encoder.spec
        self.head = PixelCNNHead(encoder.out_dim, bins, head_width, head_layers, channels=spec.channels, size=spec.size)

    @property
    def bins(self) -> int:
        return self.head.bins

    @property
    def spec(self) -> ImageSpec:
        """The images it is built for: its trunk's (and head's) spec."""
        return self.encoder.spec

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, dict[str, float]]:
        """x1, x2: (B, C, S, S) views of ``spec`` in [-1, 1]; x1 is modelled, x2 conditions (module docstring)."""
        check(x1, self.spec, "GCRL")
        check(x2, self.spec, "GCRL")
        if self.alpha and torch.equal(x1, x2):
            raise ValueError("GCRL got identical views: the head would be conditioned on the image it predicts; "
                             "use a view source that augments (or perturbs) the two views independently")
        logs, loss = {}, 0.0
        h1 = self.encoder(x1) if self.beta else None  # SimCLR's order: x1, then x2
        h2 = self.encoder(x2)
        if self.beta:
            z1, z2 = self.projector(h1), self.projector(h2)
            l_con = nt_xent(z1, z2, self.tau)
            loss = loss + self.beta * l_con
            logs |= {"l_con": l_con.item(), "z_std": _std(z1)}
        else:
            logs["z_std"] = _std(h2)
        if self.alpha:
            d = x1[0].numel()  # C * S * S
            q1 = quantize(x1, self.bins)
            l_gen = self.head.nll(q1, h2).mean() / d  # nats per dimension
            loss = loss + self.alpha * l_gen
            bpd = l_gen.item() / math.log(2)  # per bins-level value; + the within-bin levels: 8-bit units
            logs |= {"l_gen": l_gen.item(), "bits_per_dim": bpd,
                     "bits_per_dim_8bit": bpd + dequantization_bits(q1, self.bins).mean().item() / d}
        logs |= {"uniform_bits_per_dim": math.log2(self.bins), "loss": loss.item()}
        return loss, logs

    def after_step(self, progress: float) -> None:
        """Nothing to update between steps."""

    @torch.no_grad()
    def condition(self, context: Tensor) -> Tensor:
        """The head's conditioning c (N, D): the trunk's pooled feature of ``context`` in eval mode."""
        from ..evaluate import features

        return features(self.encoder, context).to(context.device)

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """log p(x | trunk(context)) in nats, (N,), of images x (N, C, S, S) of ``spec`` in [-1, 1] quantised.

        ``context`` defaults to x itself: at scoring time there is one image, and the head never
        learnt to read its target off the feature (it was trained on the other view's feature);
        pass a view of x to score exactly as in training. Nats over the ``bins``-level values; bits/dim
        in both units: :func:`hlwb.ood.bits_per_dim`.
        """
        c = self.condition(x if context is None else context)
        return -self.head.nll(quantize(x, self.bins), c)

    @torch.no_grad()
    def sample(self, context: Tensor, seed: int = 0, first: int = 0, size: int | None = None,
               temperature: float = 1.0) -> Tensor:
        """Ancestral samples (N, C, size, size) in [-1, 1] (bin centres; ``size`` None: the spec's),
        image i conditioned on trunk(context[i]) and addressable by (seed, first + i); cost in
        :mod:`hlwb.ssl.pixelcnn`."""
        q = self.head.sample(self.condition(context), size, seed, first, temperature)
        return dequantize(q, self.bins)


def method_label(alpha: float, beta: float) -> str:
    """The name of a GCRL run's method in tables, results and run folders (notebook 05, the study):
    ``gcrl_a1_b0`` for alpha 1, beta 0 (``gcrl_a0p5_b2`` for 0.5, 2)."""
    return f"gcrl_a{alpha:g}_b{beta:g}".replace(".", "p")


def build_gcrl(width: int, blocks: list[int], alpha: float = 1.0, beta: float = 1.0, bins: int = 16,
               head_width: int = 32, head_layers: int = 4, proj_dim: int = 128, hidden: int = 512,
               tau: float = 0.2, channels: int = LEGACY.channels, size: int = LEGACY.size) -> GCRL:
    """A GCRL method (trunk, projector, head) for ``channels`` x ``size`` x ``size`` images from its
    flat config (:func:`save_gcrl`)."""
    return GCRL(ResNetTrunk(width, tuple(blocks), channels, size), alpha=alpha, beta=beta, bins=bins,
                head_width=head_width, head_layers=head_layers, proj_dim=proj_dim, hidden=hidden, tau=tau)


def gcrl_config(method: GCRL) -> dict:
    """The flat config :func:`build_gcrl` rebuilds ``method`` from."""
    lin = [m for m in method.projector.modules() if isinstance(m, nn.Linear)]
    return {"width": method.encoder.width, "blocks": list(method.encoder.blocks), "alpha": float(method.alpha),
            "beta": float(method.beta), "bins": method.head.bins, "head_width": method.head.width,
            "head_layers": method.head.n_layers, "proj_dim": lin[-1].out_features, "hidden": lin[0].out_features,
            "tau": float(method.tau), "channels": method.spec.channels, "size": method.spec.size}


def save_gcrl(path, method: GCRL, meta: dict | None = None) -> None:
    """Write the whole method (trunk, projector and generative head: what OOD scoring and
    sampling need; ``encoder.pt`` keeps only the trunk) atomically, with its image spec and the run's metadata."""
    from .. import checkpoint

    state = {k: v.detach().cpu() for k, v in method.state_dict().items()}
    checkpoint.save(path, {"config": gcrl_config(method), "spec": method.spec.record(), "state_dict": state,
                           "meta": meta or {}}, kind="gcrl", sidecar={})


def load_gcrl(path, device: str | torch.device = "auto") -> GCRL:
    """A method written by :func:`save_gcrl`, in eval mode on ``device``, with ``.meta``; a file
    without a spec is 1 x 32 x 32, a recorded spec that is not the built method's is refused."""
    from .. import checkpoint, devices

    device = devices.resolve(device)
    state = checkpoint.load(path, kind="gcrl", map_location="cpu")
    checkpoint.require(path, state, "config", "state_dict")
    method = checkpoint.build_module(path, build_gcrl, state["config"], what="gcrl")
    checkpoint.recorded_spec(path, state, method.spec, "gcrl")
    checkpoint.load_weights(path, method, state["state_dict"])
    method.meta = state.get("meta", {})
    return method.to(device).eval()
