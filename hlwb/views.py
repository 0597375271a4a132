"""View pairs for contrastive pretraining (docs/methods.md §2).

Pixel augmentation presets T_x (kornia, on tensors, on the training device), by image spec:
    simclr    resized crop to the spec's size (scale 0.2-1), flip, then
                one channel: brightness/contrast jitter 0.4 (p 0.8), 3x3 Gaussian blur (p 0.5);
                colour:      SimCLR's colour distortion, jitter 0.4/0.4/0.4/0.1 (p 0.8) and
                             grayscale (p 0.2), and from 96 px a Gaussian blur of ~10 % of the side (p 0.5)
    no_color  resized crop + flip (the paper's T_x for its HL strategies)
    crop      resized crop only
    none      identity
View sources (:class:`ViewSource`), each an iterator of ``(x1, x2)`` batches ``(B, C, S, S)`` in [-1, 1]:
    RealViews        two augmentations of the same real images
    GeneratedViews   continuous sampling: fresh anchors every step, positive = g(T_z(z)),
                     anchor and positive decoded together in one generator pass of 2B
    FixedViews       N anchors and positives generated once, then sampled like a dataset
The view strategies are one registry, :data:`STRATEGIES` (name -> :class:`Strategy`: its builder,
the :func:`make_source` arguments it reads, one line of help, its T_x under ``augment="paper"`` and
what it needs); :func:`make_source` looks a name up there. ``hlwb.rcg`` registers ``rcg`` when it is
imported (:mod:`hlwb.rcg.views`). ``augment="paper"`` gives each strategy its paper preset (crop+flip
for the HL strategies and their controls, SimCLR for the baselines); ``"fair"`` one preset for all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from . import amp
from . import latents as L
from .generators import HLGenerator
from .spec import LEGACY, ImageSpec, require_same
from .walkers import Walker

PRESETS = ("simclr", "no_color", "crop", "none")
# ``augment="fair"``: one T_x for every strategy. The full SimCLR preset, because it is what the
# real-data arm and both reference baselines (GenRep, COP-Gen) use, so an HL arm differs from
# them only by T_z; its brightness/contrast jitter and blur pre-train for the shift targets
# equally in every arm, so differences between arms there are T_z's, not T_x's.
FAIR_PRESET = "simclr"
DEFAULT_DATASET = "fashion_mnist"  # make_source's dataset when none is named (the notebooks' default, hlwb.config)
BLUR_FROM = 96  # colour data: SimCLR's blur only from this side length (its CIFAR-10 recipe drops blur at 32 px)


def augmentation(preset: str, spec: ImageSpec = LEGACY) -> nn.Module:
    """The kornia pipeline of a preset for images of ``spec`` (expects and returns ``(N, C, S, S)`` in [-1, 1]).

    One channel: today's presets, op for op (so a seed gives the same views as before specs). Colour:
    SimCLR's T_x (Chen et al. 2020, appendix A): colour jitter 0.4/0.4/0.4/0.1 at p 0.8, random
    grayscale at p 0.2, and from :data:`BLUR_FROM` px a Gaussian blur with a kernel of ~10 % of the
    side (odd), sigma 0.1-2, at p 0.5.
    """
    import kornia.augmentation as K

    if preset not in PRESETS:
        raise KeyError(f"unknown augmentation preset {preset!r}; valid: {', '.join(PRESETS)}")
    if preset == "none":
        return nn.Identity()
    ops = [K.RandomResizedCrop((spec.size, spec.size), scale=(0.2, 1.0))]
    if preset != "crop":
        ops.append(K.RandomHorizontalFlip())
    if preset == "simclr":
        ops += _colour_distortion(spec) if spec.color else [
            K.ColorJitter(0.4, 0.4, p=0.8), K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=0.5)]
    return _Unit(K.AugmentationSequential(*ops))


def _colour_distortion(spec: ImageSpec) -> list[nn.Module]:
    """SimCLR's colour distortion (and, from :data:`BLUR_FROM` px, its blur) for RGB images of ``spec``."""
    import kornia.augmentation as K

    ops = [K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2)]
    if spec.size >= BLUR_FROM:
        k = spec.size // 10 // 2 * 2 + 1  # SimCLR: side // 10, made odd (96 px: 9, 128 px: 13)
        ops.append(K.RandomGaussianBlur((k, k), (0.1, 2.0), p=0.5))
    return ops


