"""Latent chunks: the ordered pieces of an HL generator's code, and the edits on them.

A latent code is a ``list[Tensor]``, one ``(N, chunk.dim)`` tensor per chunk, ordered from the
global chunk (index 0) to the finest. Every edit here returns a new list and leaves the
chunks it does not touch as the *same* tensor objects (bit-identical by construction).
"""

from __future__ import annotations

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


def truncated_normal(shape: tuple[int, ...], bound: float | None, generator: torch.Generator,
                     device: torch.device | str = "cpu") -> Tensor:
    """Standard normal samples, resampled until ``|x| <= bound`` (no truncation when None)."""
    x = torch.randn(shape, generator=generator, device=device)
    if bound is None:
        return x
    if bound <= 0:
        raise ValueError(f"truncation bound must be > 0, got {bound}")
    bad = x.abs() > bound
    while bad.any():  # rejection sampling keeps the exact truncated-normal law
        x[bad] = torch.randn(int(bad.sum()), generator=generator, device=device)
        bad = x.abs() > bound
    return x


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
