"""The contrastive-softmax posterior: pick one of K prior representations by cosine to e(x).

docs/methods.md §7b (a reviewer's comment on RCG, formalised there): given
encoder embeddings ``e(x) (N, d)`` and a dictionary ``R (K, d)`` drawn from a prior (RDM samples,
or :func:`hlwb.rcg.space.sphere_prior`), x selects r_k with probability
``q(k | x, R) = softmax_k(cos(e(x), r_k) / T)``. The choice carries at most
``Rate = log K - mean_x H(q(. | x))`` about x, and the plug-in estimate of what it carries,
``I = H(mean_x q) - mean_x H(q)``, is at most the rate (and at most log N). All in bits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import latents as L


def log_selection_probs(emb: Tensor, dictionary: Tensor, temperature: float) -> Tensor:
    """``log softmax_k(cos(e_i, r_k) / T)``: (N, K) float64 (finite even as T -> 0).

    Args: emb (N, d); dictionary (K, d); temperature T > 0.
    """
    if emb.ndim != 2 or dictionary.ndim != 2 or emb.shape[1] != dictionary.shape[1]:
        raise ValueError(f"emb and dictionary must be (N, d) and (K, d), got {tuple(emb.shape)}, "
                         f"{tuple(dictionary.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    cos = F.normalize(emb.double(), dim=1) @ F.normalize(dictionary.double(), dim=1).T  # (N, K)
    return torch.log_softmax(cos / temperature, dim=1)


def selection_probs(emb: Tensor, dictionary: Tensor, temperature: float) -> Tensor:
    """``q(k | x_i, R)``: (N, K) float64, rows summing to 1."""
    return log_selection_probs(emb, dictionary, temperature).exp()


def _entropy_bits(logq: Tensor) -> Tensor:
    """Entropy in bits of each row of ``log q (N, K)``; (N,), clamped at 0 against rounding."""
    return (-(logq.exp() * logq).sum(dim=1) / math.log(2)).clamp_min(0.0)


def rate_bits(logq: Tensor) -> float:
    """``log2 K - mean_i H(q_i)`` in bits from ``log q (N, K)``: the information budget (<= log2 K)."""
    return math.log2(logq.shape[1]) - float(_entropy_bits(logq).mean())


def plugin_mi_bits(logq: Tensor) -> float:
    """``H(mean_i q_i) - mean_i H(q_i)`` in bits from ``log q (N, K)``: the MI between a uniformly
    chosen row i and its selection k, given the dictionary (<= rate, <= log2 N)."""
    n = logq.shape[0]
    log_mean = torch.logsumexp(logq, dim=0, keepdim=True) - math.log(n)  # (1, K): log of the aggregate q
    return max(0.0, float(_entropy_bits(log_mean)[0] - _entropy_bits(logq).mean()))


def sample_selection(logq: Tensor, seed: int, start: int = 0) -> Tensor:
    """One index per row drawn from ``q_i`` (inverse CDF); row i uses its own seed
    ``(seed, start + i)``, so a row's draw does not depend on the batch. Returns (N,) long."""
    n, k = logq.shape
    u = L.sample((L.Chunk("u", 1, 0),), n, seed=seed, truncation=None, start=start, stream=L.EXTRA)[0]
    u = 0.5 * (1 + torch.erf(u.double() / math.sqrt(2)))  # standard normal -> uniform(0, 1), per row
    cdf = logq.exp().cumsum(dim=1)  # (N, K)
    return torch.searchsorted(cdf, u.to(cdf.device)).squeeze(1).clamp_max(k - 1)


def select(emb: Tensor, dictionary: Tensor, temperature: float, seed: int,
           start: int = 0) -> tuple[Tensor, Tensor]:
    """Sample ``r_k ~ q(. | x_i, R)`` for each row: returns (indices (N,), chosen reps (N, d))."""
    idx = sample_selection(log_selection_probs(emb, dictionary, temperature), seed, start)
    return idx, dictionary[idx.to(dictionary.device)]