class _Unit(nn.Module):
    """Runs a kornia pipeline on [0, 1] images (its colour ops assume that range)."""

    def __init__(self, aug: nn.Module):
        super().__init__()
        self.aug = aug

    def forward(self, x: Tensor) -> Tensor:
        return self.aug((x + 1) / 2).clamp(0, 1) * 2 - 1


def augment_pair(aug: nn.Module, x1: Tensor, x2: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """Independent augmentations of both views, replayable from ``seed`` (kornia draws from
    torch's global RNG, so it runs inside a forked, seeded RNG)."""
    with torch.random.fork_rng(devices=[x1.device.index] if x1.is_cuda else []):
        torch.manual_seed(seed)
        return aug(x1), aug(x2)


def image_spec(images: Tensor) -> ImageSpec:
    """The image spec of ``(N, C, S, S)`` images (refused, naming the shape, when they fit none)."""
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"view images must be (N, C, S, S), got {tuple(images.shape)}")
    return ImageSpec(int(images.shape[1]), int(images.shape[-1]))


class ViewSource:
    """A view source: ``batch_at(step)`` is the batch of step ``step``; iteration walks the steps.

    ``spec`` (a dict, set by :func:`make_source`) records what determines its batches; ``image_spec``
    is the :class:`~hlwb.spec.ImageSpec` of its views.
    """

    image_spec: ImageSpec = LEGACY

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        step = 0
        while True:
            yield self.batch_at(step)
            step += 1


class RealViews(ViewSource):
    """Two augmentations of the same real images (float ``(N, C, S, S)`` in [-1, 1], on device; the
    T_x follows their spec)."""

    def __init__(self, images: Tensor, batch: int, preset: str = "simclr", seed: int = 0):
        self.image_spec = image_spec(images)
        self.images, self.batch, self.aug, self.seed = images, batch, augmentation(preset, self.image_spec), seed

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        g = L.make_generator(L.row_seed(self.seed, step, L.EXTRA))
        idx = torch.randint(len(self.images), (self.batch,), generator=g).to(self.images.device)
        x = self.images[idx]
        return augment_pair(self.aug, x, x, L.row_seed(self.seed, step, L.NOISE))


class GeneratedViews(ViewSource):
    """Continuous sampling: step i draws anchors ``i*B .. i*B+B-1`` of ``seed`` (``rank`` offsets
    the stream under DDP), applies the walker, decodes both in one pass of 2B, augments (T_x for
    the generator's spec).

    ``decode_chunk`` caps the images per generator call: on a CPU a pass of 256 can cost more
    per image than two of 128 (measured 415 vs 785 images/s for the shipped biggan on 2 cores);
    None keeps the single pass of 2B, the right choice on a GPU. ``precision="bf16"`` decodes
    under bfloat16 autocast with the generator in channels-last layout (in place; the decode
    alone 509 -> 2150 images/s on one thread of this project's AMX CPU, :mod:`hlwb.amp`); the
    views are returned in float32.
    """

    def __init__(self, gen: HLGenerator, walker: Walker, batch: int, preset: str = "no_color",
                 seed: int = 0, rank: int = 0, decode_chunk: int | None = None, precision: str = "fp32"):
        self.image_spec = gen.spec.image()
        self.gen, self.walker, self.batch = gen.eval(), walker, batch
        self.aug = augmentation(preset, self.image_spec)
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
        return augment_pair(self.aug, x1, x2, L.row_seed(self.seed, step, L.RESAMPLE))


class FixedViews(ViewSource):
    """``n`` anchor/positive pairs generated once (like an offline dataset), then sampled."""

    def __init__(self, source: GeneratedViews, n: int, seed: int = 0):
        steps = (n + source.batch - 1) // source.batch
        pairs = [source.pair_at(s) for s in range(steps)]
        self.x1 = torch.cat([p[0] for p in pairs])[:n]
        self.x2 = torch.cat([p[1] for p in pairs])[:n]
        self.batch, self.aug, self.seed, self.walker = source.batch, source.aug, seed, source.walker
        self.image_spec = source.image_spec

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        g = L.make_generator(L.row_seed(self.seed, step, L.EXTRA))
        idx = torch.randint(len(self.x1), (self.batch,), generator=g).to(self.x1.device)
        return augment_pair(self.aug, self.x1[idx], self.x2[idx], L.row_seed(self.seed, step, L.NOISE))


