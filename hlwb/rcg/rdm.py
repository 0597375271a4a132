"""The representation diffusion model (RDM) of RCG: a denoising diffusion over representations.

Li, Katabi, He, "Return of Unconditional Generation" (NeurIPS 2024), §3 and Tables 5, 8; the
constants below are theirs (docs/methods.md §7b). Representations are standardised per sample
(:func:`hlwb.rcg.space.standardize`, where the choice is argued). The network is an MLP of
residual blocks, each ``LayerNorm - SiLU - Linear`` plus a projected timestep embedding, then
``LayerNorm - SiLU - Linear`` back to the residual stream; every block's output layer and the
head are zero-initialised, so the model starts by predicting 0. It predicts x0 and is trained
with MSE under the scaled-linear schedule; DDIM (eta = 0) samples with the EMA weights.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import checkpoint, devices
from .. import latents as L
from ..distributed import digest as tensor_digest
from ..ranges import check_ranges
from ..train import check_finite, check_work_dir, fit
from .space import standardize

TIMESTEPS = 1000                       # RCG: T = 1000, t ~ Uniform{0 .. T-1}
BETA_START, BETA_END = 0.0015, 0.0195  # scaled-linear: sqrt(beta) linear between the roots


def scaled_linear_betas(timesteps: int = TIMESTEPS) -> Tensor:
    """beta_t = linspace(sqrt(0.0015), sqrt(0.0195), T)_t ** 2 (LDM's "linear"); (T,) float64."""
    return torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, timesteps, dtype=torch.float64) ** 2


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Sinusoidal features ``[cos(t f_j), sin(t f_j)]`` of timesteps ``t (N,)``; returns (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim - 2 * half))  # odd dim: one zero column


class ResBlock(nn.Module):
    """x + Linear_out(SiLU(LN(Linear_in(SiLU(LN(x))) + Linear_t(SiLU(emb))))); Linear_out starts at 0."""

    def __init__(self, width: int):
        super().__init__()
        self.norm_in = nn.LayerNorm(width, eps=1e-6)
        self.lin_in = nn.Linear(width, width)
        self.lin_t = nn.Linear(width, width)
        self.norm_out = nn.LayerNorm(width, eps=1e-6)
        self.lin_out = nn.Linear(width, width)
        nn.init.zeros_(self.lin_out.weight)  # the block is the identity at init (RCG latentmlp)
        nn.init.zeros_(self.lin_out.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.lin_in(F.silu(self.norm_in(x))) + self.lin_t(F.silu(emb))  # (N, width)
        return x + self.lin_out(F.silu(self.norm_out(h)))


class RDMNet(nn.Module):
    """x0-predictor ``(z_t (N, dim), t (N,)) -> (N, dim)``; predicts exactly 0 at init."""

    def __init__(self, dim: int, width: int, blocks: int):
        super().__init__()
        self.width = width
        self.proj_in = nn.Linear(dim, width)
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(ResBlock(width) for _ in range(blocks))
        self.head = nn.Sequential(nn.LayerNorm(width, eps=1e-6), nn.SiLU(), nn.Linear(width, dim))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, z: Tensor, t: Tensor) -> Tensor:
        emb = self.time(timestep_embedding(t, self.width))  # (N, width)
        h = self.proj_in(z)
        for block in self.blocks:
            h = block(h, emb)
        return self.head(h)


def diffusion_loss(net: nn.Module, z0: Tensor, t: Tensor, eps: Tensor, alphas_cumprod: Tensor) -> Tensor:
    """x0-prediction MSE: ``mean (net(z_t, t) - z0)^2`` with ``z_t = sqrt(ab_t) z0 + sqrt(1 - ab_t) eps``.

    Args: z0, eps (N, d); t (N,) int in [0, T); alphas_cumprod (T,). Returns a scalar (RCG's loss,
    no VLB term).
    """
    ab = alphas_cumprod[t].to(z0.dtype)[:, None]  # (N, 1)
    zt = ab.sqrt() * z0 + (1 - ab).sqrt() * eps
    return F.mse_loss(net(zt, t), z0)


