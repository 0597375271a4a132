"""SimSiam (Chen & He 2021): predictor + stop-gradient, symmetric negative cosine; no negatives."""

from __future__ import annotations

from torch import Tensor, nn

from ..encoders import ResNetTrunk, mlp
from .losses import negative_cosine
from .simclr import _std


class SimSiam(nn.Module):
    def __init__(self, encoder: ResNetTrunk, dim: int = 512, pred_hidden: int = 128):
        super().__init__()
        self.encoder = encoder
        self.projector = mlp(encoder.out_dim, dim, dim, layers=3, last_bn=True)  # 3 layers, BN on output
        self.predictor = mlp(dim, pred_hidden, dim, layers=2)  # bottleneck (2048-512-2048 at full size)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, dict[str, float]]:
        z1, z2 = self.projector(self.encoder(x1)), self.projector(self.encoder(x2))
        p1, p2 = self.predictor(z1), self.predictor(z2)
        loss = 0.5 * (negative_cosine(p1, z2) + negative_cosine(p2, z1))
        return loss, {"loss": loss.item(), "z_std": _std(z1)}

    def after_step(self, progress: float) -> None:
        """Nothing to update between steps."""
