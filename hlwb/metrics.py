"""Representation metrics: alignment, uniformity, effective rank, the InfoNCE MI bound, Fréchet distance.

All take features as tensors ``(N, D)`` and return Python floats (computed in float64 where
cancellation matters).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg

from .ssl.losses import mi_lower_bound, nt_xent

__all__ = [
    "alignment",
    "effective_rank",
    "frechet_distance",
    "infonce_mi_bound",
    "mi_lower_bound",
    "uniformity",
]


def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||_2^alpha over positive pairs (Wang & Isola 2020); lower is better.

    Args: x, y: (N, D) features, row i of x and row i of y a positive pair; L2-normalised here.
    Returns a value in [0, 2^alpha].
    """
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"x and y must both be (N, D), got {tuple(x.shape)} and {tuple(y.shape)}")
    a, b = F.normalize(x.double(), dim=1), F.normalize(y.double(), dim=1)
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(x: torch.Tensor, t: float = 2.0) -> float:
    """log E exp(-t ||f(x_i) - f(x_j)||^2) over all distinct pairs i < j (Wang & Isola 2020).

    Args: x: (N, D) features, N >= 2, L2-normalised here (memory O(N^2): subsample large sets).
    Returns a value in [-4t, 0]; lower is more uniform on the sphere.
    """
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"x must be (N, D) with N >= 2, got {tuple(x.shape)}")
    d2 = torch.pdist(F.normalize(x.double(), dim=1)).pow(2)  # (N (N - 1) / 2,)
    return float(torch.logsumexp(-t * d2, 0) - math.log(len(d2)))


def effective_rank(x: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp(-sum_k p_k log p_k), p_k = s_k / ||s||_1 + eps.

    Args: x: (N, D) feature matrix (not centred, as in the paper); s its singular values.
    Returns a value in [1, min(N, D)] (up to eps).
    """
    if x.ndim != 2:
        raise ValueError(f"x must be (N, D), got {tuple(x.shape)}")
    s = torch.linalg.svdvals(x.double())
    p = s / s.sum().clamp_min(1e-300) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def infonce_mi_bound(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.1) -> float:
    """InfoNCE lower bound on I(x; x') in nats from embeddings of B positive pairs.

    I >= log(N) - L_NCE with N = 2B - 1 candidates per anchor (its positive and 2B - 2
    negatives), L_NCE the NT-Xent loss over the 2B embeddings (:func:`hlwb.ssl.losses.nt_xent`,
    via :func:`hlwb.ssl.losses.mi_lower_bound`). Args: z1, z2: (B, D). At most log(2B - 1).
    Meant for one process: under torchrun ``nt_xent`` gathers every rank's embeddings, so
    the candidates would be 2BW - 1 while this bound still counts 2B - 1.
    """
    with torch.no_grad():
        return mi_lower_bound(nt_xent(z1, z2, tau), len(z1))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """FD between Gaussians fitted to features ``a (N, D)`` and ``b (M, D)``.

    ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))  (Heusel et al. 2017), in float64.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    if min(len(a), len(b)) < 2:
        raise ValueError("each feature set needs at least 2 rows")
    x, y = a.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()  # scipy: on the host
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # singular product: regularise (as in the FID reference code)
        eps = 1e-6 * np.eye(len(s1))
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
