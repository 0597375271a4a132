"""Per-chunk perturbation study (docs/methods.md §4; notebook 04).

For one chunk k and a grid of sigma, only chunk k moves (``z_k + sigma * eps``, the additive
:class:`~hlwb.walkers.ChunkNoiseWalker`). Against the same anchors, ``sweep`` measures per
anchor: the oracle's label agreement, KL(p_anchor || p_positive) of its posteriors, the RMS
pixel change and the L2 change of the oracle's features. From the agreement curve:

    delta_k = the largest sigma with agreement >= level (0.9), linearly interpolated between
              grid points at the first crossing below ``level``; a curve that never drops below
              is censored: only "delta_k >= sigma_max" is known (``censored=True``; never use
              it as a sigma); a crossing inside the first cell (0, sigma_1] is only resolved to
              "delta_k <= sigma_1" (``below_grid=True``): use a grid dense near 0 (log-spaced).

``paired_bootstrap`` resamples the anchors once per draw, the same resample for every sigma and
for *every* chunk (all chunks share the anchors), so each delta_k gets a percentile interval
and delta_{k+1} - delta_k a paired one and :func:`hierarchy_verdict`
decides "delta grows from global to fine" on those intervals, not on point estimates.
``proxy_infonce`` trains a small critic briefly on the pairs of one (chunk, sigma) and returns
its InfoNCE on held-out pairs: the proxy that reviewers asked to be set against the oracle.

Devices: ``anchors``, ``sweep`` and ``proxy_infonce`` take ``device`` (:func:`hlwb.devices.resolve`);
the generator given is moved there in place, images, anchors and the proxy critic live there,
the noise is drawn on the host (the same on every device); the oracle stays where it is (its
results come back on the images' device); the per-anchor tables come back as numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from . import devices
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

    def to(self, device: str | torch.device) -> Anchors:
        """The same anchors on ``device`` (themselves when they are there already)."""
        return Anchors([t.to(device) for t in self.z], self.x.to(device), self.probs.to(device), self.feats.to(device))


@torch.no_grad()
def anchors(gen: HLGenerator, oracle: Oracle, n: int, seed: int, batch: int = 500,
            truncation: float | None = None, device: str | torch.device = "auto") -> Anchors:
    """``n`` anchors with |z| <= ``truncation`` (None: the family's default), decoded and scored
    on ``device`` (``gen`` is moved there)."""
    gen.to(devices.resolve(device))
    z = gen.sample_latents(n, seed=seed, truncation=truncation)
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
          batch: int = 500, keep_images: int = 0, device: str | torch.device = "auto") -> dict:
    """Per-anchor measurements for each sigma: arrays (len(sigmas), n_anchors).

    Returns ``agree``, ``kl``, ``pixel_rms``, ``feat_dist`` as numpy arrays, ``sigmas``, and
    (``keep_images`` > 0) the first ``keep_images`` positives per sigma for image grids, and
    ``pairs``: the positives of every sigma (for :func:`proxy_infonce`); images on ``device``,
    where ``gen`` is moved (and ``a`` copied, if it is elsewhere).
    """
    device = devices.resolve(device)
    gen.to(device)
    a = a.to(device)
    y0 = a.probs.argmax(1)
    logp0 = a.probs.clamp_min(1e-12).log()
    out = {k: [] for k in ("agree", "kl", "pixel_rms", "feat_dist")}
    pairs, images = [], []
    for j, s in enumerate(sigmas):
        xp = positives(gen, a, chunk, s, seed=L.row_seed(seed, 1000 * chunk + j, L.EXTRA), batch=batch)
        p = _batched(oracle.probs, xp, batch)
        f = _batched(oracle.features, xp, batch)
        out["agree"].append((p.argmax(1) == y0).cpu().numpy())
        out["kl"].append((a.probs * (logp0 - p.clamp_min(1e-12).log())).sum(1).cpu().numpy())
        out["pixel_rms"].append((xp - a.x).pow(2).mean(dim=(1, 2, 3)).sqrt().cpu().numpy())
        out["feat_dist"].append((f - a.feats).norm(dim=1).cpu().numpy())
        pairs.append(xp)
        if keep_images:
            images.append(xp[:keep_images])
    res = {k: np.stack(v) for k, v in out.items()}
    res["sigmas"] = list(map(float, sigmas))
    res["pairs"] = pairs
    if keep_images:
        res["images"] = torch.stack(images, dim=1)  # (keep_images, n_sigmas, C, S, S)
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


def log_grid(lo: float = 0.02, hi: float = 4.0, n: int = 16) -> list[float]:
    """0 and ``n`` log-spaced sigmas from ``lo`` to ``hi`` (dense where agreement first falls),
    rounded to 3 significant digits."""
    return [0.0] + [float(f"{v:.3g}") for v in np.geomspace(lo, hi, n)]


def _first_positive(s: np.ndarray) -> float:
    pos = s[s > 0]
    return float(pos[0]) if len(pos) else float("inf")


def paired_bootstrap(sigmas: list[float], agrees: list[np.ndarray], level: float = 0.9, n_boot: int = 1000,
                     seed: int = 0, ci: float = 0.95) -> dict:
    """delta per chunk and delta_{k+1} - delta_k with percentile intervals, anchors resampled once
    per draw for every chunk (``agrees[k]`` is chunk k's (len(sigmas), n_anchors) 0/1 table on
    the *same* anchors). A censored delta enters the draws at sigma_max (a lower bound), so a
    difference's lower end stays a valid lower bound when the finer chunk is censored.

    Returns ``chunks``: per chunk {delta, ci_low, ci_high, censored, below_grid} and ``diffs``:
    per k {pair (k, k+1), diff, ci_low, ci_high}.
    """
    tabs = [np.asarray(a, dtype=float) for a in agrees]
    n = tabs[0].shape[1]
    if any(t.shape != tabs[0].shape for t in tabs):
        raise ValueError("every chunk needs the same (sigma, anchor) table shape: the anchors must be shared")
    s1 = _first_positive(np.asarray(sigmas, dtype=float))
    points = [delta_at(sigmas, t.mean(1), level) for t in tabs]
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, len(tabs)))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        draws[b] = [delta_at(sigmas, t[:, idx].mean(1), level)[0] for t in tabs]
    q = [(1 - ci) / 2, (1 + ci) / 2]
    chunks = []
    for k, (d, cens) in enumerate(points):
        lo, hi = np.quantile(draws[:, k], q)
        chunks.append({"delta": d, "ci_low": float(lo), "ci_high": float(hi), "censored": cens,
                       "below_grid": (not cens) and d <= s1})
    diffs = []
    for k in range(len(tabs) - 1):
        lo, hi = np.quantile(draws[:, k + 1] - draws[:, k], q)
        diffs.append({"pair": (k, k + 1), "diff": points[k + 1][0] - points[k][0], "ci_low": float(lo),
                      "ci_high": float(hi), "lower_bound_only": points[k + 1][1]})
    return {"chunks": chunks, "diffs": diffs, "level": level, "n_boot": n_boot, "ci": ci}


def hierarchy_verdict(diffs: list[dict]) -> str:
    """``holds`` when every paired interval of delta_{k+1} - delta_k lies above 0, ``violated``
    when some lies below 0, otherwise ``unresolved`` (some interval contains 0)."""
    if all(d["ci_low"] > 0 for d in diffs):
        return "holds"
    if any(d["ci_high"] < 0 for d in diffs):
        return "violated"
    return "unresolved"


def proxy_infonce(x: Tensor, xp: Tensor, n_train: int, steps: int, batch: int = 64, width: int = 8,
                  tau: float = 0.1, lr: float = 1e-3, seed: int = 0, device: str | torch.device = "auto") -> dict:
    """Train a fresh critic on the first ``n_train`` (anchor, positive) pairs for ``steps`` Adam
    steps, then its InfoNCE on the remaining pairs in batches of ``batch`` (B anchors, 2B views).

    Returns ``infonce`` (mean over held-out batches), ``mi_bound`` = max(0, log(2B - 1) - infonce)
    (a briefly trained critic can score held-out pairs worse than chance; an MI bound is never
    negative, so it is clipped at 0 and ``mi_clipped`` says so) and ``train_infonce`` (the last
    training batch). The critic and its batches are seeded (initialised and drawn on the host);
    it trains on ``device``, where the pairs are copied.
    """
    device = devices.resolve(device)
    n_eval = len(x) - n_train
    if n_train < batch or n_eval < batch:
        raise ValueError(f"need >= {batch} pairs for training and for evaluation; got {n_train} and {n_eval}")
    x, xp = devices.to_device(x, device), devices.to_device(xp, device)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        critic = Critic(width, channels=x.shape[1], size=x.shape[-1]).to(device)  # for the pairs' image spec
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    critic.train()
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        idx = devices.to_device(torch.randperm(n_train, generator=g)[:batch], device)
        loss = nt_xent(critic(x[idx]), critic(xp[idx]), tau)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    critic.eval()
    with torch.no_grad():
        evals = [nt_xent(critic(x[i:i + batch]), critic(xp[i:i + batch]), tau).item()
                 for i in range(n_train, n_train + (n_eval // batch) * batch, batch)]
    val = float(np.mean(evals))
    raw = math.log(2 * batch - 1) - val
    return {"infonce": val, "mi_bound": max(0.0, raw), "mi_clipped": raw < 0, "train_infonce": float(loss.item())}


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
