"""Pure loss functions with shapes and sources in their docstrings.

The one exception to "pure": under a process group ``nt_xent`` takes its negatives from all ranks.
Every loss runs in float32 outside autocast (:func:`hlwb.amp.fp32`): under ``precision="bf16"``
the embeddings arrive in bfloat16 and are cast up before any similarity or softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..amp import fp32
from ..distributed import gather_with_grad, rank


@fp32
def nt_xent(z1: Tensor, z2: Tensor, tau: float = 0.1) -> Tensor:
    """NT-Xent / InfoNCE over 2B embeddings (SimCLR, Chen et al. 2020).

    Args:
        z1, z2: (B, D) embeddings of the two views; row i of z1 and row i of z2 are positives.
        tau: temperature.
    Returns:
        Scalar: mean over all 2B anchors of -log softmax similarity of the positive against
        the other 2B - 1 embeddings (self-similarity masked). Cosine similarity: inputs are
        normalised here. The MI lower bound is ``log(2B - 1) - loss``.

    Under a process group of W ranks, the candidates are the 2BW embeddings of all ranks
    (gathered with gradient, as in SimCLR's multi-device training): this rank's 2B anchors
    are scored against them, so the mean of the W losses is the single-process loss on the
    concatenated batch, and the MI bound is ``log(2BW - 1) - loss``.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D) this rank's anchors
    keys = gather_with_grad(z)  # (2BW, D): rank r's [z1; z2] at rows 2Br .. 2B(r+1) - 1; z when W = 1
    sim = z @ keys.t() / tau  # (2B, 2BW)
    own = torch.arange(2 * b, device=z.device) + 2 * b * rank()  # column of each anchor itself
    self_mask = torch.zeros_like(sim, dtype=torch.bool).scatter_(1, own[:, None], True)  # eye when W = 1
    sim = sim.masked_fill(self_mask, float("-inf"))
    target = torch.cat([own[b:], own[:b]])  # the other view of the same image
    return F.cross_entropy(sim, target)


def mi_lower_bound(loss: Tensor | float, batch: int) -> float:
    """InfoNCE bound on I(x; x'): log(2B - 1) - L_NCE (nats)."""
    return float(torch.log(torch.tensor(2.0 * batch - 1.0)) - float(loss))


@fp32
def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """SimSiam's D(p, z) = -cos(p, stopgrad(z)), averaged over the batch (Chen & He 2021).

    Args: p, z: (B, D). Returns a scalar in [-1, 1].
    """
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


@fp32
def byol_loss(p: Tensor, z: Tensor) -> Tensor:
    """BYOL's 2 - 2 cos(p, stopgrad(z)) (the MSE of normalised vectors), batch mean (Grill et al. 2020)."""
    return (2 - 2 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


@fp32
def moco_infonce(q: Tensor, k: Tensor, queue: Tensor, tau: float = 0.2) -> Tensor:
    """MoCo's InfoNCE (He et al. 2020): query q against its key k and K queued negatives.

    Args:
        q: (B, D) queries (gradient flows), k: (B, D) keys from the momentum encoder
        (detached here), queue: (K, D) negatives. All are L2-normalised here.
    Returns:
        Scalar: cross-entropy with the positive at index 0 of the (B, 1 + K) logits / tau.
    """
    q, k = F.normalize(q, dim=1), F.normalize(k.detach(), dim=1)
    pos = (q * k).sum(1, keepdim=True)  # (B, 1)
    neg = q @ F.normalize(queue, dim=1).t()  # (B, K)
    logits = torch.cat([pos, neg], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


@fp32
@torch.no_grad()
def sinkhorn(scores: Tensor, eps: float = 0.05, iters: int = 3) -> Tensor:
    """Sinkhorn-Knopp codes for SwAV (Caron et al. 2020) under the equal-partition constraint.

    Args: scores (B, K) = z^T C. Returns Q (B, K): each row a distribution over prototypes,
    the prototypes used equally often across the batch.
    """
    q = torch.exp((scores - scores.max()) / eps).t()  # (K, B); max-shift for stability
    q /= q.sum()
    k, b = q.shape
    for _ in range(iters):
        q /= q.sum(dim=1, keepdim=True)  # rows: each prototype gets mass 1/K
        q /= k
        q /= q.sum(dim=0, keepdim=True)  # columns: each sample gets mass 1/B
        q /= b
    return (q * b).t()  # (B, K), rows sum to 1


@fp32
def swav_loss(scores1: Tensor, scores2: Tensor, tau: float = 0.1, eps: float = 0.05, iters: int = 3) -> Tensor:
    """Swapped prediction: codes of one view predicted from the other's softmax(scores / tau).

    Args: scores1, scores2: (B, K) prototype scores of the two views. Returns a scalar.
    """
    q1, q2 = sinkhorn(scores1, eps, iters), sinkhorn(scores2, eps, iters)
    lp1, lp2 = F.log_softmax(scores1 / tau, dim=1), F.log_softmax(scores2 / tau, dim=1)
    return -0.5 * ((q1 * lp2).sum(1).mean() + (q2 * lp1).sum(1).mean())


@fp32
def pixel_nll(logits: Tensor, target: Tensor) -> Tensor:
    """Autoregressive negative log-likelihood of each image over quantised intensities
    (PixelCNN, van den Oord et al. 2016; the L_g of GCRL, Kim et al. 2021).

    Args:
        logits: (N, K, H, W) unnormalised log-probabilities of the K bins at every pixel, each
            computed from the pixels before it in raster order only.
        target: (N, 1, H, W) or (N, H, W) int64 bin indices in [0, K).
    Returns:
        (N,) nats per image: -sum_k log p(x_k | x_<k). Bits per dimension: / (H W ln 2).
    """
    if target.ndim == 4:
        target = target[:, 0]
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits (N, K, H, W) and target (N, H, W) must match, got {tuple(logits.shape)} "
                         f"and {tuple(target.shape)}")
    return F.cross_entropy(logits, target, reduction="none").sum(dim=(1, 2))
