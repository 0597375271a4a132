"""Latent chunks: the ordered pieces of an HL generator's code, and the edits on them.

A latent code is a ``list[Tensor]``, one ``(N, chunk.dim)`` tensor per chunk, ordered from the
global chunk (index 0) to the finest. Every edit here returns a new list and leaves the
chunks it does not touch as the *same* tensor objects (bit-identical by construction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

Latents = list[Tensor]


@dataclass(frozen=True)
class Chunk:
    """One latent chunk: its name, width and depth level (0 = global)."""

    name: str
    dim: int
    level: int


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator seeded with ``seed`` (a fresh random seed when None)."""
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


MIN_TRUNCATION = 0.1
"""The smallest truncation a user setting may ask for (explorer, notebooks 03/04): at 0.1 a draw is
accepted with probability 0.08, so rejection sampling needs ~12 draws per number; below, the sampler
would spend its rounds rejecting (it stays bounded, :data:`MAX_ROUNDS`, but the setting means nothing
a smaller bound would not)."""

MAX_ROUNDS = 256
"""Rejection rounds of :func:`truncated_normal` before the numbers still rejected are drawn by the
inverse CDF. A number survives a round with probability P(|x| > bound): 0.37 at bound 0.9, 0.62 at 0.5,
so at ordinary bounds (>= 0.3) no number ever reaches the fallback (0.76^256 < 1e-30) and the draws are
those of plain rejection sampling, while a small bound (0.07) ends after at most 256 rounds instead of
running on (a tiny one, below :data:`MIN_ACCEPT`, skips the rounds)."""

MIN_ACCEPT = 0.05
"""Below this acceptance probability P(|x| <= bound) (bound < 0.063) :func:`truncated_normal` skips
rejection and draws every rejected number by the inverse CDF at once."""


def truncated_normal(shape: tuple[int, ...], bound: float | None, generator: torch.Generator,
                     device: torch.device | str = "cpu") -> Tensor:
    """Standard normal samples with ``|x| <= bound`` (no truncation when None or inf).

    Rejection sampling (redraw the numbers outside the bound), at most :data:`MAX_ROUNDS` rounds
    (none below :data:`MIN_ACCEPT`); numbers still outside then come from the inverse CDF of the
    truncated law (the same law, drawn from ``generator``'s uniforms), so every bound > 0 ends in
    bounded time.
    """
    x = torch.randn(shape, generator=generator, device=device)
    if bound is None:
        return x
    try:
        ok = not isinstance(bound, bool) and float(bound) > 0  # NaN compares False
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"truncation bound must be a number > 0, got {bound!r}")
    bound = float(bound)
    flat = x.view(-1)
    bad = (flat.abs() > bound).nonzero().squeeze(1)  # flat indices, ascending: the order of x[mask] = ...
    # a bound whose interval holds < 5 % of the mass: rejection would only burn its rounds
    rounds = MAX_ROUNDS if math.erf(bound / math.sqrt(2)) >= MIN_ACCEPT else 0
    for _ in range(rounds):  # rejection sampling keeps the exact truncated-normal law
        if not len(bad):
            return x
        redraw = torch.randn(len(bad), generator=generator, device=device)
        flat[bad] = redraw
        bad = bad[redraw.abs() > bound]
    if len(bad):
        flat[bad] = _inverse_cdf(len(bad), bound, generator, device).to(x.dtype)
    return x


def _inverse_cdf(n: int, bound: float, generator: torch.Generator, device: torch.device | str) -> Tensor:
    """``n`` draws of the standard normal truncated to ``[-bound, bound]`` by its inverse CDF
    (float64; a bound so small that the interval's mass underflows: uniform on it, the limit law)."""
    u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
    b = torch.tensor(bound, dtype=torch.float64, device=device)
    lo, hi = torch.special.ndtr(-b), torch.special.ndtr(b)
    if float(hi - lo) > 0:
        x = torch.special.ndtri(lo + u * (hi - lo))
    else:
        x = (2 * u - 1) * b
    return x.clamp(-bound, bound)


# Independent random streams under one seed: anchors, additive noise, chunk resampling, extra.
ANCHOR, NOISE, RESAMPLE, EXTRA = 0, 1, 2, 3


def row_seed(seed: int, i: int, stream: int = ANCHOR) -> int:
    """The seed of sample ``i`` of stream ``stream`` under base ``seed`` (a 63-bit hash).

    Streams keep, e.g., the noise drawn with seed s from being the anchors drawn with seed s.
    """
    key = [int(seed), int(i)] if stream == ANCHOR else [int(seed), int(i), int(stream)]
    return int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0] >> 1)


