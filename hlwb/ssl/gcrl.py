"""GCRL (Kim, Kim, Lee 2021, arXiv 2106.06162): one trunk trained by a generative and a
contrastive loss, L = alpha * L_gen + beta * L_con (METHODS.md §4).

* L_con: SimCLR's NT-Xent on the two views, with SimCLR's projection head
  (:class:`hlwb.ssl.simclr.SimCLR`); at ``alpha = 0`` the loss is exactly SimCLR's.
* L_gen: autoregressive NLL of view x1 over ``bins`` quantised intensities per channel under a
  PixelCNN head (:mod:`hlwb.ssl.pixelcnn`), in nats per dimension (the paper's sum over pixels
  divided by D = C H W, so that alpha = beta = 1 weighs the two terms alike; bits/dim = L_gen / ln 2).

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
leak again: a batch whose views are all identical (``augment`` preset ``none`` on real data) is
refused. x1 is the view the source lists first; hlwb's view sources augment both views alike,
so "weak" is nominal unless the source makes x1 weaker.

Under DDP the NT-Xent term gathers its negatives from all ranks (:func:`hlwb.ssl.nt_xent`), the
generative term is a mean of per-image terms, so averaging gradients over ranks gives the
gradient of the loss on the whole batch.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..encoders import ResNetTrunk, mlp
from ..spec import LEGACY, ImageSpec, check
from .losses import nt_xent
from .pixelcnn import PixelCNNHead, dequantize, quantize
from .simclr import _std


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
            l_gen = self.head.nll(quantize(x1, self.bins), h2).mean() / d  # nats per dimension
            loss = loss + self.alpha * l_gen
            logs |= {"l_gen": l_gen.item(), "bits_per_dim": l_gen.item() / math.log(2)}
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
        pass a view of x to score exactly as in training.
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
