"""SimCLR (Chen et al. 2020): NT-Xent over 2B projected views."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..encoders import ResNetTrunk, mlp
from .losses import nt_xent


class SimCLR(nn.Module):
    def __init__(self, encoder: ResNetTrunk, proj_dim: int = 128, hidden: int = 512, tau: float = 0.2):
        super().__init__()
        self.encoder, self.tau = encoder, tau
        self.projector = mlp(encoder.out_dim, hidden, proj_dim)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1, z2 = self.projector(self.encoder(x1)), self.projector(self.encoder(x2))
        loss = nt_xent(z1, z2, self.tau)
        return loss, {"loss": loss.item(), "z_std": _std(z1)}

    def after_step(self, progress: float) -> None:
        """Nothing to update between steps."""


def _std(z: Tensor) -> float:
    """Mean per-dimension std of L2-normalised embeddings (collapse -> 0; healthy ~ 1/sqrt(D))."""
    return torch.nn.functional.normalize(z.detach(), dim=1).std(0).mean().item()