# ---- walkers of the generated strategies -----------------------------------------------------

def paper_rule(gen: HLGenerator) -> tuple[list[float], float]:
    """The reference's per-chunk sigmas and noise truncation (docs/methods.md §2): BigBiGAN —
    chunk 0 untouched, sigma 1 on every other chunk, truncated at 2 sigma; StyleGAN — sigma
    0.2 / 0.1 / 0.8 / 0.8 per group (coarse -> fine), truncated at 1 sigma."""
    if gen.family == "stylegan" and len(gen.chunks) == 4:
        return [0.2, 0.1, 0.8, 0.8], 1.0
    return [0.0] + [1.0] * (len(gen.chunks) - 1), 2.0


def walker_selection(strategy: str, gen: HLGenerator) -> list[int] | None:
    """The chunks a learned strategy's walker moves: all (None) for ``learned_all``; chunks
    1..K-1 for ``hl_learned`` (chunk 0, the global one, fixed: mi_ml_gen's BigBiGAN rule)."""
    folder = _learned_folder(strategy)
    return None if folder == "all" else list(range(1, len(gen.chunks)))


def _learned_folder(strategy: str) -> str:
    s = STRATEGIES.get(strategy)
    if s is None or s.walker_folder is None:
        learned = [n for n, e in STRATEGIES.items() if e.walker_folder]
        raise KeyError(f"{strategy!r} has no learned walker; learned strategies: {', '.join(learned)}")
    return s.walker_folder


def learned_walker(strategy: str, gen: HLGenerator, walkers_dir: str | Path) -> Walker:
    """The walker of ``learned_all`` (``<walkers_dir>/all/walker.pt``, COP-Gen) or of
    ``hl_learned`` (``<walkers_dir>/hl/walker.pt``): the snapshot notebook 03 selected."""
    from .walkers import load_learned

    path = Path(walkers_dir) / _learned_folder(strategy) / "walker.pt"
    if not path.exists():
        from .published import producer

        raise FileNotFoundError(f"strategy {strategy!r} needs the walker of notebook 03 for this generator; "
                                f"missing {path}: " + producer("03_walkers"))
    w = load_learned(path, gen.chunks).to(gen.device)
    want = walker_selection(strategy, gen)
    if w.selected != (want if want is not None else list(range(len(gen.chunks)))):
        raise ValueError(f"{path} moves chunks {w.selected}, but {strategy!r} moves "
                         f"{want if want is not None else 'all chunks'}; re-run notebook 03")
    return w


def keep_sigmas(gen: HLGenerator, k: int) -> tuple[list[float], float]:
    """``hl_keep``'s per-chunk sigmas and truncation: the paper rule's sigma on every chunk except chunk
    ``k``, which stays fixed (docs/methods.md §2). A chunk the rule leaves still gets the rule's sigma of
    the moved chunks (BigBiGAN: 1 everywhere, truncated at 2 sigma), so ``k = 0`` is the rule itself on
    BigBiGAN; StyleGAN: 0.2 / 0.1 / 0.8 / 0.8 with group ``k`` at 0."""
    n = len(gen.chunks)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < n:
        raise ValueError(f"hl_keep={k!r}: the generator has {n} chunks, so the fixed chunk must be one of "
                         f"0..{n - 1} ({', '.join(c.name for c in gen.chunks)})")
    sig, trunc = paper_rule(gen)
    moved = max(sig)
    out = [s if s > 0 else moved for s in sig]
    out[k] = 0.0
    return out, trunc


def scaled_sigmas(gen: HLGenerator, scale: float) -> tuple[list[float], float]:
    """``hl_scaled``'s per-chunk sigmas: the paper rule's sigmas times ``scale`` on chunks 1..K-1, chunk 0
    as the rule has it (BigBiGAN: fixed), same truncation; ``scale = 1`` is the rule itself."""
    if not scale > 0:
        raise ValueError(f"hl_scale={scale!r} must be > 0 (a multiple of the paper rule's sigmas)")
    sig, trunc = paper_rule(gen)
    return [sig[0]] + [scale * s for s in sig[1:]], trunc


