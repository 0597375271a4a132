"""The hierarchy of an HL generator, made visible and measured.

``resample_grid`` builds the figure notebook 01 shows: rows are anchors,
columns resample one chunk at a time from global to fine. ``chunk_agreement`` quantifies
it with the oracle: how often the oracle's label of an anchor survives resampling chunk k.
"""

from __future__ import annotations

import itertools
import math

import torch

from . import latents as L
from .generators import HLGenerator
from .oracle import Oracle


def resample_grid(gen: HLGenerator, n_anchors: int = 6, per_chunk: int = 2, seed: int = 0,
                  truncation: float | None = None) -> tuple[torch.Tensor, list[str]]:
    """Images ``(n_anchors, 1 + K * per_chunk, C, S, S)`` (the generator's spec) and the column titles.

    Column 0 is the anchor; then, for each chunk k (global -> fine), ``per_chunk`` images
    with only chunk k redrawn (seeds ``seed + 1 + k * per_chunk + j``).
    """
    z = gen.sample_latents(n_anchors, seed=seed, truncation=truncation)
    cols, titles = [gen.generate(z)], ["anchor"]
    for k, chunk in enumerate(gen.chunks):
        for j in range(per_chunk):
            zk = L.resample_chunk(gen.chunks, z, k, seed=seed + 1 + k * per_chunk + j,
                                  truncation=gen.default_truncation if truncation is None else truncation)
            cols.append(gen.generate(zk))
            titles.append(f"{k}:{chunk.name}")
    return torch.stack(cols, dim=1), titles


@torch.no_grad()
def chunk_agreement(gen: HLGenerator, oracle: Oracle, n_anchors: int = 1000, seed: int = 0,
                    truncation: float | None = None) -> list[dict]:
    """Per chunk: oracle label agreement between anchor and chunk-resampled image.

    Returns one record per chunk with ``agreement`` (fraction), its 95 % Wilson interval
    (``ci_low``, ``ci_high``; ``ci95`` the larger half-width), the mean KL(p_anchor || p_resampled) of the oracle's
    posteriors, and the mean per-pixel RMS change of the image.
    """
    bound = gen.default_truncation if truncation is None else truncation
    z = gen.sample_latents(n_anchors, seed=seed, truncation=bound)
    x0 = gen.generate(z)
    p0 = oracle.probs(x0)
    y0 = p0.argmax(1)
    rows = []
    for k, chunk in enumerate(gen.chunks):
        zk = L.resample_chunk(gen.chunks, z, k, seed=seed + 1000 + k, truncation=bound)
        xk = gen.generate(zk)
        pk = oracle.probs(xk)
        agree = (pk.argmax(1) == y0).float().mean().item()
        kl = (p0 * (p0.clamp_min(1e-12).log() - pk.clamp_min(1e-12).log())).sum(1).mean().item()
        rms = (xk - x0).pow(2).mean(dim=(1, 2, 3)).sqrt().mean().item()
        lo, hi = wilson(agree, n_anchors)
        rows.append({"chunk": k, "name": chunk.name, "level": chunk.level, "agreement": agree,
                     "ci95": max(agree - lo, hi - agree), "ci_low": lo, "ci_high": hi,
                     "kl": kl, "pixel_rms": rms, "n_anchors": n_anchors})
    return rows


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``p`` over ``n`` trials (valid at 0 and 1)."""
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def rises_global_to_fine(rows: list[dict]) -> bool:
    """True when agreement never decreases from the global to the finest chunk."""
    a = [r["agreement"] for r in rows]
    return all(x <= y for x, y in itertools.pairwise(a))


def level_correlation(rows: list[dict]) -> float:
    """Spearman correlation between chunk level (global -> fine) and oracle agreement:
    +1 when agreement rises strictly with the level."""
    from .perturbation import spearman

    return spearman([r["level"] for r in rows], [r["agreement"] for r in rows])
