"""Pure loss functions with shapes and sources in their docstrings."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent(z1: Tensor, z2: Tensor, tau: float = 0.1) -> Tensor:
    """NT-Xent / InfoNCE over 2B embeddings (SimCLR, Chen et al. 2020).

    Args:
        z1, z2: (B, D) embeddings of the two views; row i of z1 and row i of z2 are positives.
        tau: temperature.
    Returns:
        Scalar: mean over all 2B anchors of -log softmax similarity of the positive against
        the other 2B - 1 embeddings (self-similarity masked). Cosine similarity: inputs are
        normalised here. The MI lower bound is ``log(2B - 1) - loss``.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    sim = z @ z.t() / tau  # (2B, 2B)
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(sim, target)


def mi_lower_bound(loss: Tensor | float, batch: int) -> float:
    """InfoNCE bound on I(x; x'): log(2B - 1) - L_NCE (nats)."""
    return float(torch.log(torch.tensor(2.0 * batch - 1.0)) - float(loss))
