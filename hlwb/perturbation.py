"""Per-chunk perturbation study (METHODS.md §1.5–1.6; notebook 04).

For one chunk k and a grid of sigma, only chunk k moves (``z_k + sigma * eps``, the additive
:class:`~hlwb.walkers.ChunkNoiseWalker`). Against the same anchors, ``sweep`` measures per
anchor: the oracle's label agreement, KL(p_anchor || p_positive) of its posteriors, the RMS
pixel change and the L2 change of the oracle's features. From the agreement curve:

    delta_k = the largest sigma with agreement >= level (0.9), linearly interpolated between
              grid points at the first crossing below ``level``; a curve that never drops below
              is censored at the largest sigma of the grid (reported with ``censored=True``).

``bootstrap_delta`` resamples the anchors (the same resample for every sigma) for an interval.
``proxy_infonce`` trains a small critic briefly on the pairs of one (chunk, sigma) and returns
its InfoNCE on held-out pairs: the proxy that reviewers asked to be set against the oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import latents as L
from .encoders import Critic
from .generators import HLGenerator
from .oracle import Oracle
from .ssl.losses import nt_xent


@dataclass
class Anchors:
    """Anchors decoded once and scored by the oracle: shared by every (chunk, sigma)."""

    z: L.Latents
    x: Tensor
    probs: Tensor
    feats: Tensor


@torch.no_grad()
def anchors(gen: HLGenerator, oracle: Oracle, n: int, seed: int, batch: int = 500) -> Anchors:
    z = gen.sample_latents(n, seed=seed)
    x = _decode(gen, z, batch)
    return Anchors(z, x, _batched(oracle.probs, x, batch), _batched(oracle.features, x, batch))


@torch.no_grad()
def positives(gen: HLGenerator, a: Anchors, chunk: int, sigma: float, seed: int,
              truncation: float = 2.0, batch: int = 500) -> Tensor:
    """Images of the anchors with only ``chunk`` moved by ``sigma`` (noise truncated at ±2 sigma)."""
    sig = [0.0] * len(gen.chunks)
    sig[chunk] = sigma
    zp = L.perturb(gen.chunks, a.z, sig, seed=seed, truncation=truncation)
    return _decode(gen, zp, batch)


@torch.no_grad()
def sweep(gen: HLGenerator, oracle: Oracle, a: Anchors, chunk: int, sigmas: list[float], seed: int,
          batch: int = 500, keep_images: int = 0) -> dict:
    """Per-anchor measurements for each sigma: arrays (len(sigmas), n_anchors).

    Returns ``agree``, ``kl``, ``pixel_rms``, ``feat_dist`` as numpy arrays, ``sigmas``, and
    (``keep_images`` > 0) the first ``keep_images`` positives per sigma for image grids, and
    ``pairs``: the positives of every sigma (for :func:`proxy_infonce`).
    """
    y0 = a.probs.argmax(1)
    logp0 = a.probs.clamp_min(1e-12).log()
    out = {k: [] for k in ("agree", "kl", "pixel_rms", "feat_dist")}
    pairs, images = [], []
    for j, s in enumerate(sigmas):
        xp = positives(gen, a, chunk, s, seed=L.row_seed(seed, 1000 * chunk + j, L.EXTRA), batch=batch)
        p = _batched(oracle.probs, xp, batch)
        f = _batched(oracle.features, xp, batch)
        out["agree"].append((p.argmax(1) == y0).numpy())
        out["kl"].append((a.probs * (logp0 - p.clamp_min(1e-12).log())).sum(1).numpy())
        out["pixel_rms"].append((xp - a.x).pow(2).mean(dim=(1, 2, 3)).sqrt().numpy())
        out["feat_dist"].append((f - a.feats).norm(dim=1).numpy())
        pairs.append(xp)
        if keep_images:
            images.append(xp[:keep_images])
    res = {k: np.stack(v) for k, v in out.items()}
    res["sigmas"] = list(map(float, sigmas))
    res["pairs"] = pairs
    if keep_images:
        res["images"] = torch.stack(images, dim=1)  # (keep_images, S, 1, 32, 32)
    return res


def delta_at(sigmas: list[float], agreement: np.ndarray | list[float], level: float = 0.9) -> tuple[float, bool]:
    """The largest sigma with agreement >= ``level`` before the curve first drops below it,
    interpolated linearly; ``(sigma, censored)`` where censored means it never dropped."""
    s = np.asarray(sigmas, dtype=float)
    a = np.asarray(agreement, dtype=float)
    if np.any(np.diff(s) <= 0):
        raise ValueError(f"sigmas must increase, got {list(sigmas)}")
    below = np.nonzero(a < level)[0]
    if len(below) == 0:
        return float(s[-1]), True
    i = int(below[0])
    if i == 0:
        return float(s[0]), False
    t = (a[i - 1] - level) / (a[i - 1] - a[i])  # a[i-1] >= level > a[i]
    return float(s[i - 1] + t * (s[i] - s[i - 1])), False


def bootstrap_delta(sigmas: list[float], agree: np.ndarray, level: float = 0.9, n_boot: int = 1000,
                    seed: int = 0, ci: float = 0.95) -> dict:
    """``delta`` on all anchors and a percentile bootstrap interval over anchors.

    ``agree`` is (len(sigmas), n_anchors) of 0/1; each bootstrap draw resamples anchors
    with replacement, the same anchors for every sigma (they share the anchor images).
    """
    agree = np.asarray(agree, dtype=float)
    point, censored = delta_at(sigmas, agree.mean(1), level)
    rng = np.random.default_rng(seed)
    n = agree.shape[1]
    draws = np.array([delta_at(sigmas, agree[:, rng.integers(0, n, n)].mean(1), level)[0] for _ in range(n_boot)])
    lo, hi = np.quantile(draws, [(1 - ci) / 2, (1 + ci) / 2])
    return {"delta": point, "ci_low": float(lo), "ci_high": float(hi), "censored": censored, "level": level,
            "n_boot": n_boot}


def proxy_infonce(x: Tensor, xp: Tensor, n_train: int, steps: int, batch: int = 64, width: int = 8,
                  tau: float = 0.1, lr: float = 1e-3, seed: int = 0) -> dict:
    """Train a fresh critic on the first ``n_train`` (anchor, positive) pairs for ``steps`` Adam
    steps, then its InfoNCE on the remaining pairs in batches of ``batch`` (B anchors, 2B views).

    Returns ``infonce`` (mean over held-out batches), ``mi_bound`` = log(2B - 1) - infonce and
    ``train_infonce`` (the last training batch). The critic and its batches are seeded.
    """
    n_eval = len(x) - n_train
    if n_train < batch or n_eval < batch:
        raise ValueError(f"need >= {batch} pairs for training and for evaluation; got {n_train} and {n_eval}")
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        critic = Critic(width)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    critic.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        idx = torch.randperm(n_train, generator=g)[:batch]
        loss = nt_xent(critic(x[idx]), critic(xp[idx]), tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    critic.eval()
    with torch.no_grad():
        evals = [nt_xent(critic(x[i:i + batch]), critic(xp[i:i + batch]), tau).item()
                 for i in range(n_train, n_train + (n_eval // batch) * batch, batch)]
    val = float(np.mean(evals))
    return {"infonce": val, "mi_bound": math.log(2 * batch - 1) - val, "train_infonce": float(loss.item())}


def spearman(a: list[float] | np.ndarray, b: list[float] | np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties): Pearson correlation of the ranks."""
    ra, rb = _ranks(np.asarray(a, dtype=float)), _ranks(np.asarray(b, dtype=float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[order] = np.arange(len(v), dtype=float)
    for val in np.unique(v):  # ties share their mean rank
        m = v == val
        r[m] = r[m].mean()
    return r


def _decode(gen: HLGenerator, z: L.Latents, batch: int) -> Tensor:
    n = z[0].shape[0]
    return torch.cat([gen.generate([t[i:i + batch] for t in z]) for i in range(0, n, batch)])


def _batched(fn, x: Tensor, batch: int) -> Tensor:
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])
