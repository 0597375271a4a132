"""A representation-conditioned BigGAN-style generator (RCG's stage 3, for a GAN) and its training.

Where the representation enters: a Linear(rep_dim -> (n_blocks + 1) * chunk_dim) maps the
(standardised) representation to one vector per latent chunk, added to that chunk before the
generator sees it. So the global chunk's linear layer (the 4x4 start tensor) and the
conditional batch-norms of every block (gain and bias are linear in their chunk) all receive it,
as BigGAN's shared class embedding reaches every conditional batch-norm. The Linear is
zero-initialised, as RCG conditions ADM: at init the generator is exactly the unconditional one,
so it can start from a trained unconditional BigGAN (``init=`` of :func:`train_rep_gan`).

Classifier-free guidance: in training, each sample's representation is replaced by a learnable
null vector with probability ``p_uncond`` (RCG: 0.1; null initialised N(0, 0.02^2) like RCG's
"fake latent"), from a per-step seed. At sampling, guidance scale w extrapolates the *conditioning*
away from the null branch, c_w = c(null) + (1 + w) (c(rep) - c(null)) with c = ``rep_proj`` the
embedding added to the latent chunks (``guide="condition"``, the default). RCG blends the two
branches' predictions, uncond + s (cond - uncond), inside every step of an iterative sampler; a GAN
makes one pass, so here the blend is taken where the condition enters the network (c is linear, so
c_w is the embedding of null + (1 + w) (rep - null)). The output extrapolation this module used
before, x = tanh((1 + w) a(z, rep) - w a(z, null)) on the pre-tanh image a, is kept as
``guide="output"`` and is named so wherever it is used: it is not RCG's guidance. w = 0 is the
conditional image under either guide, and ``rep=None`` the unconditional (null-vector) image.

The discriminator is conditional by projection (Miyato & Koyama 2018):
D(x, r) = psi(h(x)) + <E r, h(x)>; for the dropped samples it gets r = 0, i.e. it is unconditional.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from .. import checkpoint, devices
from .. import latents as L
from ..distributed import digest as tensor_digest
from ..generators.base import doublings
from ..generators.biggan import BigGANGenerator, Discriminator
from ..generators.training import ema_update, hinge_d_loss, hinge_g_loss
from ..ranges import check_ranges
from ..spec import LEGACY, ImageSpec, check
from ..train import check_finite, check_work_dir, fit
from .rdm import IndexedBatches
from .space import standardize

GUIDES = ("condition", "output")
"""Where guidance blends: the conditioning embedding (RCG's classifier-free guidance, one pass) or the
pre-tanh output (an output extrapolation, two passes; kept for comparison, named so)."""


class RepConditionedGenerator(BigGANGenerator):
    """BigGAN-style generator conditioned on a representation ``rep (N, rep_dim)``; images (N, C, S, S)
    of ``spec`` (S = 4 * 2**n_blocks; :meth:`from_spec` builds one for an image spec)."""

    family = "biggan-rep"

    def __init__(self, ch: int = 32, chunk_dim: int = 20, n_blocks: int = doublings(LEGACY.size), rep_dim: int = 64,
                 channels: int = LEGACY.channels):
        super().__init__(ch, chunk_dim, n_blocks, channels)
        self.rep_dim = rep_dim
        self.rep_proj = nn.Linear(rep_dim, chunk_dim * (n_blocks + 1))
        nn.init.zeros_(self.rep_proj.weight)  # starts as the unconditional generator
        nn.init.zeros_(self.rep_proj.bias)
        self.null = nn.Parameter(0.02 * torch.randn(rep_dim))  # the learnable "no representation"

    def config(self) -> dict:
        return {**super().config(), "rep_dim": self.rep_dim}

    def with_null(self, rep: Tensor | None, drop: Tensor | None = None) -> Tensor | None:
        """``rep`` with the rows where ``drop (N,)`` is true replaced by the null vector."""
        if rep is None or drop is None:
            return rep
        return torch.where(drop[:, None], self.null.expand_as(rep), rep)

    def condition(self, latents: L.Latents, rep: Tensor | None, guidance: float = 0.0) -> L.Latents:
        """Latents with the projected representation added chunk by chunk (``rep=None``: the null vector).

        ``guidance`` w != 0: classifier-free guidance on the conditioning, the embedding
        ``c(null) + (1 + w) (c(rep) - c(null))`` added instead (``rep=None``: nothing to guide).
        :meth:`prefix` and :meth:`from_prefix` (inherited) take conditioned latents.
        """
        n = L.check(self.chunks, latents)
        if rep is None:
            rep, guidance = self.null.expand(n, -1), 0.0
        if rep.shape != (n, self.rep_dim):
            raise ValueError(f"rep must be ({n}, {self.rep_dim}), got {tuple(rep.shape)}")
        c = self.rep_proj(rep)  # (N, (n_blocks + 1) * chunk_dim)
        if guidance != 0:
            c_null = self.rep_proj(self.null)[None]  # (1, (n_blocks + 1) * chunk_dim)
            c = c_null + (1 + guidance) * (c - c_null)
        return [z + ck for z, ck in zip(latents, c.split(self.chunk_dim, dim=1))]  # n_blocks + 1 chunks

    def activation(self, latents: L.Latents, rep: Tensor | None = None, guidance: float = 0.0) -> Tensor:
        """The pre-tanh image (N, C, S, S), with guidance ``w`` on the conditioning (:meth:`condition`)."""
        z = self.condition(latents, rep, guidance)
        return self.out_conv(F.relu(self.out_bn(self.prefix(z, len(self.chunks)))))

    def guided(self, latents: L.Latents, rep: Tensor | None, guidance: float, guide: str = "condition") -> Tensor:
        """The guided pre-tanh image (N, C, S, S): ``guide="condition"``, guidance on the conditioning
        (RCG's classifier-free guidance, one pass); ``"output"``, the output extrapolation
        ``(1 + w) a(z, rep) - w a(z, null)`` (two passes; not RCG's guidance). w = 0 or ``rep=None``: one pass."""
        if guide not in GUIDES:
            raise ValueError(f"guide must be one of {GUIDES}, got {guide!r}")
        if guide == "condition":
            return self.activation(latents, rep, guidance)
        a = self.activation(latents, rep)
        if rep is not None and guidance != 0:
            a = (1 + guidance) * a - guidance * self.activation(latents, None)
        return a

    def forward(self, latents: L.Latents, rep: Tensor | None = None) -> Tensor:
        return torch.tanh(self.activation(latents, rep))

    @torch.no_grad()
    def generate(self, latents: L.Latents, rep: Tensor | None = None, guidance: float = 0.0,
                 batch_size: int = 512, guide: str = "condition") -> Tensor:
        """Eval-mode images (N, C, S, S), batch by batch, at guidance w = ``guidance`` (:meth:`guided`:
        ``guide="condition"`` on the conditioning, ``"output"`` the output extrapolation).

        ``rep=None``: the unconditional image (guidance has nothing to blend). w = 0 computes
        only the conditional pass.
        """
        was = self.training
        self.eval()
        n = L.check(self.chunks, latents)
        out = []
        for i in range(0, n, batch_size):
            z = [t[i:i + batch_size] for t in latents]
            r = None if rep is None else rep[i:i + batch_size]
            out.append(torch.tanh(self.guided(z, r, guidance, guide)))
        self.train(was)
        return torch.cat(out)

    @torch.no_grad()
    def recompute_statistics(self, seed: int, n_batches: int = 64, batch: int = 256,
                             reps: Tensor | None = None, p_uncond: float = 0.0) -> None:
        """Standing batch-norm statistics (BigGAN) over batches conditioned as in training:
        representations drawn from ``reps`` (seeded), a fraction ``p_uncond`` replaced by the null
        vector; ``reps=None``: unconditional batches."""
        bns = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average
        self.train()
        for b in range(n_batches):
            s = seed * 100_003 + b
            r = None
            if reps is not None:
                g = L.make_generator(s)
                r = devices.to_device(reps[torch.randint(len(reps), (batch,), generator=g)], self.device)
                r = self.with_null(r, devices.to_device(torch.rand(batch, generator=g) < p_uncond, self.device))
            self(self.sample_latents(batch, seed=s), r)
        for bn in bns:
            bn.momentum = 0.1
        self.eval()


class RepDiscriminator(Discriminator):
    """Projection discriminator: ``psi(h) + <E rep, h>``; ``rep`` rows of zeros (or None) are unconditional."""

    def __init__(self, ch: int = 64, rep_dim: int = 64, channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__(ch, channels, size)
        self.rep_dim = rep_dim
        self.embed = spectral_norm(nn.Linear(rep_dim, ch, bias=False))

    def config(self) -> dict:
        return {**super().config(), "rep_dim": self.rep_dim}

    def forward(self, x: Tensor, rep: Tensor | None = None) -> Tensor:
        h = self.features(x)  # (N, ch); images of another spec are refused
        out = self.head(h).squeeze(1)  # (N,)
        return out if rep is None else out + (self.embed(rep) * h).sum(1)


@dataclass(frozen=True)
class RepGANConfig:
    """Training of the representation-conditioned generator (hinge loss, as GANConfig)."""

    rep_dim: int = 64
    steps: int = 4000
    batch: int = 64
    g_ch: int = 24
    d_ch: int = 48
    chunk_dim: int = 20
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.999
    ema: float = 0.999
    ema_start: int = 500
    p_uncond: float = 0.1      # RCG: the representation is dropped to the null vector 10 % of the time
    stat_batches: int = 64     # batches for the EMA generator's standing statistics
    seed: int = 0
    ckpt_every: int = 250

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES


def train_rep_gan(pairs: IndexedBatches | tuple[Tensor, Tensor], cfg: RepGANConfig,
                  work_dir: str | Path | None = None, init: BigGANGenerator | None = None,
                  device: str | torch.device = "auto",
                  unconditional: bool = False) -> tuple[RepConditionedGenerator, list[dict]]:
    """Train on (image, representation of that image) pairs through :func:`hlwb.train.fit`.

    Args:
        pairs: ``(images (N, C, S, S) uint8 or in [-1, 1], reps (N, rep_dim))`` (reps are
            standardised here), or an :class:`IndexedBatches` of float images and standardised reps.
            G and D are built for the images' spec (C x S x S, S a power of two).
        init: an unconditional BigGAN of the same size and channels to start from (the rep
            projection is zero, so training starts from exactly its images).
        work_dir: ``train_state.pt`` and ``log.jsonl``; a killed run resumes bit-identically.
        device: :func:`hlwb.devices.resolve`; G, D (initialised on the host under the seed), the
            EMA copy and every step live there; batches, dropout and latents are host draws
            copied there (the same on every device).
        unconditional: every sample gets the null vector (and D no representation): the same
            architecture, data order, steps and batch as a conditioned run, with the condition dropped
            always (the conditioning ablation's unconditional row at the conditioned rows' budget).
    Returns the EMA generator (standing statistics recomputed, eval mode) and the logged steps.
    """
    device = devices.resolve(device)
    if not isinstance(pairs, IndexedBatches):
        images, reps = pairs
        images = images.float().div(127.5).sub(1.0) if images.dtype == torch.uint8 else images.float()
        pairs = IndexedBatches(images, standardize(reps), batch=cfg.batch, seed=cfg.seed)
    images, reps = pairs.tensors[0], pairs.tensors[1]
    if reps.shape[1] != cfg.rep_dim:
        raise ValueError(f"representations have width {reps.shape[1]}, the config rep_dim={cfg.rep_dim}")
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, S, S), got {tuple(images.shape)}")
    spec = ImageSpec(int(images.shape[1]), int(images.shape[-1]))
    check(images, spec, "the representation-conditioned generator")  # square images
    meta = {"config": dataclasses.asdict(cfg), "data": pairs.spec}
    if unconditional:
        meta["unconditional"] = True  # p_uncond is 1 in effect (the config's p_uncond is not used)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        G = RepConditionedGenerator.from_spec(spec, ch=cfg.g_ch, chunk_dim=cfg.chunk_dim, rep_dim=cfg.rep_dim)
        D = RepDiscriminator(cfg.d_ch, cfg.rep_dim, spec.channels, spec.size)
    if init is not None:
        if init.config() != {k: v for k, v in G.config().items() if k != "rep_dim"}:
            raise ValueError(f"init generator {init.config()} does not match g_ch={cfg.g_ch}, chunk_dim={cfg.chunk_dim} "
                             f"and the images' spec {spec.describe()}")
        missing, unexpected = G.load_state_dict(init.state_dict(), strict=False)
        if unexpected or set(missing) != {"rep_proj.weight", "rep_proj.bias", "null"}:
            raise ValueError(f"init generator does not fit: missing {missing}, unexpected {unexpected}")
        meta["init"] = {"config": init.config(), "sha256": tensor_digest(init.state_dict().values()).hex()}
    if work_dir:
        check_work_dir(Path(work_dir) / "train_state.pt", meta, cfg.steps, ignore=("steps",))
    G, D = G.to(device), D.to(device)
    G_ema = copy.deepcopy(G).eval()
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))

    def step(i: int) -> dict[str, float]:
        x_real, r = (devices.to_device(t, device) for t in pairs.batch_at(i))
        g = L.make_generator(L.row_seed(cfg.seed, i, L.EXTRA))
        drop = torch.rand(len(r), generator=g) < cfg.p_uncond  # (B,) classifier-free dropout
        drop = devices.to_device(drop | unconditional, device)  # unconditional: every row dropped
        r_d = r.masked_fill(drop[:, None], 0.0)  # D sees no representation where G sees the null vector
        z = G.sample_latents(2 * len(r), seed=L.row_seed(cfg.seed, i, L.RESAMPLE))
        z_d, z_g = [t[:len(r)] for t in z], [t[len(r):] for t in z]
        with torch.no_grad():
            x_fake = G(z_d, G.with_null(r, drop))
        loss_d = hinge_d_loss(D(x_real, r_d), D(x_fake, r_d))
        check_finite("loss_d", loss_d, i)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        loss_g = hinge_g_loss(D(G(z_g, G.with_null(r, drop)), r_d))
        check_finite("loss_g", loss_g, i)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema_update(G_ema, G, 0.0 if i < cfg.ema_start else cfg.ema)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    work = Path(work_dir) if work_dir else None
    records = fit(step, modules={"G": G, "D": D, "G_ema": G_ema}, optimizers={"g": opt_g, "d": opt_d},
                  steps=cfg.steps, ckpt_path=work / "train_state.pt" if work else None,
                  ckpt_every=cfg.ckpt_every, meta=meta, desc="train-rep-gan",
                  log_path=work / "log.jsonl" if work else None, log_every=10, seed=cfg.seed, ignore=("steps",))
    G_ema.recompute_statistics(seed=cfg.seed + 7, n_batches=cfg.stat_batches, batch=cfg.batch, reps=reps,
                               p_uncond=1.0 if unconditional else cfg.p_uncond)
    G_ema.run_meta = meta
    return G_ema, records


def save_rep_generator(path: str | Path, gen: RepConditionedGenerator, meta: dict | None = None) -> None:
    """Write the generator (config, image spec, weights, metadata) and its digest sidecar."""
    meta = meta if meta is not None else getattr(gen, "run_meta", {})
    checkpoint.save(path, {"config": gen.config(), "spec": gen.spec.record(), "state_dict": gen.state_dict(),
                           "meta": meta}, kind="rep-generator")
    checkpoint.write_sidecar(path, meta)


def load_rep_generator(path: str | Path, device: str | torch.device = "auto") -> RepConditionedGenerator:
    """A generator written by :func:`save_rep_generator`, in eval mode, with ``.meta``, on ``device``
    (:func:`hlwb.devices.resolve`); a file without a spec is 1 x 32 x 32, a recorded spec that is
    not the built generator's is refused."""
    device = devices.resolve(device)
    state = checkpoint.load(path, kind="rep-generator", map_location=device)
    checkpoint.require(path, state, "config", "state_dict")
    gen = checkpoint.build_module(path, RepConditionedGenerator, state["config"], what="rep-generator")
    checkpoint.recorded_spec(path, state, gen.spec, "rep-generator")
    checkpoint.load_weights(path, gen, state["state_dict"])
    gen.meta = state.get("meta", {})
    return gen.to(device).eval()
