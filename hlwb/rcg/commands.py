"""The RCG training commands: ``python -m hlwb train-rdm`` and ``train-rep-generator``.

Both read an hlwb encoder (``encoder.pt`` from ``pretrain`` or notebook 05; RCG's finding is
that InfoNCE-trained encoders give the most uniform, best-generated representation spaces, so
the study's real-data SimCLR encoder is the intended one), encode Fashion-MNIST *train* (60,000
images; test is never used for training), and train through the one loop with checkpoints and
exact resume in ``work_dir``. The written file records the encoder's path and SHA-256, the
config and the command's arguments, so a generator can be traced to the representation space
it was trained in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .. import data
from ..checkpoint import file_sha256


def encode_train(encoder_path: str | Path, device: str | torch.device = "auto") -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``(images uint8 (60000, 1, 32, 32), representations (60000, D) float32 on the CPU, source)``:
    the encoder's frozen features of Fashion-MNIST train, and what they came from."""
    from ..devices import resolve
    from ..encoders import load_encoder
    from ..evaluate import features

    dev = resolve(device)
    enc = load_encoder(encoder_path, device=str(dev))
    train = data.fashion_mnist("train")
    reps = features(enc, train.images).cpu()
    source = {"encoder": str(encoder_path), "encoder_sha256": file_sha256(Path(encoder_path)),
              "encoder_meta": {k: enc.meta.get(k) for k in ("method", "strategy", "arm", "augment", "seed")
                               if k in enc.meta},
              "images": "fashion_mnist train (60000)", "dim": int(reps.shape[1])}
    return train.images, reps, source


def train_rdm_command(encoder: str | Path, out: str | Path, cfg, work_dir: str | Path | None = None,
                      device: str | torch.device = "auto") -> Path:
    """Train an RDM on the encoder's (standardised) train representations; write it to ``out``."""
    from ..devices import resolve
    from .rdm import save_rdm, train_rdm

    dev = resolve(device)
    _, reps, source = encode_train(encoder, dev)
    if reps.shape[1] != cfg.dim:
        raise ValueError(f"the encoder's representations have width {reps.shape[1]}, but --dim is {cfg.dim}: "
                         f"pass --dim {reps.shape[1]} (and --width >= {4 * reps.shape[1]}, RCG's finding)")
    out = Path(out)
    rdm, _ = train_rdm(reps, cfg, work_dir or out.with_suffix(".work"), device=dev)
    save_rdm(out, rdm, meta={**rdm.run_meta, "source": source, "config": dataclasses.asdict(cfg),
                             "device": str(dev)})
    return out


def train_rep_generator_command(encoder: str | Path, out: str | Path, cfg, work_dir: str | Path | None = None,
                                init: str = "", device: str | torch.device = "auto") -> Path:
    """Train the representation-conditioned generator on (train image, its representation) pairs,
    optionally from an unconditional generator ``init`` of the same size; write it to ``out``."""
    from .. import generators
    from ..devices import resolve
    from .generator import save_rep_generator, train_rep_gan

    dev = resolve(device)
    images, reps, source = encode_train(encoder, dev)
    if reps.shape[1] != cfg.rep_dim:
        raise ValueError(f"the encoder's representations have width {reps.shape[1]}, but --rep-dim is "
                         f"{cfg.rep_dim}: pass --rep-dim {reps.shape[1]}")
    base = generators.load(init, device=dev) if init else None
    out = Path(out)
    gen, _ = train_rep_gan((images, reps), cfg, work_dir or out.with_suffix(".work"), init=base, device=dev)
    save_rep_generator(out, gen, meta={**gen.run_meta, "source": source, "config": dataclasses.asdict(cfg),
                                       "init": init or None, "device": str(dev)})
    return out