def flat_matched_walker(gen: HLGenerator, n: int = 10_000, seed: int = 0, scale: float = 1.0) -> Walker:
    """The hierarchy-vs-strength control (docs/methods.md §2): every chunk perturbed with one sigma,
    chosen so that the mean ||z' - z|| over the whole code equals that of the paper rule with its
    sigmas scaled by ``scale`` (:func:`scaled_sigmas`; ``scale = 1``: the ``hl_random`` paper-rule arm;
    same noise law and truncation). ``||sigma eps|| = sigma ||eps||``, so
    sigma = E||delta_scaled|| / E||eps_all||, both estimated on ``n`` seeded anchors; the
    walker carries ``matched`` (the two mean norms, sigma and the scale)."""
    from .walkers import ChunkNoiseWalker, GaussianWalker, delta

    sig, trunc = scaled_sigmas(gen, scale)
    tied = gen.tied_chunks
    z = [t.cpu() for t in gen.sample_latents(n, seed=L.row_seed(seed, 0, L.EXTRA))]
    chunks = gen.chunks
    ref = delta(z, ChunkNoiseWalker(chunks, sig, truncation=trunc)(z, seed=L.row_seed(seed, 1, L.EXTRA)))
    unit = delta(z, GaussianWalker(chunks, 1.0, truncation=trunc, tied=tied)(z, seed=L.row_seed(seed, 2, L.EXTRA)))
    ref_norm, unit_norm = ref.pow(2).sum(1).sqrt().mean().item(), unit.pow(2).sum(1).sqrt().mean().item()
    walker = GaussianWalker(chunks, ref_norm / unit_norm, truncation=trunc, tied=tied)
    walker.matched = {"paper_rule_mean_delta": ref_norm, "sigma": ref_norm / unit_norm, "n": n, "scale": scale}
    return walker


def genrep_walker(gen: HLGenerator, sigma: float | None = None, keep: tuple[int, ...] = ()) -> Walker:
    """GenRep's z + N(0, sigma^2) (None: 0.2 BigGAN, 0.25 StyleGAN); on a tied-z generator
    (StyleGAN) one noise draw moves the single z, so the view is one mapped w. ``keep``: chunks left
    fixed (``gaussian_keep0``: chunk 0), the others get the same noise as without them."""
    from .walkers import GaussianWalker

    s = sigma if sigma is not None else (0.25 if gen.family == "stylegan" else 0.2)
    return GaussianWalker(gen.chunks, sigma=s, tied=gen.tied_chunks, keep=keep)


def load_hl_sigmas(path: str | Path, generator: str) -> list[float]:
    """Per-chunk sigmas for ``hl_random`` from notebook 04's ``hl_sigmas.json`` (its delta_i,
    oracle-calibrated). A censored delta (the agreement never fell below the level on the
    grid: only a lower bound, "≥ sigma_max") is refused, never used as a sigma."""
    import json

    p = Path(path)
    if not p.exists():
        from .published import producer

        raise FileNotFoundError(f"no {p} (notebook 04's delta_i per chunk; or use the paper's fixed rule, "
                                "hl_rule='paper'): " + producer("04_chunk_perturbations"))
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


# ---- the registry of view strategies ---------------------------------------------------------

@dataclass
class ViewRequest:
    """What :func:`make_source` resolved, handed to a strategy's builder.

    ``preset``: the T_x preset of this strategy and ``augment``; ``data_spec``: the image spec of the
    dataset (``dataset``'s train split at ``image_size``) the views must match; ``device``: a resolved
    ``torch.device``; ``record``: the source's ``spec`` dict, which the builder completes (what
    determines the batches).
    """

    strategy: str
    batch: int
    preset: str
    generator: str
    sampling: str
    n_fixed: int
    sigma: float | None
    hl_sigmas: list[float] | None
    walkers_dir: str | Path | None
    seed: int
    rank: int
    decode_chunk: int | None
    precision: str
    device: torch.device
    dataset: str
    image_size: int | None
    data_spec: ImageSpec
    record: dict = field(default_factory=dict)
    hl_keep: int = 0
    hl_scale: float = 1.0

    @property
    def stream_seed(self) -> int:
        """The seed of this rank's stream (rank 0: ``seed`` itself; :func:`hlwb.distributed` rule)."""
        return L.row_seed(self.seed, self.rank, L.EXTRA) if self.rank else self.seed

    def require_spec(self, model: ImageSpec, what: str) -> None:
        """Refuse a generator built for another image spec than the dataset's, naming both."""
        require_same(model, self.data_spec, f"{what} (view strategy {self.strategy!r}, dataset {self.dataset!r})")