def sample(chunks: tuple[Chunk, ...], n: int, seed: int | None = None,
           truncation: float | None = None, device: torch.device | str = "cpu",
           start: int = 0, stream: int = ANCHOR) -> Latents:
    """Draw ``n`` latent codes: one truncated-normal tensor ``(n, dim)`` per chunk.

    Sample ``i`` is drawn from its own generator seeded by ``row_seed(seed, start + i, stream)``,
    so every code is addressable by (seed, index) whatever the batch size or device;
    ``start`` offsets the index (continue a stream of samples).
    """
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,), generator=make_generator(None)))
    total = sum(c.dim for c in chunks)
    z = torch.stack([truncated_normal((total,), truncation, make_generator(row_seed(seed, start + i, stream)))
                     for i in range(n)]) if n else torch.zeros(0, total)
    return list(z.to(device).split([c.dim for c in chunks], dim=1))


def check(chunks: tuple[Chunk, ...], latents: Latents) -> int:
    """Validate a latent code against the chunk layout; return the batch size."""
    if len(latents) != len(chunks):
        raise ValueError(f"expected {len(chunks)} latent chunks "
                         f"({', '.join(c.name for c in chunks)}), got {len(latents)}")
    n = latents[0].shape[0]
    for c, z in zip(chunks, latents):
        if z.ndim != 2 or z.shape != (n, c.dim):
            raise ValueError(f"chunk {c.name!r}: expected shape ({n}, {c.dim}), got {tuple(z.shape)}")
    return n


def replace_chunk(latents: Latents, k: int, value: Tensor) -> Latents:
    """A new code with chunk ``k`` set to ``value``; other chunks are the same tensors."""
    if value.shape != latents[k].shape:
        raise ValueError(f"chunk {k}: replacement shape {tuple(value.shape)} != {tuple(latents[k].shape)}")
    out = list(latents)
    out[k] = value
    return out


def resample_chunk(chunks: tuple[Chunk, ...], latents: Latents, k: int, seed: int | None,
                   truncation: float | None = None) -> Latents:
    """Redraw chunk ``k`` of every sample (resample stream of ``seed``; per sample, so the
    draw of sample i does not depend on the batch size); the other chunks are kept."""
    n = check(chunks, latents)
    fresh = sample(chunks, n, seed=seed, truncation=truncation, device=latents[k].device, stream=RESAMPLE)
    return replace_chunk(latents, k, fresh[k])


def add_noise(latents: Latents, k: int, sigma: float, seed: int | None,
              truncation: float | None = None) -> Latents:
    """Chunk ``k`` plus ``sigma * eps``, eps standard normal truncated at ``±truncation``
    (noise stream of ``seed``, one draw per sample)."""
    z = latents[k]
    chunk = (Chunk("noise", z.shape[1], 0),)
    eps = sample(chunk, z.shape[0], seed=seed, truncation=truncation, device=z.device, stream=NOISE)[0]
    return replace_chunk(latents, k, z + sigma * eps)


def concat(latents: Latents) -> Tensor:
    """The code as one ``(N, sum(dims))`` tensor."""
    return torch.cat(latents, dim=1)


def split(z: Tensor, chunks: tuple[Chunk, ...]) -> Latents:
    """Inverse of :func:`concat`."""
    return list(z.split([c.dim for c in chunks], dim=1))


def perturb(chunks: tuple[Chunk, ...], latents: Latents, sigmas: list[float], seed: int,
            truncation: float | None = 2.0, start: int = 0) -> Latents:
    """Per-chunk additive noise: ``z'_k = z_k + sigma_k * eps_k`` (docs/methods.md §2).

    ``eps`` is drawn like a latent code but from the noise stream (:func:`sample` with
    ``seed`` and ``stream=NOISE``: each sample from its own ``row_seed``, each chunk its own
    slice, so the noise is independent per chunk, addressable by seed and index, and never
    equal to the anchors of the same seed), truncated at ``±truncation`` (in units of sigma).
    Chunks with ``sigma_k == 0`` are returned as the same tensors.
    """
    n = check(chunks, latents)
    if len(sigmas) != len(chunks):
        raise ValueError(f"expected {len(chunks)} sigmas (one per chunk), got {len(sigmas)}")
    if not any(sigmas):
        return list(latents)
    eps = sample(chunks, n, seed=seed, truncation=truncation, device=latents[0].device, start=start,
                 stream=NOISE)
    return [z if s == 0 else z + s * e for z, s, e in zip(latents, sigmas, eps)]
