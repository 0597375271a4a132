"""The latent explorer's core: settings in, images and oracle labels out (no widgets here).

``ExplorerState`` is everything a view shows; ``render(state)`` is a pure function of it
(given the cached generator, oracle and directions), so the widget in :mod:`hlwb.widgets`
is a thin shell and the logic is tested without a browser. The strip of positives is
exactly what the per-chunk view generator feeds an encoder: :func:`hlwb.latents.perturb`
with the state's per-chunk sigma and the positive seed.

Every function that computes takes ``device`` (:func:`hlwb.devices.resolve`, default "auto"):
the generator is loaded (and cached) there, its images and directions live there; anchors and
noise are drawn on the host, so a state shows the same codes on every device.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import data, devices
from . import generators as G
from . import latents as L
from . import oracle as oracle_mod

# control ranges (the widget's sliders use them; settings outside are refused on import)
SEED_MAX, ALPHA_MAX, SIGMA_MAX, TRUNCATION_MAX = 50, 6.0, 2.0, 3.0
TRUNCATION_MIN = L.MIN_TRUNCATION  # the anchors' rejection sampling stays cheap above it
POSITIVES_MAX = 64
SEED_LIMIT = 2**63 - 1  # anchor and positive seeds: any non-negative 64-bit seed (hlwb.latents.row_seed)


class ExplorerError(ValueError):
    """Settings that cannot be shown (unknown generator, wrong chunk sizes, bad JSON)."""


@dataclass
class ChunkControl:
    """Controls of one chunk: resample seed (0 = the anchor's own), step along a direction, sigma, lock.

    A locked chunk keeps the value its seed and direction give it now, and its positives do not
    move it (its sigma is not applied); the widget freezes its controls while it is locked."""

    seed: int = 0
    alpha: float = 0.0
    sigma: float = 0.0
    locked: bool = False


@dataclass
class ExplorerState:
    generator: str = "biggan"
    anchor_seed: int = 0
    truncation: float = 2.0
    directions: str = "random"  # "random" unit direction per chunk, or "pca" (principal)
    n_positives: int = 6
    positive_seed: int = 0
    chunks: list[ChunkControl] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> ExplorerState:
        raw = d.get("chunks", [])
        if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
            raise ExplorerError(f"settings JSON: \"chunks\" must be a list of objects, one per chunk, got {raw!r:.60}")
        try:
            chunks = [ChunkControl(**c) for c in raw]
            return cls(**{**d, "chunks": chunks})
        except TypeError as e:
            raise ExplorerError(f"settings JSON has an unexpected field: {e}") from None


@dataclass
class Rendered:
    anchor: torch.Tensor        # (1, C, S, S): the generator's spec
    positives: torch.Tensor     # (K, C, S, S)
    labels: list[str]           # oracle label of anchor, then of each positive
    confidences: list[float]
    latents: L.Latents          # the anchor's edited latent code
    png: bytes                  # the composed view: anchor (large) beside the positive strip


_GENS: dict[tuple[str, str], G.HLGenerator] = {}
_DIRS: dict[tuple, list[torch.Tensor]] = {}


def generator(name: str, device: str | torch.device = "auto") -> G.HLGenerator:
    """A shipped generator or checkpoint path, loaded once per device; errors become ExplorerError
    (an unavailable ``device`` is refused as :func:`hlwb.devices.resolve` refuses it)."""
    key = (name, str(devices.resolve(device)))
    if key not in _GENS:
        try:
            _GENS[key] = G.load(name, device=key[1])
        except Exception as e:  # noqa: BLE001 - shown in the widget as a message
            raise ExplorerError(f"cannot load generator {name!r}: {e}") from None
    return _GENS[key]


DEFAULT_FINE_SIGMA = 0.5
"""σ of the finest chunk on the first screen: the positives then differ from the anchor in detail only,
which is the hierarchy at a glance (σ = 0 everywhere would show six copies of the anchor)."""


def default_state(gen_name: str = "biggan", device: str | torch.device = "auto") -> ExplorerState:
    gen = generator(gen_name, device)
    chunks = [ChunkControl() for _ in gen.chunks]
    chunks[-1].sigma = DEFAULT_FINE_SIGMA
    return ExplorerState(generator=gen_name, truncation=gen.default_truncation or 2.0, chunks=chunks)


VIEW_SIZE = 224
"""The anchor's side in px in a composed view: with its strip of positives 521 px wide, beside the
controls on a 1366 px laptop screen (:mod:`hlwb.widgets`)."""
CONFIDENT_P = 0.9
"""The oracle confidence an anchor of the first screen must reach (:func:`confident_anchor`)."""
ANCHOR_SEARCH, ANCHOR_BLOCK = 64, 16  # anchor seeds searched for a confident one, decoded this many at a time


@torch.no_grad()
def confident_anchor(gen_name: str, oracle: oracle_mod.Oracle | None = None, start: int = 0,
                     n_positives: int = 6, level: float = CONFIDENT_P, n: int = ANCHOR_SEARCH,
                     device: str | torch.device = "auto") -> int:
    """The anchor seed the first screen shows: the first of ``start .. start + n - 1`` whose anchor the
    oracle labels with probability >= ``level`` and whose ``n_positives`` positives of the default
    state (only the finest chunk moves, σ = :data:`DEFAULT_FINE_SIGMA`) all keep that label, so the
    first screen shows the hierarchy rather than an ambiguous image; deterministic (seeds in order).
    With no such seed, the most confident anchor searched."""
    gen = generator(gen_name, device)
    orc = oracle or oracle_mod.load(device=gen.device)
    state = default_state(gen_name, device)
    state.n_positives = n_positives
    best, best_p = start, -1.0
    for lo in range(start, start + n, ANCHOR_BLOCK):  # blocks of seeds: a confident one is usually early
        seeds = range(lo, min(lo + ANCHOR_BLOCK, start + n))
        z = [torch.cat(parts) for parts in zip(*(gen.sample_latents(1, seed=s, truncation=state.truncation)
                                                  for s in seeds))]  # one (len(seeds), dim) tensor per chunk
        conf, lab = orc.probs(gen.generate(z)).max(1)  # (len(seeds),) each
        for i in (conf >= level).nonzero().flatten().tolist():
            zp = positive_latents(state, [t[i:i + 1] for t in z], device)
            if not n_positives or bool((orc.probs(gen.generate(zp)).argmax(1) == lab[i]).all()):
                return seeds[i]
        if float(conf.max()) > best_p:
            best, best_p = seeds[int(conf.argmax())], float(conf.max())
    return best


def random_directions(gen: G.HLGenerator, seed: int = 0) -> list[torch.Tensor]:
    """One seeded random unit vector per chunk (drawn on the host), on the generator's device."""
    g = L.make_generator(seed)
    vs = [torch.randn(c.dim, generator=g) for c in gen.chunks]
    return [(v / v.norm()).to(gen.device) for v in vs]


def principal_directions(gen: G.HLGenerator, n_anchors: int = 32, seed: int = 0) -> list[torch.Tensor]:
    """Per chunk, the latent direction that changes the image most (first principal direction).

    For chunk k the image change is dx ~ J_k dz_k; the directions maximising E||J_k u||^2 are
    the top eigenvectors of E[J_k^T J_k], estimated with forward-mode derivatives over
    ``n_anchors`` anchors (GANSpace-like, but measured in image space directly).
    """
    z = gen.sample_latents(n_anchors, seed=seed)
    gen.eval()
    out = []
    for k, c in enumerate(gen.chunks):
        def f(zk, k=k):
            return gen(L.replace_chunk(z, k, zk)).flatten(1)  # (N, 1024)

        cols = []
        for j in range(c.dim):
            e = torch.zeros_like(z[k])
            e[:, j] = 1.0
            cols.append(torch.func.jvp(f, (z[k],), (e,))[1])  # (N, 1024): d image / d z_kj
        jac = torch.stack(cols, dim=2)  # (N, 1024, dim)
        m = torch.einsum("npi,npj->ij", jac, jac) / n_anchors  # (dim, dim)
        _, evecs = torch.linalg.eigh(m)
        out.append(evecs[:, -1].detach())
    return out


def directions(state: ExplorerState, device: str | torch.device = "auto") -> list[torch.Tensor]:
    gen = generator(state.generator, device)
    key = (state.generator, state.directions, str(gen.device))
    if key not in _DIRS:
        if state.directions == "random":
            _DIRS[key] = random_directions(gen)
        elif state.directions == "pca":
            _DIRS[key] = principal_directions(gen)
        else:
            raise ExplorerError(f"directions must be 'random' or 'pca', got {state.directions!r}")
    return _DIRS[key]


def _int_in(v: object, lo: int, hi: int) -> bool:
    """``v`` is an int (not a bool: JSON ``true`` loads as one) in ``[lo, hi]``."""
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number_in(v: object, lo: float, hi: float) -> bool:
    """``v`` is a finite int or float (not a bool) in ``[lo, hi]``; 10**400 or NaN is not."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v)) and lo <= float(v) <= hi
    except OverflowError:
        return False


def validate(state: ExplorerState, device: str | torch.device = "auto") -> G.HLGenerator:
    """Refuse settings outside the controls' ranges (:class:`ExplorerError` naming the field and its
    value), then load the generator and check the chunk controls fit it; returns the generator."""
    checks = [  # (valid, field, what it must be, its value)
        (isinstance(state.generator, str) and state.generator != "", "generator",
         "a shipped name or a checkpoint path", state.generator),
        (_int_in(state.anchor_seed, 0, SEED_LIMIT), "anchor_seed", f"an int in 0..{SEED_LIMIT}", state.anchor_seed),
        (_int_in(state.positive_seed, 0, SEED_LIMIT), "positive_seed", f"an int in 0..{SEED_LIMIT}",
         state.positive_seed),
        (_int_in(state.n_positives, 0, POSITIVES_MAX), "n_positives", f"an int in 0..{POSITIVES_MAX}",
         state.n_positives),
        (_number_in(state.truncation, TRUNCATION_MIN, TRUNCATION_MAX), "truncation",
         f"a number in [{TRUNCATION_MIN}, {TRUNCATION_MAX}] (below, sampling the anchors only slows down)",
         state.truncation),
        (isinstance(state.directions, str) and state.directions in ("random", "pca"), "directions",
         "'random' or 'pca'", state.directions),
        (isinstance(state.chunks, list) and all(isinstance(c, ChunkControl) for c in state.chunks), "chunks",
         "a list of chunk controls", state.chunks)]
    for k, c in enumerate(state.chunks if checks[-1][0] else []):
        checks += [(_int_in(c.seed, 0, SEED_MAX), f"chunk seed (chunk {k})", f"an int in 0..{SEED_MAX}", c.seed),
                   (_number_in(c.alpha, -ALPHA_MAX, ALPHA_MAX), f"chunk alpha (chunk {k})",
                    f"a number in [-{ALPHA_MAX}, {ALPHA_MAX}]", c.alpha),
                   (_number_in(c.sigma, 0, SIGMA_MAX), f"chunk sigma (chunk {k})", f"a number in [0, {SIGMA_MAX}]", c.sigma),
                   (isinstance(c.locked, bool), f"chunk locked (chunk {k})", "true or false", c.locked)]
    for ok, name, must, value in checks:
        if not ok:
            raise ExplorerError(f"{name} must be {must}, got {value!r:.60}")
    gen = generator(state.generator, device)
    if len(state.chunks) != len(gen.chunks):
        raise ExplorerError(f"settings have {len(state.chunks)} chunk controls but {state.generator!r} "
                            f"has {len(gen.chunks)} chunks ({', '.join(c.name for c in gen.chunks)})")
    return gen


def edited_latents(state: ExplorerState, device: str | torch.device = "auto") -> L.Latents:
    """The anchor's code after the per-chunk resample and direction controls (a locked chunk keeps
    the value they give it: locking freezes a chunk as it is, it never reverts it)."""
    gen = validate(state, device)
    z = gen.sample_latents(1, seed=state.anchor_seed, truncation=state.truncation)
    dirs = directions(state, device)
    for k, ctl in enumerate(state.chunks):
        if ctl.seed:
            z = L.resample_chunk(gen.chunks, z, k, seed=L.row_seed(state.anchor_seed, 1000 * (k + 1) + ctl.seed),
                                 truncation=state.truncation)
        if ctl.alpha:
            z = L.replace_chunk(z, k, z[k] + ctl.alpha * dirs[k][None])
    return z


def positive_latents(state: ExplorerState, z: L.Latents, device: str | torch.device = "auto") -> L.Latents:
    """K positives of the anchor (on ``z``'s device): per-chunk sigma (0 for locked chunks), the positive seed."""
    gen = generator(state.generator, device)
    zk = [t.expand(state.n_positives, -1) for t in z]
    sigmas = [0.0 if c.locked else c.sigma for c in state.chunks]
    return L.perturb(gen.chunks, zk, sigmas, seed=state.positive_seed)


def render(state: ExplorerState, oracle: oracle_mod.Oracle | None = None, size: int | None = None,
           device: str | torch.device = "auto") -> Rendered:
    """Images (on ``device``), oracle labels and the composed PNG for ``state`` (the anchor at ``size`` px,
    None: :data:`VIEW_SIZE`)."""
    gen = validate(state, device)
    orc = oracle or oracle_mod.load(device=gen.device)
    z = edited_latents(state, device)
    with torch.inference_mode():
        zp = positive_latents(state, z, device)
        x = gen.generate([torch.cat([a, b]) for a, b in zip(z, zp)] if state.n_positives else z)
    probs = orc.probs(x)
    conf, lab = probs.max(1)
    labels = [orc.spec.classes[i] for i in lab.tolist()]
    png = compose_png(x, labels, conf.tolist(), size=size or VIEW_SIZE)
    return Rendered(x[:1], x[1:], labels, conf.tolist(), z, png)


def composed_width(size: int = 256, n_positives: int = 3) -> int:
    """Width in px of :func:`compose_png`'s view: the anchor at ``size`` px, then up to three columns
    of positives at size / 2.5 px."""
    cols = max(1, min(n_positives, 3))
    return size + 12 + cols * (int(size / 2.5) + 6)


def compose_png(x: torch.Tensor, labels: list[str], conf: list[float], size: int = 256) -> bytes:
    """Anchor at ``size`` px, the positives in a strip at size/2.5 px; labels underneath."""
    from PIL import Image, ImageDraw

    u8 = data.to_uint8(x).cpu().numpy().transpose(0, 2, 3, 1)  # (N, H, W, C)
    u8 = u8[..., 0] if u8.shape[-1] == 1 else u8  # grayscale (N, H, W) or colour (N, H, W, 3)
    small = int(size / 2.5)
    k = len(u8) - 1
    cols = max(1, min(k, 3))
    rows = (k + cols - 1) // cols if k else 0
    text_h = 26  # two lines under each image: the full class name, then the oracle's confidence
    width = composed_width(size, k)
    height = max(size + text_h, rows * (small + text_h + 4)) + 4
    canvas = Image.new("L" if u8.ndim == 3 else "RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    canvas.paste(Image.fromarray(u8[0]).resize((size, size), Image.NEAREST), (0, 0))
    draw.text((2, size + 1), f"anchor: {labels[0]} ({conf[0]:.2f})", fill=0)
    for j in range(k):
        r, c = divmod(j, cols)
        x0, y0 = size + 12 + c * (small + 6), r * (small + text_h + 4)
        canvas.paste(Image.fromarray(u8[j + 1]).resize((small, small), Image.NEAREST), (x0, y0))
        draw.text((x0, y0 + small + 1), labels[j + 1], fill=0)
        draw.text((x0, y0 + small + 13), f"p = {conf[j + 1]:.2f}", fill=0)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@torch.no_grad()
def sigma_sweep(gen: G.HLGenerator, sigmas: list[float], anchor_seed: int = 0, seed: int = 0) -> torch.Tensor:
    """Images ``(K, n_sigmas, C, S, S)``: row k perturbs only chunk k, column s with ``sigmas[s]``.

    The same noise draw (``seed``) is scaled across a row, so a row shows one direction of
    change growing with sigma.
    """
    z = gen.sample_latents(1, seed=anchor_seed)
    rows = []
    for k in range(len(gen.chunks)):
        cols = []
        for s in sigmas:
            sig = [0.0] * len(gen.chunks)
            sig[k] = s
            cols.append(L.perturb(gen.chunks, z, sig, seed=seed))
        rows.append(gen.generate([torch.cat(parts) for parts in zip(*cols)]))
    return torch.stack(rows)


def export(state: ExplorerState, rendered: Rendered, stem: str | Path) -> tuple[Path, Path]:
    """Write ``stem.json`` (settings + the edited latents) and ``stem.png`` (the view)."""
    from .checkpoint import atomic_write_bytes, atomic_write_text

    stem = Path(stem)
    d = dataclasses.asdict(state)
    d["latents"] = [t[0].tolist() for t in rendered.latents]
    atomic_write_text(stem.with_suffix(".json"), json.dumps(d, indent=2) + "\n")
    atomic_write_bytes(stem.with_suffix(".png"), rendered.png)
    return stem.with_suffix(".json"), stem.with_suffix(".png")


LATENT_MAX = 1e6  # |z| of an exported code: anchors are within TRUNCATION_MAX, a step moves them by ALPHA_MAX


def _check_latents_shape(stored: object) -> None:
    """``latents`` of an exported file: a list with one list of numbers per chunk."""
    if not isinstance(stored, list):
        raise ExplorerError(f"settings JSON: \"latents\" must be a list with one list of numbers per chunk, "
                            f"got {type(stored).__name__} {stored!r:.60}")
    for k, v in enumerate(stored):
        if not isinstance(v, list):
            raise ExplorerError(f"settings JSON: latents[{k}] must be a list of numbers, "
                                f"got {type(v).__name__} {v!r:.60}")
        bad = next((x for x in v if not _number_in(x, -LATENT_MAX, LATENT_MAX)), None)
        if bad is not None:
            raise ExplorerError(f"settings JSON: latents[{k}] must hold numbers only, got {bad!r:.60} "
                                f"(each finite, within ±{LATENT_MAX:g})")


def load_settings(path_or_text: str | Path, device: str | torch.device = "auto") -> ExplorerState:
    """Settings from an exported JSON file (or its text); checks the stored latents' sizes (and
    values, computed with the generator on ``device``)."""
    text = str(path_or_text)
    if not text.lstrip().startswith("{"):  # a path
        p = Path(text).expanduser()
        if not p.is_file():
            raise ExplorerError(f"no settings file {p}")
        text = p.read_text()
    try:
        d = json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise ExplorerError(f"cannot read settings JSON: {e}") from None
    except RecursionError:
        raise ExplorerError("cannot read settings JSON: nested too deeply (an exported file is 3 levels deep)") from None
    if not isinstance(d, dict):
        raise ExplorerError("settings JSON must be an object")
    stored = d.pop("latents", None)
    if stored is not None:
        _check_latents_shape(stored)
    if not isinstance(d.get("generator", ""), str):
        raise ExplorerError(f"settings JSON: \"generator\" must be a name or a path, got {d['generator']!r:.60}")
    state = ExplorerState.from_dict(d)
    gen = validate(state, device)
    if stored is not None:
        sizes = [len(v) for v in stored]
        want = [c.dim for c in gen.chunks]
        if sizes != want:
            raise ExplorerError(f"stored latents have chunk sizes {sizes}, but {state.generator!r} "
                                f"expects {want}")
        if not np.allclose(np.concatenate(stored),
                           torch.cat([t[0] for t in edited_latents(state, device)]).cpu().numpy(), atol=1e-5):
            raise ExplorerError("stored latents do not match what the settings produce "
                                "(was the file edited, or made with another generator?)")
    return state
