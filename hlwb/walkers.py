"""Latent walkers: latents in, positive latents out (METHODS.md §1.2–1.3).

    IdentityWalker     T(z) = z                       ("synth": only pixel augmentation differs)
    GaussianWalker     z + sigma * eps on every chunk (GenRep, Jahanian et al. 2021)
    ChunkNoiseWalker   per-chunk sigma, additive or resample (the paper's per-chunk method)
    LearnedWalker      residual MLP over chosen chunks (all chunks: COP-Gen, Li et al. 2022)

Every walker returns a new list in which chunks it does not move are the *same* tensors.
Stochastic walkers take a ``seed`` (noise addressable by seed and sample index).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import latents as L


class Walker(nn.Module):
    """Base: ``forward(latents, seed=None) -> latents`` over the generator's chunk layout."""

    def __init__(self, chunks: tuple[L.Chunk, ...]):
        super().__init__()
        self.chunks = tuple(chunks)

    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:  # pragma: no cover
        raise NotImplementedError


class IdentityWalker(Walker):
    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:
        L.check(self.chunks, latents)
        return list(latents)


class ChunkNoiseWalker(Walker):
    """Per-chunk noise: ``mode="add"``: z_k + sigma_k * eps_k, eps truncated at ±truncation;
    ``mode="resample"``: chunks with sigma_k > 0 are redrawn from the prior (|z| <= truncation).

    Noise is independent per chunk (the reference shared one seed across chunks; see
    METHODS.md §1.2). BigBiGAN's rule: sigmas ``[0, 1, 1, 1, ...]``, truncation 2.
    """

    def __init__(self, chunks: tuple[L.Chunk, ...], sigmas: list[float], truncation: float | None = 2.0,
                 mode: str = "add"):
        super().__init__(chunks)
        if len(sigmas) != len(self.chunks):
            raise ValueError(f"expected {len(self.chunks)} sigmas (one per chunk), got {len(sigmas)}")
        if mode not in ("add", "resample"):
            raise ValueError(f"mode must be 'add' or 'resample', got {mode!r}")
        if any(s < 0 for s in sigmas):
            raise ValueError(f"sigmas must be >= 0, got {sigmas}")
        self.sigmas, self.truncation, self.mode = [float(s) for s in sigmas], truncation, mode

    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:
        seed = _seed(seed)
        if self.mode == "add":
            return L.perturb(self.chunks, latents, self.sigmas, seed=seed, truncation=self.truncation)
        n = L.check(self.chunks, latents)
        fresh = L.sample(self.chunks, n, seed=seed, truncation=self.truncation, device=latents[0].device)
        return [f if s > 0 else z for z, s, f in zip(latents, self.sigmas, fresh)]


class GaussianWalker(ChunkNoiseWalker):
    """GenRep: the same sigma on every chunk (0.2 for BigGAN, 0.25 for StyleGAN), truncated at ±2 sigma."""

    def __init__(self, chunks: tuple[L.Chunk, ...], sigma: float = 0.2, truncation: float | None = 2.0):
        super().__init__(chunks, [sigma] * len(chunks), truncation=truncation, mode="add")


class LearnedWalker(Walker):
    """Residual MLP over the selected chunks: z_S' = z_S + W2 relu(W1 z_S + b1) + b2.

    Weights ~ N(0, 0.01), biases 0, so a fresh walker is (near) the identity (METHODS.md §1.3).
    Deterministic: ``seed`` is accepted and ignored.
    """

    def __init__(self, chunks: tuple[L.Chunk, ...], selected: list[int] | None = None, hidden: int = 256):
        super().__init__(chunks)
        self.selected = list(range(len(self.chunks))) if selected is None else sorted(selected)
        if not self.selected or any(not 0 <= k < len(self.chunks) for k in self.selected):
            raise ValueError(f"selected chunks must be in 0..{len(self.chunks) - 1}, got {selected}")
        d = sum(self.chunks[k].dim for k in self.selected)
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:
        L.check(self.chunks, latents)
        zs = torch.cat([latents[k] for k in self.selected], dim=1)  # (N, d)
        moved = (zs + self.net(zs)).split([self.chunks[k].dim for k in self.selected], dim=1)
        out = list(latents)
        for k, z in zip(self.selected, moved):
            out[k] = z
        return out


class ComposedWalker(Walker):
    """Walkers applied in turn; with one learned walker per chunk (``hl_learned``) every chunk
    moves by its own walker. The walkers must move disjoint chunks (each sees the anchor's
    value of its chunk, so the order does not matter)."""

    def __init__(self, walkers: list[Walker]):
        if not walkers:
            raise ValueError("ComposedWalker needs at least one walker")
        super().__init__(walkers[0].chunks)
        moved = [set(getattr(w, "selected", range(len(self.chunks)))) for w in walkers]
        if sum(map(len, moved)) != len(set().union(*moved)):
            raise ValueError(f"composed walkers must move disjoint chunks, got {[sorted(m) for m in moved]}")
        self.walkers = nn.ModuleList(walkers)

    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:
        out = list(latents)
        for i, w in enumerate(self.walkers):
            out = w(out, seed=None if seed is None else L.row_seed(seed, i, L.EXTRA))
        return out


def delta(latents: L.Latents, moved: L.Latents) -> Tensor:
    """Per-sample, per-chunk L2 distance ``||z_k - T(z)_k||``: shape (N, n_chunks)."""
    return torch.stack([(a - b).norm(dim=1) for a, b in zip(latents, moved)], dim=1)


def _seed(seed: int | None) -> int:
    if seed is None:
        return int(torch.randint(0, 2**62, (1,), generator=L.make_generator(None)))
    return int(seed)


WALKERS = {"identity": IdentityWalker, "gaussian": GaussianWalker, "chunk_noise": ChunkNoiseWalker,
           "learned": LearnedWalker}


def build(name: str, chunks: tuple[L.Chunk, ...], **kwargs) -> Walker:
    """A walker by registry name; an unknown name lists the valid ones."""
    if name not in WALKERS:
        raise KeyError(f"unknown walker {name!r}; valid: {', '.join(WALKERS)}")
    return WALKERS[name](chunks, **kwargs)


def save_learned(path, walker: LearnedWalker, meta: dict | None = None) -> None:
    """Write a learned walker (chunk layout, selected chunks, width, weights) atomically."""
    from . import checkpoint

    checkpoint.save(path, {"chunks": [[c.name, c.dim, c.level] for c in walker.chunks],
                           "selected": walker.selected, "hidden": walker.net[0].out_features,
                           "state_dict": walker.state_dict(), "meta": meta or {}}, kind="walker")


def load_learned(path, chunks: tuple[L.Chunk, ...] | None = None) -> LearnedWalker:
    """A learned walker from :func:`save_learned`; with ``chunks`` (a generator's), the layout must match."""
    from . import checkpoint

    state = checkpoint.load(path, kind="walker")
    saved = tuple(L.Chunk(n, int(d), int(lv)) for n, d, lv in state["chunks"])
    if chunks is not None and [(c.dim, c.level) for c in chunks] != [(c.dim, c.level) for c in saved]:
        raise ValueError(f"{path}: walker trained for chunks {[(c.name, c.dim) for c in saved]}, "
                         f"not {[(c.name, c.dim) for c in chunks]}; use the walker of this generator")
    w = LearnedWalker(saved if chunks is None else chunks, state["selected"], hidden=int(state["hidden"]))
    w.load_state_dict(state["state_dict"])
    w.meta = state.get("meta", {})
    return w.eval()
