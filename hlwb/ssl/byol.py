"""BYOL (Grill et al. 2020): online net + predictor against an EMA target; 2 - 2cos, symmetrised."""

from __future__ import annotations

from torch import Tensor, nn

from ..encoders import ResNetTrunk, mlp
from .losses import byol_loss
from .momentum import EMA, cosine_momentum
from .simclr import _std


class BYOL(nn.Module):
    def __init__(self, encoder: ResNetTrunk, dim: int = 128, hidden: int = 512, base_momentum: float = 0.996):
        super().__init__()
        self.encoder, self.base_m = encoder, base_momentum
        self.projector = mlp(encoder.out_dim, hidden, dim)
        self.predictor = mlp(dim, hidden, dim)
        self.target = EMA(nn.Sequential(encoder, self.projector))

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1, z2 = self.projector(self.encoder(x1)), self.projector(self.encoder(x2))
        t1, t2 = self.target(x1), self.target(x2)
        loss = 0.5 * (byol_loss(self.predictor(z1), t2) + byol_loss(self.predictor(z2), t1))
        return loss, {"loss": loss.item(), "z_std": _std(z1)}

    def after_step(self, progress: float) -> None:
        self.target.update(nn.Sequential(self.encoder, self.projector), cosine_momentum(self.base_m, progress))