class RepresentationDiffusion(nn.Module):
    """The RDM: the trained ``net``, its EMA copy ``ema`` (used for sampling), the schedule."""

    def __init__(self, dim: int, width: int, blocks: int):
        super().__init__()
        self.dim, self.width, self.n_blocks = dim, width, blocks
        self.net = RDMNet(dim, width, blocks)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("alphas_cumprod", torch.cumprod(1 - scaled_linear_betas(), 0))  # (T,) float64
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))

    def config(self) -> dict:
        return {"dim": self.dim, "width": self.width, "blocks": self.n_blocks}

    def loss(self, z0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """:func:`diffusion_loss` of the trained network."""
        return diffusion_loss(self.net, z0, t, eps, self.alphas_cumprod)

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """EMA with LitEma's warm-up: decay min(decay, (1 + n) / (10 + n)), n updates so far.

        The decay is computed where the counter is, in float64 (as Python would), so a training
        step never waits for the device to hand the counter to the host.
        """
        n = self.ema_updates.double()
        w = 1.0 - ((1 + n) / (10 + n)).clamp(max=decay)  # 0-d float64: the EMA's step towards the net
        for pe, p in zip(self.ema.parameters(), self.net.parameters()):
            pe.lerp_(p, w.to(pe.dtype))
        self.ema_updates += 1

    @torch.no_grad()
    def sample(self, n: int, seed: int, steps: int = 50, start: int = 0, batch_size: int = 4096) -> Tensor:
        """``n`` standardised representations by DDIM (eta = 0) with the EMA weights.

        The ``steps`` timesteps are ``round(linspace(T - 1, 0, steps))``; the last update goes to
        alpha_bar = 1 (it returns the x0 prediction), so ``steps=1`` is one x0 prediction from
        pure noise at t = T - 1. Sample i starts from the noise of ``(seed, start + i)``
        (:func:`hlwb.latents.sample`, noise stream): it does not depend on ``n`` or the batch.
        Returns (n, dim).
        """
        if not 1 <= steps <= TIMESTEPS:
            raise ValueError(f"steps must be in [1, {TIMESTEPS}], got {steps}")
        dev = self.alphas_cumprod.device
        noise = L.sample((L.Chunk("rdm_noise", self.dim, 0),), n, seed=seed, truncation=None, device=dev,
                         start=start, stream=L.NOISE)[0]
        ts = torch.linspace(TIMESTEPS - 1, 0, steps, dtype=torch.float64).round().long().tolist()
        was = self.ema.training
        self.ema.eval()
        out = [self._ddim(noise[i:i + batch_size], ts) for i in range(0, n, batch_size)]
        self.ema.train(was)
        return torch.cat(out) if out else noise

    def _ddim(self, x: Tensor, ts: list[int]) -> Tensor:
        ab = self.alphas_cumprod.tolist()  # one copy to the host, not two per step
        for j, t in enumerate(ts):
            x0 = self.ema(x, torch.full((len(x),), t, dtype=torch.long, device=x.device))
            if j == len(ts) - 1:
                return x0
            a, a_prev = float(ab[t]), float(ab[ts[j + 1]])
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)  # the noise the x0 prediction implies
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
        return x


@dataclass(frozen=True)
class RDMConfig:
    """RDM size and training (RCG: 12 blocks of width 1536 over 256-d, AdamW 5e-4 wd 0.01)."""

    dim: int = 64              # representation width (the encoder's feature width)
    width: int = 256           # residual width; >= 4 * dim (RCG Table 8: width matters most)
    blocks: int = 6            # residual blocks (RCG: 12; depth saturates there)
    lr: float = 5e-4           # AdamW, constant
    weight_decay: float = 0.01
    steps: int = 4000
    batch: int = 256
    ema: float = 0.999         # EMA decay (after LitEma's warm-up)
    sample_steps: int = 50     # DDIM steps when sampling (RCG: 250; 50 lose little, Table 8)
    seed: int = 0
    ckpt_every: int = 500

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES


class IndexedBatches:
    """Training batches addressable by step: batch i is rows of ``tensors`` at indices drawn
    from ``(seed, i)``, so a resumed run sees the batches an uninterrupted one would have."""

    def __init__(self, *tensors: Tensor, batch: int, seed: int):
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError(f"tensors must share their first dimension, got {[tuple(t.shape) for t in tensors]}")
        self.tensors, self.batch, self.seed = tensors, batch, seed

    @property
    def spec(self) -> dict:
        """What the batches depend on (stored in the checkpoint's meta, compared on resume)."""
        return {"n": len(self.tensors[0]), "shapes": [list(t.shape[1:]) for t in self.tensors],
                "sha256": tensor_digest(self.tensors).hex(), "seed": self.seed}

    def batch_at(self, step: int) -> tuple[Tensor, ...]:
        idx = torch.randint(len(self.tensors[0]), (self.batch,), generator=L.make_generator(L.row_seed(self.seed, step)))
        return tuple(t[idx] for t in self.tensors)


RDM_RESUMABLE = ("steps", "sample_steps")
"""Constant lr and an EMA warm-up counted in updates: a finished run may be extended."""


