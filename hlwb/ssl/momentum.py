"""State shared by MoCo and BYOL: an EMA copy of a network, and a FIFO queue of keys."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class EMA(nn.Module):
    """A frozen copy of ``net`` whose weights track it: w_t <- m w_t + (1 - m) w."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(net)
        for p in self.net.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, m: float) -> None:
        for pt, p in zip(self.net.parameters(), net.parameters()):
            pt.lerp_(p.detach(), 1.0 - m)
        for bt, b in zip(self.net.buffers(), net.buffers()):
            bt.copy_(b)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's schedule: m = 1 - (1 - base) (cos(pi * progress) + 1) / 2, from base to 1."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(1.0, progress)) + 1.0) / 2.0


class Queue(nn.Module):
    """FIFO queue of K normalised keys (MoCo's negatives), buffers so it is checkpointed.

    Warm-up: until K real keys were pushed, :meth:`negatives` returns only the keys pushed so
    far (slots ``[0, filled)``), not the random initial ones; MoCo's reference starts from random
    keys, which at a 4096-key queue and batch 128 are a sixth of a 200-step run's negatives.
    """

    def __init__(self, size: int, dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=g), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, k: Tensor) -> None:
        n, size = len(k), len(self.keys)
        idx = (self.ptr + torch.arange(n, device=k.device)) % size
        self.keys[idx] = F.normalize(k.detach().to(self.keys.dtype), dim=1)  # bf16 keys under autocast
        self.ptr.fill_(int((self.ptr + n) % size))
        self.filled.fill_(min(size, int(self.filled) + n))

    def negatives(self) -> Tensor:
        """The real keys: (min(filled, K), D); the slots are filled from 0 in order."""
        return self.keys if int(self.filled) >= len(self.keys) else self.keys[:int(self.filled)]
