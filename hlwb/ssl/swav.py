"""SwAV (Caron et al. 2020): prototypes, Sinkhorn-Knopp codes, swapped prediction.

No gather under a process group: each rank computes its codes with Sinkhorn-Knopp on its own
B samples, so the equal-partition constraint holds per rank's batch rather than over the
global one. The loss needs no negatives, the gradients are still averaged over ranks, and
with B well above the number of prototypes (100 by default) a per-rank partition is well
posed. SwAV's own multi-GPU code all-reduces the Sinkhorn sums instead (global partition);
that is the change to make if small per-rank batches ever matter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..encoders import ResNetTrunk, mlp
from .losses import swav_loss
from .simclr import _std


class SwAV(nn.Module):
    def __init__(self, encoder: ResNetTrunk, dim: int = 128, hidden: int = 512, n_prototypes: int = 100,
                 tau: float = 0.1, eps: float = 0.05, iters: int = 3, freeze_prototypes_steps: int = 100):
        super().__init__()
        self.encoder, self.tau, self.eps, self.iters = encoder, tau, eps, iters
        self.projector = mlp(encoder.out_dim, hidden, dim)
        self.prototypes = nn.Linear(dim, n_prototypes, bias=False)
        self.freeze_steps = freeze_prototypes_steps
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self._normalize_prototypes()

    @torch.no_grad()
    def _normalize_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1 = F.normalize(self.projector(self.encoder(x1)), dim=1)
        z2 = F.normalize(self.projector(self.encoder(x2)), dim=1)
        c = self.prototypes.weight
        if self.steps < self.freeze_steps:  # prototypes frozen for the first iterations (SwAV)
            c = c.detach()
        loss = swav_loss(*_scores(z1, z2, c), self.tau, self.eps, self.iters)
        return loss, {"loss": loss.item(), "z_std": _std(z1)}

    def after_step(self, progress: float) -> None:
        self.steps += 1
        self._normalize_prototypes()


def _scores(z1: Tensor, z2: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """Prototype scores z C^T of both views in fp32 outside autocast: Sinkhorn divides them by
    eps = 0.05, so bf16 rounding (~4e-3) would be an error of ~0.08 in its exponents."""
    with torch.autocast(z1.device.type, enabled=False):
        c = c.float()
        return F.linear(z1.float(), c), F.linear(z2.float(), c)
