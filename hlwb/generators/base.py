"""The HLGenerator protocol shared by every generator family.

A hierarchical-latent generator maps an ordered list of latent chunks (global -> fine) to
images ``(N, C, S, S)`` in ``[-1, 1]`` of its image spec ``spec`` (C, S: :class:`hlwb.spec.ImageSpec`).
Families subclass :class:`HLGenerator`, set ``chunks`` and ``spec``, implement ``forward``,
``config`` and ``from_spec``; everything else (sampling, checks, eval-mode decoding) is shared here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import latents as L
from ..spec import LEGACY, ImageSpec, SpecError


class HLGenerator(nn.Module):
    """Base class: ``chunks`` ordered global -> fine; ``forward(latents) -> (N, C, S, S)`` of ``spec``."""

    family: str = ""
    chunks: tuple[L.Chunk, ...] = ()
    spec: ImageSpec = LEGACY  # the images it makes (no class names); each family sets its own
    default_truncation: float | None = 2.0
    tied_chunks: bool = False  # anchors copy one z into every chunk (StyleGAN): multi-chunk walkers tie it

    def sample_latents(self, n: int, seed: int | None = None,
                       truncation: float | None = None, start: int = 0) -> L.Latents:
        """``n`` latent codes, one ``(n, dim)`` tensor per chunk, on the model's device.

        ``truncation`` bounds ``|z|`` (truncated normal); None takes the family's default
        (BigBiGAN's 2.0), ``float("inf")`` draws a plain normal. Sample i is anchor
        ``start + i`` of ``seed``, whatever ``n``.
        """
        bound = self.default_truncation if truncation is None else truncation
        return L.sample(self.chunks, n, seed=seed, truncation=bound, device=self.device, start=start)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, latents: L.Latents) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, latents: L.Latents, batch_size: int = 512) -> Tensor:
        """Decode in eval mode (frozen batch-norm statistics), batch by batch.

        An image therefore does not depend on the other images in its batch.
        """
        was_training = self.training
        self.eval()
        n = L.check(self.chunks, latents)
        out = [self([z[i:i + batch_size] for z in latents]) for i in range(0, n, batch_size)]
        self.train(was_training)
        return torch.cat(out)

    def config(self) -> dict:
        """The constructor arguments, enough to rebuild the module for a state dict."""
        raise NotImplementedError

    @classmethod
    def from_spec(cls, spec: ImageSpec, **config) -> HLGenerator:  # pragma: no cover - abstract
        """A generator of ``spec``'s images (channels, size); ``config`` the family's other arguments."""
        raise NotImplementedError

    def optim_groups(self, lr: float) -> list[dict]:
        """Optimiser parameter groups for training at base ``lr`` (a family may scale some)."""
        return [{"params": list(self.parameters()), "lr": lr}]

    def training_latents(self, n: int, seed: int) -> L.Latents:
        """Latents the generator is trained on (hook: StyleGAN adds mixing regularisation)."""
        return self.sample_latents(n, seed=seed)

    @torch.no_grad()
    def recompute_statistics(self, seed: int, n_batches: int = 64, batch: int = 256) -> None:
        """Set data-dependent buffers for sampling, after training or weight averaging.

        Default: BigGAN's "standing statistics" — every batch-norm's running mean and variance
        become their cumulative average over ``n_batches`` fresh batches.
        """
        bns = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average
        self.train()
        for b in range(n_batches):
            self(self.sample_latents(batch, seed=seed * 100_003 + b))
        for bn in bns:
            bn.momentum = 0.1
        self.eval()


def doublings(size: int, what: str = "generator") -> int:
    """The 2x resampling steps between 4 px and ``size`` px: ``log2(size / 4)``, for the power-of-two
    sizes 8..256 the generators and their discriminator are built for; any other size is refused."""
    n = max(size // 4, 1).bit_length() - 1 if isinstance(size, int) and not isinstance(size, bool) else 0
    if not 1 <= n <= 6 or 4 * 2 ** n != size:
        raise SpecError(f"a {what} is built for images of 4 * 2**k px (8, 16, 32, 64, 128 or 256), got size "
                        f"{size!r}; choose an image_size among those for this dataset")
    return n