@dataclass(frozen=True)
class Strategy:
    """One view strategy.

    ``build(request) -> ViewSource``; ``params``: the :func:`make_source` arguments it reads (beyond
    batch, augment, seed, rank and device); ``help``: one line, the positive of an anchor;
    ``paper_preset``: its T_x under ``augment="paper"`` (``no_color`` for the HL strategies and their
    controls, ``simclr`` for the baselines); ``needs``: arguments that must be given (not None);
    ``walker_folder``: a learned strategy's walker folder under notebook 03's ``walkers_dir``.
    """

    name: str
    build: Callable[[ViewRequest], ViewSource]
    params: tuple[str, ...]
    help: str
    paper_preset: str
    needs: tuple[str, ...] = ()
    walker_folder: str | None = None

    def __post_init__(self) -> None:
        if self.paper_preset not in PRESETS:
            raise KeyError(f"strategy {self.name!r}: paper_preset {self.paper_preset!r} is not a preset; "
                           f"valid: {', '.join(PRESETS)}")


STRATEGIES: dict[str, Strategy] = {}
NEEDS = {"walkers_dir": "the walkers folder of notebook 03 (learned walkers)"}


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` to :data:`STRATEGIES` (a name registered twice is refused)."""
    if strategy.name in STRATEGIES:
        raise KeyError(f"view strategy {strategy.name!r} is already registered")
    STRATEGIES[strategy.name] = strategy
    return strategy


def lookup(name: str) -> Strategy:
    """The registry entry of ``name``; an unknown name lists the valid ones."""
    if name not in STRATEGIES:
        raise KeyError(f"unknown view strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def preset_for(strategy_name: str, augment: str, fair_preset: str = FAIR_PRESET) -> str:
    """T_x of a strategy: ``paper`` (its registry entry's ``paper_preset``) or ``fair`` (``fair_preset``)."""
    s = lookup(strategy_name)
    if augment == "paper":
        return s.paper_preset
    if augment == "fair":
        return fair_preset
    raise KeyError(f"augment must be 'paper' or 'fair', got {augment!r}")


GENERATED = ("generator", "sampling", "n_fixed", "decode_chunk", "precision")  # what every generated strategy reads


def _real(req: ViewRequest) -> ViewSource:
    from . import data, devices

    images = devices.to_device(data.load(req.dataset, "train", req.image_size).float_images(), req.device)
    src = RealViews(images, req.batch, preset=req.preset, seed=req.stream_seed)
    if req.dataset != DEFAULT_DATASET or req.image_size is not None:  # the default's record is as before datasets
        req.record.update(dataset=req.dataset, image_size=src.image_spec.size)
    src.spec = req.record
    return src


def finish_generated(src: ViewSource, req: ViewRequest) -> ViewSource:
    """The tail every generated strategy shares: the decode precision in the record (bf16 views are
    other views) and, for ``sampling="fixed"``, an offline set of ``n_fixed`` pairs."""
    if req.precision != "fp32":
        req.record["precision"] = req.precision
    if req.sampling == "fixed":
        src = FixedViews(src, req.n_fixed, seed=req.seed)
        req.record["n_fixed"] = req.n_fixed
    src.spec = req.record
    return src


def walker_strategy(make_walker: Callable[[HLGenerator, ViewRequest], Walker]) -> Callable[[ViewRequest], ViewSource]:
    """The builder of a strategy whose positive is ``g(walker(z))``: the generator (checked against the
    dataset's spec), ``make_walker(gen, request)``, continuous or fixed sampling."""

    def build(req: ViewRequest) -> ViewSource:
        from . import checkpoint
        from . import generators as G

        gen = G.load(req.generator, device=req.device)
        req.require_spec(gen.spec, f"generator {req.generator!r}")
        gpath = G.shipped_path(req.generator) if req.generator in G.SHIPPED else Path(req.generator)
        req.record.update(generator=str(req.generator), generator_sha256=checkpoint.file_sha256(gpath),
                          sampling=req.sampling)
        walker = make_walker(gen, req)
        req.record["walker"] = type(walker).__name__
        if hasattr(walker, "sigmas"):
            req.record.update(sigmas=[round(float(v), 6) for v in walker.sigmas], truncation=walker.truncation,
                              mode=getattr(walker, "mode", None), tied=bool(getattr(walker, "tied", False)))
        src = GeneratedViews(gen, walker, req.batch, preset=req.preset, seed=req.seed, rank=req.rank,
                             decode_chunk=req.decode_chunk, precision=req.precision)
        return finish_generated(src, req)

    return build


def _identity(gen: HLGenerator, req: ViewRequest) -> Walker:
    from .walkers import IdentityWalker

    return IdentityWalker(gen.chunks)


def _hl_random(gen: HLGenerator, req: ViewRequest) -> Walker:
    from .walkers import ChunkNoiseWalker

    sig, trunc = (req.hl_sigmas, 2.0) if req.hl_sigmas is not None else paper_rule(gen)
    return ChunkNoiseWalker(gen.chunks, sig, truncation=trunc)


def _hl_keep(gen: HLGenerator, req: ViewRequest) -> Walker:
    from .walkers import ChunkNoiseWalker

    req.record["hl_keep"] = req.hl_keep
    return ChunkNoiseWalker(gen.chunks, *keep_sigmas(gen, req.hl_keep))


def _hl_scaled(gen: HLGenerator, req: ViewRequest) -> Walker:
    from .walkers import ChunkNoiseWalker

    req.record["hl_scale"] = req.hl_scale
    sig, trunc = scaled_sigmas(gen, req.hl_scale)
    return ChunkNoiseWalker(gen.chunks, sig, truncation=trunc)


def _flat_matched(gen: HLGenerator, req: ViewRequest) -> Walker:
    if req.hl_scale != 1.0:  # scale 1 keeps the record it had before the strength controls (like precision)
        req.record["hl_scale"] = req.hl_scale
    return flat_matched_walker(gen, scale=req.hl_scale)


def _learned(gen: HLGenerator, req: ViewRequest) -> Walker:
    from . import checkpoint

    walker = learned_walker(req.strategy, gen, req.walkers_dir)
    req.record["walker_sha256"] = checkpoint.file_sha256(
        Path(req.walkers_dir) / _learned_folder(req.strategy) / "walker.pt")
    return walker


for _s in (
    Strategy("real", _real, ("dataset", "image_size"), "two augmentations of the same real image", "simclr"),
    Strategy("synth", walker_strategy(_identity), GENERATED,
             "the same generated image g(z), augmented twice (T_z = identity)", "simclr"),
    Strategy("gaussian", walker_strategy(lambda gen, req: genrep_walker(gen, req.sigma)), (*GENERATED, "sigma"),
             "GenRep: g(z + N(0, sigma^2)) on every chunk (sigma 0.2 BigGAN, 0.25 StyleGAN)", "simclr"),
    Strategy("learned_all", walker_strategy(_learned), (*GENERATED, "walkers_dir"),
             "COP-Gen: g(T(z)), T notebook 03's walker over all chunks", "simclr",
             needs=("walkers_dir",), walker_folder="all"),
    Strategy("hl_random", walker_strategy(_hl_random), (*GENERATED, "hl_sigmas"),
             "per-chunk noise: the paper's rule, or sigma_i = notebook 04's delta_i (hl_rule delta)", "no_color"),
    Strategy("hl_learned", walker_strategy(_learned), (*GENERATED, "walkers_dir"),
             "notebook 03's walker over chunks 1..K-1, the global chunk fixed", "no_color",
             needs=("walkers_dir",), walker_folder="hl"),
    # the control of the HL arm gets the HL arm's T_x
    Strategy("flat_matched", walker_strategy(_flat_matched), (*GENERATED, "hl_scale"),
             "every chunk at one sigma giving the mean ||z' - z|| of the paper rule scaled by hl_scale "
             "(1: the paper-rule arm's; hierarchy vs strength)", "no_color"),
    # the controls of issue 29 (docs/methods.md §2): which chunk stays fixed, strength, GenRep with chunk 0 fixed
    Strategy("hl_keep", walker_strategy(_hl_keep), (*GENERATED, "hl_keep"),
             "the paper rule's sigma on every chunk but chunk hl_keep, which stays fixed (0: the rule itself)",
             "no_color"),
    Strategy("hl_scaled", walker_strategy(_hl_scaled), (*GENERATED, "hl_scale"),
             "the paper rule's sigmas times hl_scale on chunks 1..K-1, chunk 0 as the rule (1: the rule itself)",
             "no_color"),
    Strategy("gaussian_keep0", walker_strategy(lambda gen, req: genrep_walker(gen, req.sigma, keep=(0,))),
             (*GENERATED, "sigma"), "GenRep's g(z + N(0, sigma^2)) with chunk 0 fixed (the same noise on the others)",
             "no_color"),
):
    register(_s)


def make_source(strategy: str, batch: int, augment: str = "paper", generator: str = "biggan",
                sampling: str = "continuous", n_fixed: int = 10_000, sigma: float | None = None,
                hl_sigmas: list[float] | None = None, walkers_dir: str | Path | None = None,
                seed: int = 0, rank: int = 0, decode_chunk: int | None = None, precision: str = "fp32",
                device: str | torch.device = "auto", dataset: str = DEFAULT_DATASET,
                image_size: int | None = None, hl_keep: int = 0, hl_scale: float = 1.0) -> ViewSource:
    """A view source by strategy name (:data:`STRATEGIES`; ``rcg`` once :mod:`hlwb.rcg` is imported).

    ``dataset`` (an :mod:`hlwb.data` name or ``folder:PATH``) at ``image_size`` (None: its own): the
    real images of ``real`` (its train split), and the image spec every generated strategy's
    generator must have (refused otherwise, naming both specs: :func:`hlwb.spec.require_same`).

    ``gaussian``: GenRep's sigma (None: 0.2 for BigGAN, 0.25 for StyleGAN). ``hl_random``: the
    per-chunk ``hl_sigmas`` (notebook 04's delta_i, noise truncated at 2 sigma) or, without
    them, the paper's rule (:func:`paper_rule`). ``flat_matched``: every chunk at the one sigma
    that gives the mean ||z' - z|| of the paper rule scaled by ``hl_scale`` (1: the paper-rule arm's;
    :func:`flat_matched_walker`). The controls: ``hl_keep`` (the rule's sigma on every chunk but chunk
    ``hl_keep``, :func:`keep_sigmas`), ``hl_scaled`` (the rule's sigmas on chunks 1..K-1 times ``hl_scale``,
    :func:`scaled_sigmas`), ``gaussian_keep0`` (GenRep's ``sigma`` with chunk 0 fixed). A strategy ignores
    the arguments it does not read (its entry's ``params``: ``sigma``, ``hl_keep``, ``hl_scale``), and
    records the ones it reads in ``spec`` (``flat_matched``'s ``hl_scale`` when not 1). ``learned_all`` / ``hl_learned``: the walkers
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
    from . import data, devices

    entry = lookup(strategy)
    if sampling not in ("continuous", "fixed"):
        raise KeyError(f"sampling must be 'continuous' or 'fixed', got {sampling!r}")
    amp.check(precision)
    preset = preset_for(strategy, augment)
    dev = devices.resolve(device)
    req = ViewRequest(strategy=strategy, batch=batch, preset=preset, generator=generator, sampling=sampling,
                      n_fixed=n_fixed, sigma=sigma, hl_sigmas=hl_sigmas, walkers_dir=walkers_dir, seed=seed,
                      rank=rank, decode_chunk=decode_chunk, precision=precision, device=dev, dataset=dataset,
                      image_size=image_size, data_spec=data.spec_of(dataset, image_size, split="train"),
                      record={"strategy": strategy, "augment": augment, "preset": preset, "batch": batch, "seed": seed},
                      hl_keep=hl_keep, hl_scale=hl_scale)
    for need in entry.needs:
        if getattr(req, need) is None:
            raise ValueError(f"strategy {strategy!r} needs {need}: {NEEDS.get(need, need)}")
    return entry.build(req)
