"""The RCG training commands: ``python -m hlwb train-rdm`` and ``train-rep-generator``.

Both read an hlwb encoder (``encoder.pt`` from ``pretrain`` or notebook 05; RCG's finding is
that InfoNCE-trained encoders give the most uniform, best-generated representation spaces, so a
real-data SimCLR encoder is the intended kind; one pretrained under its own seed, outside every
compared arm's seeds, keeps the ``rcg`` arm from being a distillation of a run it is compared with:
:func:`hlwb.rcg.views.distillation`), encode Fashion-MNIST *train* (60,000 images; test is never
used for training), and train through the one loop with checkpoints and exact resume in
``work_dir``. The written file records the encoder's path and SHA-256, its run (method, arm,
seed), the config and the command's arguments, so a generator can be traced to the
representation space it was trained in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from .. import data
from ..checkpoint import file_sha256
from .space import class_prototypes

CONDITIONS = ("representation", "class", "posterior", "none")
"""What a trained generator is conditioned on: each image's own representation (RCG), the
prototype of its class (the class-conditional row of the conditioning ablation, same architecture
and budget; :func:`class_prototypes`), a draw of the contrastive-softmax posterior at one
(prior, K, T) (:func:`posterior_conditions`: trained as notebook 07 samples it), or nothing (the
null vector on every sample: the unconditional row at the conditioned rows' steps and batch)."""

POSTERIOR_DICT_SEED = 1
"""The seed of the training dictionaries of a posterior-conditioned generator (notebook 07 draws its
dictionaries from seed 0, so it scores the generator on dictionaries it never saw)."""


def posterior_conditions(reps: torch.Tensor, prior: str, k: int, temperature: float, n_dicts: int,
                         seed: int = POSTERIOR_DICT_SEED, rdm=None) -> torch.Tensor:
    """One contrastive-softmax posterior draw per representation, the generator's training condition.

    Row i selects from dictionary ``i mod n_dicts`` (K standardised draws of ``prior``, seeded by
    ``(seed, d)``, :func:`hlwb.rcg.evaluation.prior_dictionary`) with probability
    softmax_k(cos(e_i, r_k) / T) (its own seeded uniform). Returns the selected entries (N, D),
    standardised.
    """
    from .. import latents as L
    from .evaluation import posterior_cell, prior_dictionary
    from .space import standardize

    emb = standardize(reps)
    out = torch.empty_like(emb)
    for d in range(n_dicts):
        idx = torch.arange(d, len(emb), n_dicts)
        dictionary = prior_dictionary(prior, k, emb.shape[1], seed=L.row_seed(seed, d), rdm=rdm)
        out[idx] = posterior_cell(emb[idx], dictionary, temperature, seed=L.row_seed(seed, d, L.EXTRA))[1]
    return out


def encode_train(encoder_path: str | Path, device: str | torch.device = "auto",
                 dataset: str = "fashion_mnist", n: int = 0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """``(images uint8 (N, C, S, S), representations (N, D) float32 on the CPU, source)``: the encoder's
    frozen features of ``dataset``'s train split (at the encoder's image size), and what they came from
    (``source["labels"]`` holds the train labels, not written to files). ``n`` > 0: a subset of ``n``
    images drawn with ``seed`` (in train order), for quick runs; 0: every train image."""
    from ..devices import resolve
    from ..encoders import load_encoder
    from ..evaluate import features

    dev = resolve(device)
    enc = load_encoder(encoder_path, device=str(dev))
    train = data.load(dataset, "train", enc.spec.size)
    images, labels, what = train.images, train.labels, f"{dataset} train ({len(train)})"
    if 0 < n < len(train):
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        images, labels, what = images[idx], labels[idx], f"{dataset} train ({n} of {len(train)}, subset seed {seed})"
    reps = features(enc, images).cpu()  # an encoder of another spec refuses the images, naming both
    source = {"encoder": str(encoder_path), "encoder_sha256": file_sha256(Path(encoder_path)),
              "encoder_meta": {k: enc.meta.get(k) for k in ("method", "strategy", "arm", "augment", "seed")
                               if k in enc.meta},
              "images": what, "dim": int(reps.shape[1]), "labels": labels}
    return images, reps, source


def train_rdm_command(encoder: str | Path, out: str | Path, cfg, work_dir: str | Path | None = None,
                      device: str | torch.device = "auto", sampler_only: bool = False,
                      dataset: str = "fashion_mnist") -> Path:
    """Train an RDM on the encoder's (standardised) representations of ``dataset``'s train split; write it
    to ``out`` (``sampler_only``: the EMA weights in float16, :func:`hlwb.rcg.rdm.save_rdm`)."""
    from ..devices import resolve
    from .rdm import save_rdm, train_rdm

    dev = resolve(device)
    _, reps, source = encode_train(encoder, dev, dataset)
    if reps.shape[1] != cfg.dim:
        raise ValueError(f"the encoder's representations have width {reps.shape[1]}, but --dim is {cfg.dim}: "
                         f"pass --dim {reps.shape[1]} (and --width >= {4 * reps.shape[1]}, RCG's finding)")
    out = Path(out)
    rdm, _ = train_rdm(reps, cfg, work_dir or out.with_suffix(".work"), device=dev)
    save_rdm(out, rdm, meta={**rdm.run_meta, "source": _recorded(source), "config": dataclasses.asdict(cfg),
                             "device": str(dev), **_command()},
             sampler_only=sampler_only, dtype=torch.float16 if sampler_only else torch.float32)
    return out


def train_rep_generator_command(encoder: str | Path, out: str | Path, cfg, work_dir: str | Path | None = None,
                                init: str = "", device: str | torch.device = "auto",
                                condition: str = "representation", posterior: dict | None = None,
                                dataset: str = "fashion_mnist") -> Path:
    """Train the representation-conditioned generator on (train image, its representation) pairs
    (``condition="class"``: its class prototype, :func:`class_prototypes`; ``"posterior"``: a draw of
    the posterior at ``posterior = {"prior", "K", "T", "n_dicts", "rdm"}``, :func:`posterior_conditions`;
    ``"none"``: the null vector always, ``train_rep_gan(unconditional=True)``), optionally from an
    unconditional generator ``init`` of the same size; write it to ``out``."""
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
    if (condition == "posterior") != (posterior is not None):
        raise ValueError("condition 'posterior' needs the posterior's prior, K, T and dictionaries, and only it takes them")
    if posterior is not None and posterior["prior"] == "rdm" and not posterior.get("rdm"):
        raise ValueError("the rdm prior needs the RDM file: pass --rdm (e.g. hlwb/checkpoints/rcg_rdm.pt)")
    from .. import generators
    from ..devices import resolve
    from .generator import save_rep_generator, train_rep_gan

    dev = resolve(device)
    images, reps, source = encode_train(encoder, dev, dataset)
    if reps.shape[1] != cfg.rep_dim:
        raise ValueError(f"the encoder's representations have width {reps.shape[1]}, but --rep-dim is "
                         f"{cfg.rep_dim}: pass --rep-dim {reps.shape[1]}")
    if condition == "class":
        reps = class_prototypes(reps, source["labels"])[source["labels"]]
    recorded_posterior = None
    if condition == "posterior":
        from .rdm import load_rdm

        rdm = load_rdm(posterior["rdm"], device=dev) if posterior["prior"] == "rdm" else None
        reps = posterior_conditions(reps, posterior["prior"], posterior["K"], posterior["T"], posterior["n_dicts"],
                                    rdm=rdm)
        recorded_posterior = {**posterior, "dict_seed": POSTERIOR_DICT_SEED,
                              "rdm_sha256": file_sha256(Path(posterior["rdm"])) if rdm is not None else None}
    base = generators.load(init, device=dev) if init else None
    out = Path(out)
    gen, _ = train_rep_gan((images, reps), cfg, work_dir or out.with_suffix(".work"), init=base, device=dev,
                           unconditional=condition == "none")
    save_rep_generator(out, gen, meta={**gen.run_meta, "source": _recorded(source), "config": dataclasses.asdict(cfg),
                                       "init": init or None, "condition": condition, "device": str(dev), **_command(),
                                       **({"posterior": recorded_posterior} if recorded_posterior else {})})
    return out


def _recorded(source: dict) -> dict:
    """``source`` as written to a model file (without the label tensor)."""
    return {k: v for k, v in source.items() if k != "labels"}


def _command() -> dict:
    """``{"command": "python -m hlwb ..."}`` when running as the command line, else nothing."""
    import shlex
    import sys

    argv = sys.argv
    if argv and Path(argv[0]).name in ("__main__.py", "hlwb") and len(argv) > 1:
        return {"command": "python -m hlwb " + shlex.join(argv[1:])}
    return {}
