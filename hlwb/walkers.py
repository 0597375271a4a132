"""Latent walkers: latents in, positive latents out (docs/methods.md §2–3).

    IdentityWalker     T(z) = z                       ("synth": only pixel augmentation differs)
    GaussianWalker     z + sigma * eps on every chunk (GenRep, Jahanian et al. 2021)
    ChunkNoiseWalker   per-chunk sigma, additive or resample (the paper's per-chunk method)
    LearnedWalker      residual MLP over chosen chunks (all chunks: COP-Gen, Li et al. 2022)

Every walker returns a new list in which chunks it does not move are the *same* tensors.
Stochastic walkers take a ``seed`` (noise addressable by seed and sample index).

``tied=True`` (GaussianWalker, LearnedWalker) is for generators whose anchors carry *one* z
copied into every chunk (StyleGAN, ``gen.tied_chunks``): the moved chunks share one moved z,
so GenRep's z + eps and COP-Gen's z + MLP(z) map one perturbed z to one w, as the references
do, instead of perturbing the per-chunk copies independently (which is a style mix).
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
    docs/methods.md §2). BigBiGAN's rule: sigmas ``[0, 1, 1, 1, ...]``, truncation 2.
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
    """GenRep: the same sigma on every chunk (0.2 for BigGAN, 0.25 for StyleGAN), truncated at ±2 sigma.

    ``tied``: one noise draw (chunk 0's) added to every chunk, for tied-z generators (StyleGAN).
    ``keep``: chunks left fixed (``gaussian_keep0``: chunk 0); the other chunks get the noise they
    would get without ``keep`` (the same seed gives the same draw).
    """

    def __init__(self, chunks: tuple[L.Chunk, ...], sigma: float = 0.2, truncation: float | None = 2.0,
                 tied: bool = False, keep: tuple[int, ...] = ()):
        n = len(chunks)
        if any(isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n for k in keep):
            raise ValueError(f"keep must list chunk indices in 0..{n - 1}, got {keep!r}")
        super().__init__(chunks, [0.0 if k in keep else sigma for k in range(n)], truncation=truncation, mode="add")
        if tied:
            _check_tieable(self.chunks, range(len(self.chunks)))
        self.sigma, self.tied, self.keep = float(sigma), tied, tuple(keep)

    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:
        if not self.tied:
            return super().forward(latents, seed)
        L.check(self.chunks, latents)
        sig = [self.sigma] + [0.0] * (len(self.chunks) - 1)
        moved = L.perturb(self.chunks, latents, sig, seed=_seed(seed), truncation=self.truncation)[0]
        eps = moved - latents[0]
        return [z if k in self.keep else z + eps for k, z in enumerate(latents)]


class LearnedWalker(Walker):
    """Residual MLP over the selected chunks: z_S' = z_S + W2 relu(W1 z_S + b1) + b2.

    Weights ~ N(0, 0.01), biases 0, so a fresh walker is (near) the identity (docs/methods.md §3).
    ``hidden=0``: hidden width = input width (mi_ml_gen's choice). ``tied``: the selected
    chunks hold one z (StyleGAN anchors); the MLP reads it once (chunk ``selected[0]``) and
    writes the one moved z into every selected chunk. Deterministic: ``seed`` is ignored.
    """

    def __init__(self, chunks: tuple[L.Chunk, ...], selected: list[int] | None = None, hidden: int = 256,
                 tied: bool = False):
        super().__init__(chunks)
        self.selected = list(range(len(self.chunks))) if selected is None else sorted(selected)
        if not self.selected or any(not 0 <= k < len(self.chunks) for k in self.selected):
            raise ValueError(f"selected chunks must be in 0..{len(self.chunks) - 1}, got {selected}")
        if tied:
            _check_tieable(self.chunks, self.selected)
        self.tied = tied
        d = self.chunks[self.selected[0]].dim if tied else sum(self.chunks[k].dim for k in self.selected)
        hidden = hidden or d
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward(self, latents: L.Latents, seed: int | None = None) -> L.Latents:
        L.check(self.chunks, latents)
        out = list(latents)
        if self.tied:
            z = latents[self.selected[0]]  # (N, d): the one z of every selected chunk
            zp = z + self.net(z)
            for k in self.selected:
                out[k] = zp
            return out
        zs = torch.cat([latents[k] for k in self.selected], dim=1)  # (N, d)
        moved = (zs + self.net(zs)).split([self.chunks[k].dim for k in self.selected], dim=1)
        for k, z in zip(self.selected, moved):
            out[k] = z
        return out


def delta(latents: L.Latents, moved: L.Latents) -> Tensor:
    """Per-sample, per-chunk L2 distance ``||z_k - T(z)_k||``: shape (N, n_chunks)."""
    return torch.stack([(a - b).norm(dim=1) for a, b in zip(latents, moved)], dim=1)


def _check_tieable(chunks: tuple[L.Chunk, ...], selected) -> None:
    dims = {chunks[k].dim for k in selected}
    if len(dims) != 1:
        raise ValueError(f"tied chunks must share one width, got {sorted(dims)}: only generators whose "
                         "anchors copy one z into every chunk (StyleGAN) can be tied")


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
                           "tied": walker.tied,
                           "state_dict": walker.state_dict(), "meta": meta or {}}, kind="walker", sidecar={})


def load_learned(path, chunks: tuple[L.Chunk, ...] | None = None) -> LearnedWalker:
    """A learned walker from :func:`save_learned`; with ``chunks`` (a generator's), the layout must match."""
    from . import checkpoint

    state = checkpoint.load(path, kind="walker")
    checkpoint.require(path, state, "chunks", "selected", "hidden", "state_dict")
    try:
        saved = tuple(L.Chunk(str(n), int(d), int(lv)) for n, d, lv in state["chunks"])
    except (TypeError, ValueError) as e:
        raise checkpoint.CheckpointError(f"{path}: \"chunks\" is not a list of [name, dim, level] ({e})") from e
    if chunks is not None and [(c.dim, c.level) for c in chunks] != [(c.dim, c.level) for c in saved]:
        raise ValueError(f"{path}: walker trained for chunks {[(c.name, c.dim) for c in saved]}, "
                         f"not {[(c.name, c.dim) for c in chunks]}; use the walker of this generator")
    config = {"chunks": saved if chunks is None else chunks, "selected": state["selected"],
              "hidden": state["hidden"], "tied": bool(state.get("tied", False))}
    w = checkpoint.build_module(path, LearnedWalker, config, what="walker")
    checkpoint.load_weights(path, w, state["state_dict"])
    w.meta = state.get("meta", {})
    return w.eval()
