"""Adversarial training of an HL generator on a dataset of :mod:`hlwb.data`, through the one loop.

The generator and the discriminator are built for the dataset's image spec (``dataset`` at
``image_size``); the defaults train on Fashion-MNIST at 1 x 32 x 32, as the shipped ``biggan``.

Hinge loss (Lim & Ye 2017; as in BigGAN), one D step per G step, Adam with BigGAN's
beta1 = 0, an exponential moving average of the generator's weights (BigGAN), and
"standing statistics" for the EMA generator's batch-norm before it is saved, so sampling
in eval mode uses statistics of the generator actually shipped.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import checkpoint, data, devices
from .. import latents as L
from ..config import check_data
from ..ranges import ConfigError, check_ranges
from ..spec import ImageSpec, SpecError
from ..train import check_finite, check_work_dir, fit
from . import build, save
from .base import HLGenerator, doublings
from .biggan import Discriminator

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GANConfig:
    """Generator training settings (the defaults trained the shipped ``biggan``)."""

    family: str = "biggan"
    dataset: str = "fashion_mnist"  # the real images (an hlwb.data registry name, or folder:PATH)
    image_size: int = 0        # their side in px (0: the dataset's own); a power of two, 8..256
    steps: int = 7000          # generator updates
    batch: int = 64            # images per D and G step
    g_ch: int = 24             # generator base width
    d_ch: int = 48             # discriminator width
    chunk_dim: int = 20        # width of each latent chunk (BigBiGAN: 20)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0         # BigGAN: Adam(0, 0.999)
    beta2: float = 0.999
    ema: float = 0.999         # EMA decay of the generator's weights
    ema_start: int = 500       # steps before the EMA starts tracking
    seed: int = 0
    ckpt_every: int = 250
    threads: int = 0           # torch CPU threads (0: leave torch's default)
    stat_batches: int = 64     # batches of 256 latents for the EMA generator's standing batch-norm statistics (BigGAN)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)
        try:
            doublings(self.spec().size)
        except SpecError as e:
            raise ConfigError(f"dataset={self.dataset!r}, image_size={self.image_size}: {e}", param="image_size") from None

    def spec(self) -> ImageSpec:
        """The image spec of the generator: the dataset's train images at ``image_size``, no class names."""
        return data.spec_of(self.dataset, self.image_size or None, split="train").image()


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss (Lim & Ye 2017; BigGAN): mean relu(1 - D(x)) + mean relu(1 + D(G(z))).

    Args: real_scores (N,), fake_scores (M,): discriminator outputs. Returns a scalar.
    """
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: -mean D(G(z)); ``fake_scores`` (M,). Returns a scalar."""
    return -fake_scores.mean()


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` over parameters (buffers are left alone:
    batch-norm statistics are recomputed for the EMA weights at the end)."""
    for pe, p in zip(ema.parameters(), model.parameters()):
        pe.lerp_(p, 1.0 - decay)


GAN_RESUMABLE = ("steps", "stat_batches")
"""A GAN's updates do not depend on the total (constant learning rates, an EMA that starts at
``ema_start``): a finished run may be extended with more ``steps``, never shortened; the standing
statistics are computed after the last step, so their ``stat_batches`` may change too."""


def train_gan(cfg: GANConfig, out: str | Path, work_dir: str | Path | None = None,
              device: str | torch.device = "auto") -> Path:
    """Train on ``cfg.dataset``'s train split, then write the EMA generator to ``out`` with its
    config, image spec and command line.

    ``work_dir`` holds the resumable training state (``train_state.pt``) and the log; a
    killed run started again with the same arguments resumes from the last checkpoint.
    ``device`` (:func:`hlwb.devices.resolve`): G, D, the EMA copy, the real images and every
    step live there; the real-image indices and the latents are host generators' draws (the
    same batches on every device). The file is written from a host copy of the EMA generator.
    """
    device = devices.resolve(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out)
    work = Path(work_dir) if work_dir else out.with_suffix(".work")
    meta = {"config": dataclasses.asdict(cfg)}
    check_work_dir(work / "train_state.pt", meta, cfg.steps, ignore=GAN_RESUMABLE)  # before writing anything
    work.mkdir(parents=True, exist_ok=True)
    checkpoint.atomic_write_json(work / "config.json", dataclasses.asdict(cfg))

    ds = data.load(cfg.dataset, "train", cfg.image_size or None)
    spec = ds.spec.image()
    real = devices.to_device(ds.float_images(), device)  # (N, C, S, S)
    with torch.random.fork_rng(devices=[]):  # seeded init on the host without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        G = build(cfg.family, spec, ch=cfg.g_ch, chunk_dim=cfg.chunk_dim).to(device)
        D = Discriminator(cfg.d_ch, spec.channels, spec.size).to(device)
    G_ema = copy.deepcopy(G).eval()
    opt_g = torch.optim.Adam(G.optim_groups(cfg.lr_g), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))

    def step(i: int) -> dict[str, float]:
        g = L.make_generator(cfg.seed * 1_000_003 + i)  # host draw: the same images on every device
        idx = torch.randint(len(real), (cfg.batch,), generator=g)
        x_real = real[devices.to_device(idx, device)]
        z = G.training_latents(2 * cfg.batch, seed=cfg.seed * 1_000_003 + i + 10**9)
        z_d, z_g = [t[:cfg.batch] for t in z], [t[cfg.batch:] for t in z]
        # discriminator: hinge loss on real and detached fakes
        with torch.no_grad():
            x_fake = G(z_d)
        loss_d = hinge_d_loss(D(x_real), D(x_fake))
        check_finite("loss_d", loss_d, i)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # generator: -D(G(z))
        loss_g = hinge_g_loss(D(G(z_g)))
        check_finite("loss_g", loss_g, i)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        ema_update(G_ema, G, 0.0 if i < cfg.ema_start else cfg.ema)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    fit(step, modules={"G": G, "D": D, "G_ema": G_ema}, optimizers={"g": opt_g, "d": opt_d},
        steps=cfg.steps, ckpt_path=work / "train_state.pt", ckpt_every=cfg.ckpt_every,
        meta=meta, desc=f"train-generator {cfg.family}",
        log_path=work / "log.jsonl", log_every=50, seed=cfg.seed, ignore=GAN_RESUMABLE)

    G_ema.recompute_statistics(seed=cfg.seed + 7, n_batches=cfg.stat_batches)
    meta = {"config": dataclasses.asdict(cfg), **({"history": meta["history"]} if "history" in meta else {}),
            "command": "python -m hlwb " + shlex.join(sys.argv[1:])
            if sys.argv and sys.argv[0].endswith(("hlwb", "__main__.py")) else "hlwb.generators.training.train_gan",
            "torch": str(torch.__version__)}
    save(out, G_ema.cpu(), meta=meta)
    checkpoint.write_sidecar(out, meta)  # the meta plus the file's SHA-256, checked at load
    logger.info("wrote %s", out)
    return out


def obtain(name: str, train: bool, out_dir: str | Path, steps: int, seed: int = 0,
           device: str | torch.device = "auto", dataset: str = GANConfig.dataset,
           image_size: int = GANConfig.image_size, stat_batches: int = GANConfig.stat_batches) -> HLGenerator:
    """The shipped generator ``name`` (or a checkpoint path), or (``train=True``) one of that family
    trained now on ``dataset`` at ``image_size`` into ``out_dir``, on ``device``
    (:func:`hlwb.devices.resolve`; training runs there too)."""
    from . import GENERATORS, load

    device = devices.resolve(device)
    if not train:
        return load(name, device=device)
    if name not in GENERATORS:
        raise KeyError(f"cannot train {name!r}: not a generator family; valid: {', '.join(sorted(GENERATORS))}")
    ckpt = Path(out_dir) / f"{name}.pt"
    train_gan(GANConfig(family=name, dataset=dataset, image_size=image_size, steps=steps, seed=seed,
                        ema_start=min(500, steps // 2), stat_batches=stat_batches), ckpt, work_dir=Path(out_dir) / f"{name}_train", device=device)
    return load(ckpt, device=device)