def train_rdm(reps: Tensor | IndexedBatches, cfg: RDMConfig, work_dir: str | Path | None = None,
              device: str | torch.device = "auto") -> tuple[RepresentationDiffusion, list[dict]]:
    """Train an RDM on representations ``reps (N, dim)`` (standardised here) through :func:`hlwb.train.fit`.

    ``reps`` may also be an :class:`IndexedBatches` of standardised representations.
    ``work_dir`` holds ``train_state.pt`` and ``log.jsonl``; a killed run called again with the
    same arguments resumes bit-identically. ``device`` (:func:`hlwb.devices.resolve`): the model
    (initialised on the host under the seed) and every step live there; the batch indices,
    timesteps and noise are host draws copied there (the same on every device). Returns the model
    (eval mode) and the logged steps.
    """
    device = devices.resolve(device)
    batches = reps if isinstance(reps, IndexedBatches) else IndexedBatches(standardize(reps), batch=cfg.batch,
                                                                          seed=cfg.seed)
    if batches.tensors[0].shape[1] != cfg.dim:
        raise ValueError(f"representations have width {batches.tensors[0].shape[1]}, the config dim={cfg.dim}")
    work = Path(work_dir) if work_dir else None
    meta = {"config": dataclasses.asdict(cfg), "data": batches.spec}
    if work:
        check_work_dir(work / "train_state.pt", meta, cfg.steps, ignore=RDM_RESUMABLE)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        rdm = RepresentationDiffusion(cfg.dim, cfg.width, cfg.blocks).to(device)
    opt = torch.optim.AdamW(rdm.net.parameters(), lr=cfg.lr, betas=(0.9, 0.999), weight_decay=cfg.weight_decay)

    def step(i: int) -> dict[str, float]:
        z0 = devices.to_device(batches.batch_at(i)[0], device)  # (B, dim)
        g = L.make_generator(L.row_seed(cfg.seed, i, L.EXTRA))
        t = devices.to_device(torch.randint(TIMESTEPS, (len(z0),), generator=g), device)
        eps = devices.to_device(torch.randn(z0.shape, generator=g), device)
        rdm.train()
        loss = rdm.loss(z0, t, eps)
        check_finite("loss", loss, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        rdm.update_ema(cfg.ema)
        return {"loss": loss.item()}

    records = fit(step, modules={"rdm": rdm}, optimizers={"adamw": opt}, steps=cfg.steps,
                  ckpt_path=work / "train_state.pt" if work else None, ckpt_every=cfg.ckpt_every, meta=meta,
                  desc="train-rdm", log_path=work / "log.jsonl" if work else None, log_every=10,
                  seed=cfg.seed, ignore=RDM_RESUMABLE)
    rdm.run_meta = meta
    return rdm.eval(), records


def save_rdm(path: str | Path, rdm: RepresentationDiffusion, meta: dict | None = None,
             sampler_only: bool = False, dtype: torch.dtype = torch.float32) -> None:
    """Write an RDM (architecture, weights with the EMA copy, metadata) and its digest sidecar.

    ``sampler_only`` keeps only what sampling reads -- the EMA weights and the schedule -- and stores
    the weights as ``dtype`` (float16 halves a shipped file again): such a file samples as the full
    model does (up to ``dtype``'s rounding) but cannot resume training; :func:`load_rdm` gives both
    the trained net and the EMA copy the stored weights, in float32.
    """
    meta = meta if meta is not None else getattr(rdm, "run_meta", {})
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
    sd = rdm.state_dict()
    if sampler_only:
        sd = {k: v.to(dtype) if k.startswith("ema.") and v.is_floating_point() else v
              for k, v in sd.items() if not k.startswith("net.")}
    elif dtype != torch.float32:
        raise ValueError("a full RDM file (net + EMA, resumable) is stored in float32; pass sampler_only=True")
    checkpoint.save(path, {"config": rdm.config(), "state_dict": sd, "meta": meta, "sampler_only": sampler_only},
                    kind="rdm")
    checkpoint.write_sidecar(path, meta)


def load_rdm(path: str | Path, device: str | torch.device = "auto") -> RepresentationDiffusion:
    """An RDM written by :func:`save_rdm`, in eval mode, with ``.meta``, on ``device``
    (:func:`hlwb.devices.resolve`). A sampler-only file's EMA weights fill both ``net`` and ``ema``."""
    device = devices.resolve(device)
    state = checkpoint.load(path, kind="rdm", map_location=device)
    checkpoint.require(path, state, "config", "state_dict")
    rdm = checkpoint.build_module(path, RepresentationDiffusion, state["config"], what="rdm")
    sd = state["state_dict"]
    if state.get("sampler_only", False):
        ema = {k: v.float() if v.is_floating_point() else v for k, v in sd.items() if k.startswith("ema.")}
        sd = {**{k: v for k, v in sd.items() if not k.startswith("ema.")}, **ema,
              **{"net." + k[len("ema."):]: v for k, v in ema.items()}}
    checkpoint.load_weights(path, rdm, sd)
    rdm.meta = state.get("meta", {})
    return rdm.to(device).eval()
