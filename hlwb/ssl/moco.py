"""MoCo v2 (He et al. 2020; Chen et al. 2020): momentum key encoder, queue of negatives, MLP head.

Under a process group every rank enqueues the keys of all ranks (B x world per step, in rank
order), so the queues stay identical and hold negatives from the global batch, as in MoCo's
multi-GPU code. Not done here: MoCo's shuffled batch-norm for the key encoder under DDP.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..distributed import all_gather_nograd
from ..encoders import ResNetTrunk, mlp
from .losses import moco_infonce
from .momentum import EMA, Queue
from .simclr import _std


class MoCo(nn.Module):
    def __init__(self, encoder: ResNetTrunk, dim: int = 128, hidden: int = 512, queue: int = 4096,
                 momentum: float = 0.99, tau: float = 0.2):
        super().__init__()
        self.encoder, self.m, self.tau = encoder, momentum, tau
        self.projector = mlp(encoder.out_dim, hidden, dim)
        self.key = EMA(nn.Sequential(encoder, self.projector))
        self.queue = Queue(queue, dim)

    def forward(self, x1: Tensor, x2: Tensor) -> tuple[Tensor, dict[str, float]]:
        q1, q2 = self.projector(self.encoder(x1)), self.projector(self.encoder(x2))
        k1, k2 = self.key(x1).detach(), self.key(x2).detach()
        neg = self.queue.negatives()  # only real keys: empty at the first step (loss 0, nothing to push apart)
        loss = 0.5 * (moco_infonce(q1, k2, neg, self.tau) + moco_infonce(q2, k1, neg, self.tau))
        # enqueued after the optimiser step (keys of this batch are not negatives of itself)
        self._pending = all_gather_nograd(k2)  # (B * world, dim)
        return loss, {"loss": loss.item(), "z_std": _std(q1)}

    def after_step(self, progress: float) -> None:
        self.key.update(nn.Sequential(self.encoder, self.projector), self.m)
        self.queue.push(self._pending)
