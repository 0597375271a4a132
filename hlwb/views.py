"""View pairs for contrastive pretraining (docs/methods.md §2).

Pixel augmentation presets T_x (kornia, on tensors, on the training device):
    simclr    resized crop (0.2-1), flip, brightness/contrast jitter (p 0.8), blur (p 0.5)
    no_color  resized crop + flip (the paper's T_x for its HL strategies)
    crop      resized crop only
    none      identity
View sources, each an iterator of ``(x1, x2)`` batches ``(B, 1, 32, 32)`` in [-1, 1]:
    RealViews        two augmentations of the same real images
    GeneratedViews   continuous sampling: fresh anchors every step, positive = g(T_z(z)),
                     anchor and positive decoded together in one generator pass of 2B
    FixedViews       N anchors and positives generated once, then sampled like a dataset
Strategies map onto walkers (``synth`` = identity, ``gaussian`` = GenRep, ``hl_random`` =
per-chunk noise, ``learned_all`` = COP-Gen's walker over all chunks, ``hl_learned`` = one
walker over chunks 1..K-1 with the global chunk fixed, as mi_ml_gen's ``chunks_learned``;
both at the snapshot notebook 03 selected); ``augment="paper"``
gives HL strategies ``no_color`` and baselines ``simclr``; ``"fair"`` one preset for all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from . import amp
from . import latents as L
from .generators import HLGenerator
from .walkers import Walker

PRESETS = ("simclr", "no_color", "crop", "none")
# ``augment="fair"``: one T_x for every strategy. The full SimCLR preset, because it is what the
# real-data arm and both reference baselines (GenRep, COP-Gen) use, so an HL arm differs from
# them only by T_z; its brightness/contrast jitter and blur pre-train for the shift targets
# equally in every arm, so differences between arms there are T_z's, not T_x's.
FAIR_PRESET = "simclr"
HL_STRATEGIES = ("hl_random", "hl_learned")
# the flat control at matched delta: the paper-rule arm's strength spread over every chunk
# rcg: two renderings of one RDM representation by the representation-conditioned generator (hlwb.rcg.views)
STRATEGIES = ("real", "synth", "gaussian", "learned_all") + HL_STRATEGIES + ("flat_matched", "rcg")


def augmentation(preset: str) -> nn.Module:
    """The kornia pipeline of a preset (expects and returns images in [-1, 1])."""
    import kornia.augmentation as K

    if preset not in PRESETS:
        raise KeyError(f"unknown augmentation preset {preset!r}; valid: {', '.join(PRESETS)}")
    crop = K.RandomResizedCrop((32, 32), scale=(0.2, 1.0))
    ops = {"none": [], "crop": [crop], "no_color": [crop, K.RandomHorizontalFlip()],
           "simclr": [crop, K.RandomHorizontalFlip(), K.ColorJitter(0.4, 0.4, p=0.8),
                      K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=0.5)]}[preset]
    return _Unit(K.AugmentationSequential(*ops)) if ops else nn.Identity()


class _Unit(nn.Module):
    """Runs a kornia pipeline on [0, 1] images (its colour ops assume that range)."""

    def __init__(self, aug: nn.Module):
        super().__init__()
        self.aug = aug

    def forward(self, x: Tensor) -> Tensor:
        return self.aug((x + 1) / 2).clamp(0, 1) * 2 - 1


def preset_for(strategy: str, augment: str, fair_preset: str = FAIR_PRESET) -> str:
    """T_x of a strategy: ``paper`` (crop+flip for HL strategies, SimCLR for baselines) or ``fair``."""
    if strategy not in STRATEGIES:
        raise KeyError(f"unknown view strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if augment == "paper":  # the control of the HL arm gets the HL arm's T_x
        return "no_color" if strategy in HL_STRATEGIES + ("flat_matched", "rcg") else "simclr"
    if augment == "fair":
        return fair_preset
    raise KeyError(f"augment must be 'paper' or 'fair', got {augment!r}")


def _augment_pair(aug: nn.Module, x1: Tensor, x2: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """Independent augmentations of both views, replayable from ``seed`` (kornia draws from
    torch's global RNG, so it runs inside a forked, seeded RNG)."""
    with torch.random.fork_rng(devices=[x1.device.index] if x1.is_cuda else []):
        torch.manual_seed(seed)
        return aug(x1), aug(x2)


class _Source:
    """A view source: ``batch_at(step)`` is the batch of step ``step``; iteration walks the steps."""

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        step = 0
        while True:
            yield self.batch_at(step)
            step += 1


class RealViews(_Source):
    """Two augmentations of the same real images (float (N, 1, 32, 32) in [-1, 1], on device)."""

    def __init__(self, images: Tensor, batch: int, preset: str = "simclr", seed: int = 0):
        self.images, self.batch, self.aug, self.seed = images, batch, augmentation(preset), seed

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        g = L.make_generator(L.row_seed(self.seed, step, L.EXTRA))
        idx = torch.randint(len(self.images), (self.batch,), generator=g).to(self.images.device)
        x = self.images[idx]
        return _augment_pair(self.aug, x, x, L.row_seed(self.seed, step, L.NOISE))


class GeneratedViews(_Source):
    """Continuous sampling: step i draws anchors ``i*B .. i*B+B-1`` of ``seed`` (``rank`` offsets
    the stream under DDP), applies the walker, decodes both in one pass of 2B, augments.

    ``decode_chunk`` caps the images per generator call: on a CPU a pass of 256 can cost more
    per image than two of 128 (measured 415 vs 785 images/s for the shipped biggan on 2 cores);
    None keeps the single pass of 2B, the right choice on a GPU. ``precision="bf16"`` decodes
    under bfloat16 autocast with the generator in channels-last layout (in place; the decode
    alone 509 -> 2150 images/s on one thread of this project's AMX CPU, :mod:`hlwb.amp`); the
    views are returned in float32.
    """

    def __init__(self, gen: HLGenerator, walker: Walker, batch: int, preset: str = "no_color",
                 seed: int = 0, rank: int = 0, decode_chunk: int | None = None, precision: str = "fp32"):
        self.gen, self.walker, self.batch, self.aug = gen.eval(), walker, batch, augmentation(preset)
        self.decode_chunk, self.precision = decode_chunk, amp.check(precision)
        amp.prepare(self.gen, precision)
        self.seed = L.row_seed(seed, rank, L.EXTRA) if rank else seed

    @torch.no_grad()
    def pair_at(self, step: int) -> tuple[Tensor, Tensor]:
        """Un-augmented (anchor, positive) images of step ``step``."""
        z = self.gen.sample_latents(self.batch, seed=self.seed, start=step * self.batch)
        zp = self.walker(z, seed=L.row_seed(self.seed, step, L.NOISE))
        both = [torch.cat([a, b]) for a, b in zip(z, zp)]
        step_ = self.decode_chunk or 2 * self.batch
        with amp.autocast(self.precision, self.gen.device):
            x = torch.cat([self.gen([t[i:i + step_] for t in both]) for i in range(0, 2 * self.batch, step_)])
        x = x.float().contiguous()
        return x[:self.batch], x[self.batch:]

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        x1, x2 = self.pair_at(step)
        return _augment_pair(self.aug, x1, x2, L.row_seed(self.seed, step, L.RESAMPLE))


class FixedViews(_Source):
    """``n`` anchor/positive pairs generated once (like an offline dataset), then sampled."""

    def __init__(self, source: GeneratedViews, n: int, seed: int = 0):
        steps = (n + source.batch - 1) // source.batch
        pairs = [source.pair_at(s) for s in range(steps)]
        self.x1 = torch.cat([p[0] for p in pairs])[:n]
        self.x2 = torch.cat([p[1] for p in pairs])[:n]
        self.batch, self.aug, self.seed, self.walker = source.batch, source.aug, seed, source.walker

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        g = L.make_generator(L.row_seed(self.seed, step, L.EXTRA))
        idx = torch.randint(len(self.x1), (self.batch,), generator=g).to(self.x1.device)
        return _augment_pair(self.aug, self.x1[idx], self.x2[idx], L.row_seed(self.seed, step, L.NOISE))


def paper_rule(gen: HLGenerator) -> tuple[list[float], float]:
    """The reference's per-chunk sigmas and noise truncation (docs/methods.md §2): BigBiGAN —
    chunk 0 untouched, sigma 1 on every other chunk, truncated at 2 sigma; StyleGAN — sigma
    0.2 / 0.1 / 0.8 / 0.8 per group (coarse -> fine), truncated at 1 sigma."""
    if gen.family == "stylegan" and len(gen.chunks) == 4:
        return [0.2, 0.1, 0.8, 0.8], 1.0
    return [0.0] + [1.0] * (len(gen.chunks) - 1), 2.0


LEARNED = {"learned_all": "all", "hl_learned": "hl"}  # strategy -> walker folder of notebook 03


def walker_selection(strategy: str, gen: HLGenerator) -> list[int] | None:
    """The chunks a learned strategy's walker moves: all (None) for ``learned_all``; chunks
    1..K-1 for ``hl_learned`` (chunk 0, the global one, fixed: mi_ml_gen's BigBiGAN rule)."""
    if strategy not in LEARNED:
        raise KeyError(f"{strategy!r} has no learned walker; learned strategies: {', '.join(LEARNED)}")
    return None if strategy == "learned_all" else list(range(1, len(gen.chunks)))


def learned_walker(strategy: str, gen: HLGenerator, walkers_dir: str | Path) -> Walker:
    """The walker of ``learned_all`` (``<walkers_dir>/all/walker.pt``, COP-Gen) or of
    ``hl_learned`` (``<walkers_dir>/hl/walker.pt``): the snapshot notebook 03 selected."""
    from .walkers import load_learned

    path = Path(walkers_dir) / LEARNED[strategy] / "walker.pt"
    if not path.exists():
        raise FileNotFoundError(f"strategy {strategy!r} needs the walker of notebook 03 for this generator; "
                                f"missing {path} (run notebook 03_walkers first)")
    w = load_learned(path, gen.chunks).to(gen.device)
    want = walker_selection(strategy, gen)
    if w.selected != (want if want is not None else list(range(len(gen.chunks)))):
        raise ValueError(f"{path} moves chunks {w.selected}, but {strategy!r} moves "
                         f"{want if want is not None else 'all chunks'}; re-run notebook 03")
    return w


def flat_matched_walker(gen: HLGenerator, n: int = 10_000, seed: int = 0) -> Walker:
    """The hierarchy-vs-strength control (docs/methods.md §2): every chunk perturbed with one sigma,
    chosen so that the mean ||z' - z|| over the whole code equals that of the paper-rule
    ``hl_random`` arm (same noise law and truncation). ``||sigma eps|| = sigma ||eps||``, so
    sigma = E||delta_paper|| / E||eps_all||, both estimated on ``n`` seeded anchors; the
    walker carries ``matched`` (the two mean norms and sigma)."""
    from .walkers import ChunkNoiseWalker, GaussianWalker, delta

    sig, trunc = paper_rule(gen)
    tied = gen.tied_chunks
    z = [t.cpu() for t in gen.sample_latents(n, seed=L.row_seed(seed, 0, L.EXTRA))]
    chunks = gen.chunks
    ref = delta(z, ChunkNoiseWalker(chunks, sig, truncation=trunc)(z, seed=L.row_seed(seed, 1, L.EXTRA)))
    unit = delta(z, GaussianWalker(chunks, 1.0, truncation=trunc, tied=tied)(z, seed=L.row_seed(seed, 2, L.EXTRA)))
    ref_norm, unit_norm = ref.pow(2).sum(1).sqrt().mean().item(), unit.pow(2).sum(1).sqrt().mean().item()
    walker = GaussianWalker(chunks, ref_norm / unit_norm, truncation=trunc, tied=tied)
    walker.matched = {"paper_rule_mean_delta": ref_norm, "sigma": ref_norm / unit_norm, "n": n}
    return walker


def genrep_walker(gen: HLGenerator, sigma: float | None = None) -> Walker:
    """GenRep's z + N(0, sigma^2) (None: 0.2 BigGAN, 0.25 StyleGAN); on a tied-z generator
    (StyleGAN) one noise draw moves the single z, so the view is one mapped w."""
    from .walkers import GaussianWalker

    s = sigma if sigma is not None else (0.25 if gen.family == "stylegan" else 0.2)
    return GaussianWalker(gen.chunks, sigma=s, tied=gen.tied_chunks)


def load_hl_sigmas(path: str | Path, generator: str) -> list[float]:
    """Per-chunk sigmas for ``hl_random`` from notebook 04's ``hl_sigmas.json`` (its delta_i,
    oracle-calibrated). A censored delta (the agreement never fell below the level on the
    grid: only a lower bound, "≥ sigma_max") is refused, never used as a sigma."""
    import json

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no {p}: run notebook 04_chunk_perturbations first (it writes delta_i per "
                                "chunk), or use the paper's fixed rule (hl_rule='paper')")
    table = json.loads(p.read_text())
    key = generator if generator in table else Path(generator).stem if Path(generator).stem in table else None
    if key is None:
        raise KeyError(f"{p} has sigmas for {', '.join(table)}, not for generator {generator!r}; run notebook 04 "
                       "with that generator, or use hl_rule='paper'")
    entry = table[key]
    censored = [k for k, c in enumerate(entry.get("censored", [])) if c]
    if censored:
        names = entry.get("chunks", [str(k) for k in range(len(entry["sigmas"]))])
        sig = entry["sigmas"]
        which = ", ".join(f"{k} ({names[k]}): >= {sig[k]:g}" for k in censored)
        raise ValueError(f"{p}: delta_i of {generator!r} is censored for chunk(s) {which}; "
                         "a lower bound is not a sigma. Extend notebook 04's sigma grid, or use hl_rule='paper'")
    return [float(s) for s in entry["sigmas"]]


def make_source(strategy: str, batch: int, augment: str = "paper", generator: str = "biggan",
                sampling: str = "continuous", n_fixed: int = 10_000, sigma: float | None = None,
                hl_sigmas: list[float] | None = None, walkers_dir: str | Path | None = None,
                seed: int = 0, rank: int = 0, decode_chunk: int | None = None, precision: str = "fp32",
                device: str | torch.device = "auto") -> _Source:
    """A view source by strategy name.

    ``gaussian``: GenRep's sigma (None: 0.2 for BigGAN, 0.25 for StyleGAN). ``hl_random``: the
    per-chunk ``hl_sigmas`` (notebook 04's delta_i, noise truncated at 2 sigma) or, without
    them, the paper's rule (:func:`paper_rule`). ``flat_matched``: every chunk at the one sigma
    that gives the paper-rule arm's mean ||z' - z|| (:func:`flat_matched_walker`). ``learned_all`` / ``hl_learned``: the walkers
    notebook 03 saved under ``walkers_dir``. ``rcg``: the shipped RCG pair (RDM and
    representation-conditioned generator, :mod:`hlwb.rcg.views`); ``generator`` is not used.

    The source carries ``spec``: what determines its batches (strategy, T_x preset, batch, seed,
    the generator and the SHA-256 of its file, the walker's sigmas or its file's digest, the
    sampling and fixed-set size). :func:`hlwb.pretrain.pretrain` stores it with the weights, so
    a work directory is never resumed on other views. ``decode_chunk`` and ``rank`` are not in
    it: the first is a speed setting, the second is covered by the world size. ``precision``
    (the generator's decode, :mod:`hlwb.amp`) is, when not fp32: bf16 views are other views.
    ``device`` (:func:`hlwb.devices.resolve`): where the generator, the images and every view
    live; the batches come out on it (real images are moved there once, not per step).
    """
    from . import checkpoint, data, devices
    from . import generators as G
    from .walkers import ChunkNoiseWalker, IdentityWalker

    if strategy not in STRATEGIES:
        raise KeyError(f"unknown view strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if sampling not in ("continuous", "fixed"):
        raise KeyError(f"sampling must be 'continuous' or 'fixed', got {sampling!r}")
    amp.check(precision)
    dev = devices.resolve(device)
    preset = preset_for(strategy, augment)
    spec = {"strategy": strategy, "augment": augment, "preset": preset, "batch": batch, "seed": seed}
    if strategy == "real":
        images = devices.to_device(data.fashion_mnist("train").float_images(), dev)
        src = RealViews(images, batch, preset=preset, seed=L.row_seed(seed, rank, L.EXTRA) if rank else seed)
        src.spec = spec
        return src
    if strategy == "rcg":
        return _rcg_source(spec, batch, preset, sampling, n_fixed, seed, rank, decode_chunk, precision, dev)
    gen = G.load(generator, device=dev)
    gpath = G.shipped_path(generator) if generator in G.SHIPPED else Path(generator)
    spec.update(generator=str(generator), generator_sha256=checkpoint.file_sha256(gpath), sampling=sampling)
    if strategy == "synth":
        walker = IdentityWalker(gen.chunks)
    elif strategy == "gaussian":
        walker = genrep_walker(gen, sigma)
    elif strategy == "flat_matched":
        walker = flat_matched_walker(gen)
    elif strategy == "hl_random":
        sig, trunc = (hl_sigmas, 2.0) if hl_sigmas is not None else paper_rule(gen)
        walker = ChunkNoiseWalker(gen.chunks, sig, truncation=trunc)
    else:
        if walkers_dir is None:
            raise ValueError(f"strategy {strategy!r} needs walkers_dir: the walkers folder of notebook 03")
        walker = learned_walker(strategy, gen, walkers_dir)
        spec["walker_sha256"] = checkpoint.file_sha256(Path(walkers_dir) / LEARNED[strategy] / "walker.pt")
    spec["walker"] = type(walker).__name__
    if hasattr(walker, "sigmas"):
        spec.update(sigmas=[round(float(v), 6) for v in walker.sigmas], truncation=walker.truncation,
                    mode=getattr(walker, "mode", None), tied=bool(getattr(walker, "tied", False)))
    src = GeneratedViews(gen, walker, batch, preset=preset, seed=seed, rank=rank, decode_chunk=decode_chunk,
                         precision=precision)
    return _generated(src, spec, sampling, n_fixed, seed, precision)


def _generated(src: _Source, spec: dict, sampling: str, n_fixed: int, seed: int, precision: str) -> _Source:
    """A generated-views source with what every one shares: the decode precision in ``spec``
    (bf16 views are other views) and, for ``sampling="fixed"``, an offline set of ``n_fixed`` pairs."""
    if precision != "fp32":
        spec["precision"] = precision
    if sampling == "fixed":
        src = FixedViews(src, n_fixed, seed=seed)
        spec["n_fixed"] = n_fixed
    src.spec = spec
    return src



def _rcg_source(spec: dict, batch: int, preset: str, sampling: str, n_fixed: int, seed: int, rank: int,
                decode_chunk: int | None, precision: str, dev: torch.device) -> _Source:
    """The ``rcg`` strategy of :func:`make_source`: views of the shipped RCG models, at
    :class:`~hlwb.rcg.views.RCGViews`' default DDIM steps and guidance (both in ``spec``)."""
    from . import checkpoint
    from .rcg import load_rdm, load_rep_generator
    from .rcg.views import RCGViews, shipped_path

    paths = {k: shipped_path(k) for k in ("generator", "rdm")}
    for name, path in paths.items():
        if not path.exists():
            raise FileNotFoundError(f"view strategy 'rcg' needs the shipped RCG {name} {path}; "
                                    f"restore it with `git checkout -- {path.parent}`")
    gen, rdm = load_rep_generator(paths["generator"], device=dev), load_rdm(paths["rdm"], device=dev)
    if gen.rep_dim != rdm.dim:
        raise ValueError(f"the shipped RCG generator is conditioned on {gen.rep_dim}-d representations but the "
                         f"RDM generates {rdm.dim}-d ones: they must come from the same encoder")
    src = RCGViews(gen, rdm, batch, augmentation(preset), seed=L.row_seed(seed, rank, L.EXTRA) if rank else seed,
                   decode_chunk=decode_chunk, precision=precision)
    spec.update(generator="rcg", generator_sha256=checkpoint.file_sha256(paths["generator"]),
                rdm_sha256=checkpoint.file_sha256(paths["rdm"]), rdm_steps=src.rdm_steps, guidance=src.guidance,
                sampling=sampling, walker="RCGViews")
    return _generated(src, spec, sampling, n_fixed, seed, precision)
