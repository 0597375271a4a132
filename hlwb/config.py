"""Notebook parameters: typed, validated, profiled, saved.

Each notebook has a flat ``parameters`` cell whose defaults are the *laptop* profile and a
frozen dataclass here with the same fields and defaults (a test keeps the two in step).
``from_params`` maps the flat dict onto the dataclass, rejecting unknown names and wrong
types with a message naming the parameter; papermill only warns on unknown names and
passes ``-p seed 1e3`` as a float, so this is where such mistakes are caught. Each dataclass
checks its values against the range table of :mod:`hlwb.ranges` when built: an out-of-range
value (``level 2``, a negative sigma, ``knn_test`` beyond its split) is refused, naming the
parameter, its value and the range.

Interactive runs write under ``runs/interactive/`` (every ``run_dir`` default), never over the
pipeline's run (``runs/<profile>/``, whose ``run_dir`` the pipeline passes explicitly) nor what
``publish`` copied into the repository; the inputs a notebook reads from earlier stages
(``hl_sigmas_file``, ``walkers_dir``, ``pretrain_dir``, ``transfer_dir``) default to the pipeline's
laptop run.

Profiles: ``smoke`` (every notebook in under a minute, for tests and CI),
``laptop`` (the default), ``gpu``. ``HLWB_PROFILE`` selects one for a notebook run outside
the pipeline (nbval, a user's kernel): its values replace parameters left at their
laptop default; a parameter set explicitly (papermill ``-p``) to another value is kept.
The rule goes by value: a parameter set explicitly *to* its laptop default is treated as
left at it, and takes the profile's value (a kernel cannot see which names papermill injected).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .ranges import ConfigError, check_ranges

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class HLGeneratorParams:
    """Notebook 01_hl_generator."""

    run_dir: str = "runs/interactive/01_hl_generator"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    oracle: str = ""                 # oracle classifier of this dataset ("": the shipped one, Fashion-MNIST; else python -m hlwb train-oracle --dataset ...)
    generators: str = "biggan,stylegan"  # comma-separated shipped names or checkpoint paths
    train: bool = False              # train a generator instead of loading the shipped one
    train_steps: int = 7000          # generator steps when train is true
    stat_batches: int = 64           # batches of 256 latents for a trained generator's standing batch-norm statistics
    train_oracle: bool = False       # train the oracle on dataset first, into <run_dir>/oracle.pt (data without one)
    oracle_epochs: int = 6           # its epochs when train_oracle is true (the shipped oracle: 6)
    oracle_steps: int = 0            # stop its training after this many steps (0: oracle_epochs full epochs)
    n_samples: int = 10000           # samples for FD_oracle and the class histogram
    n_test: int = 10000              # real test images FD_oracle compares against
    n_anchors: int = 1000            # anchors for the per-chunk agreement table
    grid_anchors: int = 8            # rows of the hierarchy figure
    seed: int = 0                    # seed of every draw in the notebook
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)


@dataclass(frozen=True)
class ExplorerParams:
    """Notebook 02_latent_explorer."""

    run_dir: str = "runs/interactive/02_latent_explorer"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    oracle: str = ""                 # oracle classifier of this dataset ("": the shipped one, Fashion-MNIST; else python -m hlwb train-oracle --dataset ...)
    generator: str = "biggan"        # shipped name or checkpoint path
    generator_module: str = ""       # a module of yours defining the generator family of a checkpoint ("": none; docs/own_generator.md)
    anchor_seed: int = 0             # the anchor shown first and swept (confident_anchor: where its search starts)
    confident_anchor: bool = True    # start at the first seed from anchor_seed on that the oracle labels with p of 0.9 or more, its positives keeping the label
    n_positives: int = 6             # positives in the strip
    sweep_sigmas: str = "0,0.25,0.5,1,1.5,2,3"  # sigma per column of the static sweep
    interactive: bool = True         # build the live widget (the static sweep is always drawn)
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)


@dataclass(frozen=True)
class WalkersParams:
    """Notebook 03_walkers."""

    run_dir: str = "runs/interactive/03_walkers"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    oracle: str = ""                 # oracle classifier of this dataset ("": the shipped one, Fashion-MNIST; else python -m hlwb train-oracle --dataset ...)
    generator: str = "biggan"        # shipped name or checkpoint path
    steps: int = 240                 # min-max steps per walker (the same budget for every walker)
    batch: int = 64                  # anchors per step (2B views per InfoNCE)
    lr_walker: float = 0.0003        # reference 8e-5 over 100k+ samples; ~4x for the 15k-sample laptop budget
    lr_critic: float = 0.0002        # reference 5e-5
    critic_width: int = 16           # critic trunk width (small ResNet, 128-d head)
    walker_hidden: int = 0           # hidden units of the walker's MLP (0: its input width, as mi_ml_gen)
    snapshot_every: int = 10         # steps between kept snapshots (selection and matched InfoNCE)
    smooth: int = 20                 # moving-average window (steps) of the training curves
    snapshot_anchors: int = 512      # held-out anchors every snapshot is measured on
    mc_anchors: int = 10000          # anchors of the Monte-Carlo tables
    anchor_truncation: float = 0.0   # |z| bound of the anchors (0: the family's own, 2.0; StyleGAN reference 0.9)
    select: str = "reference"        # snapshot used downstream: reference, genrep_sigma, critic_min or oracle
    select_after: int = 0            # samples before which the reference rule cannot fire (mi_ml_gen: 100000)
    early_stop_loss: float = 2.5     # reference threshold in its scaled units (plain x tau / 0.07); 2.5 is 1.75 plain
    early_stop: bool = False         # stop training at the reference rule (per-batch loss past early_stop_after)
    early_stop_after: int = 100000   # samples before the training stop can fire (mi_ml_gen: 100000)
    seed: int = 0                    # seed of every draw in the notebook
    precision: str = "auto"          # auto (bf16 where native: CPUs with AMX, CUDA GPUs; else fp32), fp32 or bf16: the walker/critic step (hlwb.amp); evaluation fp32
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)


@dataclass(frozen=True)
class PerturbationParams:
    """Notebook 04_chunk_perturbations."""

    run_dir: str = "runs/interactive/04_chunk_perturbations"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    oracle: str = ""                 # oracle classifier of this dataset ("": the shipped one, Fashion-MNIST; else python -m hlwb train-oracle --dataset ...)
    generators: str = "biggan,stylegan"  # comma-separated shipped names or checkpoint paths
    generator_module: str = ""       # a module of yours defining the generator family of a checkpoint ("": none; docs/own_generator.md)
    sigmas: str = "0,0.02,0.03,0.05,0.08,0.12,0.18,0.27,0.4,0.6,0.9,1.35,2,3,4.5"  # sigma grid (0 + log-spaced)
    n_anchors: int = 1024            # anchors per (chunk, sigma), shared across the grid and the chunks
    anchor_truncation: float = 0.0   # |z| bound of the anchors (0: the family's own, 2.0; StyleGAN reference 0.9)
    level: float = 0.9               # delta_i: the largest sigma with oracle agreement at or above level
    n_boot: int = 1000               # paired bootstrap draws (anchors) for delta_i and delta_(i+1) - delta_i
    critic_train: int = 768          # pairs a critic trains on per (chunk, sigma); the rest are held out
    critic_steps: int = 40           # Adam steps of that brief training
    critic_width: int = 8            # width of each briefly trained critic
    critic_batch: int = 64           # anchors per critic batch (2B views per InfoNCE)
    seed: int = 0                    # seed of every draw in the notebook
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)


@dataclass(frozen=True)
class PretrainParams:
    """Notebook 05_contrastive_pretraining (one run; the pipeline sweeps it)."""

    run_dir: str = "runs/interactive/05_contrastive_pretraining/simclr-hl_random_paper-s0"  # outputs (from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    arm: str = "hl_random_paper"     # the study arm this run belongs to (hlwb.study; a label for tables)
    method: str = "simclr"           # simclr, simsiam, moco, byol, swav or gcrl
    strategy: str = "hl_random"      # view strategy: a name of hlwb.views.STRATEGIES (python -m hlwb pretrain --help lists them)
    generator: str = "biggan"        # shipped name or checkpoint path (generated strategies)
    sampling: str = "continuous"     # continuous (fresh latents every step) or fixed (an offline set)
    n_fixed: int = 10000             # anchor/positive pairs of the fixed set
    augment: str = "fair"            # fair (one T_x for all: views.FAIR_PRESET) or paper (crop+flip for HL, SimCLR for baselines)
    hl_rule: str = "paper"           # hl_random sigmas: paper (the fixed rule) or delta (notebook 04's delta_i, oracle-calibrated)
    hl_keep: int = 0                 # hl_keep only: the chunk kept fixed, the paper rule's sigma on every other (0: the rule)
    hl_scale: float = 1.0            # hl_scaled / flat_matched only: the paper rule's sigmas on chunks 1.. times this (1: the rule)
    hl_sigmas_file: str = "runs/laptop/04_chunk_perturbations/hl_sigmas.json"  # written by notebook 04
    walkers_dir: str = "runs/laptop/03_walkers/walkers"  # learned walkers written by notebook 03
    steps: int = 500                 # optimiser steps (laptop: calibrated, figures/calibration_laptop.json)
    batch: int = 128                 # pairs per step
    decode_chunk: int = 128          # images per generator call (0: anchor and positive in one pass of 2B)
    precision: str = "auto"          # auto (bf16 where native: CPUs with AMX, CUDA GPUs; else fp32), fp32 or bf16: encoder step and decode (hlwb.amp)
    width: int = 16                  # trunk width (ResNet-18: 64)
    blocks: str = "1,1,1,1"          # basic blocks per stage (ResNet-18: 2,2,2,2)
    base_lr: float = 0.0             # learning rate base_lr x batch / 256 (0: the method's default)
    warmup: int = 50                 # linear warm-up steps, then cosine decay
    ckpt_every: int = 0              # steps between resumable checkpoints (0: steps // 5)
    knn_every: int = 250             # steps between kNN monitor evaluations (0: only at the end; unlabelled data: none)
    knn_train: int = 5000            # train images of the dataset in the kNN memory
    knn_test: int = 2000             # images scored by the kNN monitor
    knn_split: str = "val"           # monitor queries: val (the last sixth of train, 50k..60k on Fashion-MNIST; what the sweep selects on) or test
    gcrl_alpha: float = 1.0          # gcrl only: weight of the generative loss (nats per pixel)
    gcrl_beta: float = 1.0           # gcrl only: weight of the contrastive loss (NT-Xent); 0: generative only
    seed: int = 0                    # seed of every draw in the notebook
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        for name, valid in (("augment", ("fair", "paper")), ("sampling", ("continuous", "fixed")),
                            ("hl_rule", ("paper", "delta"))):
            if getattr(self, name) not in valid:
                raise ConfigError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}", param=name)
        from . import rcg  # noqa: F401  (importing hlwb.rcg registers the "rcg" view strategy)
        from .views import STRATEGIES

        if self.strategy not in STRATEGIES:  # one line naming the parameter, not a KeyError cells later
            raise ConfigError(f"strategy={self.strategy!r} is not a view strategy; valid: {', '.join(STRATEGIES)}",
                              param="strategy")
        check_data(self)


@dataclass(frozen=True)
class TransferParams:
    """Notebook 06_transfer."""

    run_dir: str = "runs/interactive/06_transfer"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    pretrain_dir: str = "runs/laptop/05_contrastive_pretraining"  # the sweep whose encoders are evaluated
    targets: str = "fashion_mnist,digits,letters,fashion_mnist_shift"  # comma-separated target names
    corruptions: str = "gaussian_noise,blur,contrast,occlusion"  # shifts of fashion_mnist_shift
    protocols: str = "linear,knn,fewshot,geometry"  # evaluation protocols (hlwb.evaluate)
    references: str = "pixels,random,oracle"  # reference rows evaluated by the same code
    headline_method: str = "simclr"  # the method of the headline table
    study_profile: str = "laptop"    # the study plan (hlwb.study.PLANS) the sweep ran
    study_target: str = "fashion_mnist"  # the target of the study's tables (per-image correctness kept)
    calibration_file: str = "figures/calibration_laptop.json"  # budget curve (python -m hlwb calibrate); empty: none
    eval_jobs: int = 2               # encoders scored side by side, one CPU thread each
    n_boot: int = 2000               # bootstrap draws of every interval (test images x seeds)
    positive_anchors: int = 2000     # anchors per arm for its positives' mean ||z' - z|| and oracle agreement (hlwb.positives)
    seed: int = 0                    # seed of the target splits and probes
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)


@dataclass(frozen=True)
class RCGParams:
    """Notebook 07_representation_generation."""

    run_dir: str = "runs/interactive/07_representation_generation"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    oracle: str = ""                 # oracle classifier of this dataset ("": the shipped one, Fashion-MNIST; else python -m hlwb train-oracle --dataset ...)
    encoder: str = ""                # encoder.pt whose representations RCG lives in ("": the shipped rcg_encoder)
    rdm: str = ""                    # the representation diffusion model ("": the shipped rcg_rdm)
    generator: str = ""              # the representation-conditioned generator ("": the shipped rcg_generator)
    class_generator: str = ""        # the generator trained on class prototypes ("": the shipped rcg_class_generator)
    posterior_generator: str = ""    # the generator trained on posterior draws at one (prior, K, T) ("": the shipped rcg_posterior_generator)
    unconditional: str = "biggan"    # the separately trained unconditional generator of the same architecture
    unconditional_generator: str = ""  # the same architecture trained with the null vector always ("": the shipped rcg_unconditional_generator, else trained here into run_dir, resumable)
    unconditional_steps: int = 0     # its training steps when trained here (0: the conditioned generators' own, read from their file: the same budget)
    study_profile: str = "laptop"    # the study plan (hlwb.study.PLANS) whose runs the representation space is checked against (distillation)
    n_samples: int = 2000            # samples per ablation row (FD_oracle, label entropy); the floor at the same n
    n_test: int = 10000              # real test images FD_oracle and the representation FD compare against
    n_train: int = 0                 # train images encoded (0: all; fewer: a seeded subset, for quick runs such as smoke)
    kmeans_ks: str = "10,100"        # k of the cluster-label rows (k-means on the train representations)
    rdm_steps: int = 50              # DDIM steps of every RDM draw
    guidances: str = "0,1,3"         # classifier-free guidance scales of the RDM row (0: conditional pass only)
    rep_fd_n: int = 10000            # RDM samples (and real train draws) of the representation FD
    grid_n: int = 10                 # samples per row of the ablation grid
    posterior_n: int = 500           # test images x the posterior conditions on
    posterior_ks: str = "2,8,32,128,512,2048"  # dictionary sizes K
    posterior_temperatures: str = "0.003,0.01,0.03,0.1,0.3,1"  # softmax temperatures T (log-spaced)
    posterior_priors: str = "rdm,sphere"  # where the K dictionary entries come from
    posterior_dicts: int = 3         # dictionaries per (prior, K), averaged
    seed: int = 0                    # seed of every draw in the notebook
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)
        bad = sorted(set(self.posterior_priors.split(",")) - {"rdm", "sphere"})
        if bad:
            raise ConfigError(f"posterior_priors {self.posterior_priors!r}: unknown prior(s) {', '.join(bad)}; "
                              "valid: rdm, sphere (comma-separated)", param="posterior_priors")


@dataclass(frozen=True)
class OodParams:
    """Notebook 08_ood."""

    run_dir: str = "runs/interactive/08_ood"  # outputs (relative paths: from the repository root)
    figures_dir: str = ""            # figure files ("" -> <run_dir>/figures)
    dataset: str = "fashion_mnist"   # dataset: an hlwb.data registry name (fashion_mnist, fashion_mnist_color, cifar10, ...) or folder:PATH
    image_size: int = 0              # image side in px (0: the dataset's own; another size resizes, hlwb.data.load)
    oracle: str = ""                 # oracle classifier of this dataset ("": the shipped one, Fashion-MNIST; else python -m hlwb train-oracle --dataset ...)
    pretrain_dir: str = "runs/laptop/05_contrastive_pretraining"  # the sweep that trained the encoders
    transfer_dir: str = "runs/laptop/06_transfer"  # notebook 06's output (linear / kNN of the same encoders)
    study_profile: str = "laptop"    # the study plan (hlwb.study.PLANS) the sweep ran
    arm: str = "real"                # the views the three encoders were trained on (real, or an HL arm of the plan's gcrl runs)
    run_seed: int = 0                # which pretraining seed of each encoder is scored
    n_ood: int = 1000                # images of the in-distribution set and of each OOD set
    knn_k: int = 5                   # the feature score's neighbour (k-th nearest train feature)
    n_bank: int = 10000              # Fashion-MNIST train images of the feature bank
    bg_rate: float = 0.2             # the background model's pixel mutation rate (Ren et al.: 0.1-0.3)
    bg_steps: int = 0                # background model steps (0: the foreground runs' steps)
    bg_weight_decay: float = 0.02    # the background model's L2 weight (SGD weight decay; hlwb.ood.background_config)
    bits_test: int = 2000            # Fashion-MNIST test images of the bits/dim table
    n_samples: int = 64              # samples of the generative head (grid and FD_oracle, at matched n)
    seed: int = 0                    # seed of every draw in the notebook
    device: str = "auto"             # auto (CUDA when available, else CPU), cpu, cuda or cuda:N (hlwb.devices)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)


NOTEBOOKS: dict[str, type] = {"01_hl_generator": HLGeneratorParams, "02_latent_explorer": ExplorerParams,
                              "03_walkers": WalkersParams, "04_chunk_perturbations": PerturbationParams,
                              "05_contrastive_pretraining": PretrainParams, "06_transfer": TransferParams,
                              "07_representation_generation": RCGParams, "08_ood": OodParams}

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "01_hl_generator": {"run_dir": "runs/smoke/01_hl_generator", "train_steps": 4, "n_samples": 500,
                            "n_test": 1000, "n_anchors": 200, "grid_anchors": 4},
        "02_latent_explorer": {"run_dir": "runs/smoke/02_latent_explorer", "sweep_sigmas": "0,1,3"},
        "03_walkers": {"run_dir": "runs/smoke/03_walkers", "steps": 6, "batch": 16, "critic_width": 4,
                       "snapshot_every": 2, "smooth": 2, "snapshot_anchors": 32, "mc_anchors": 64},
        "04_chunk_perturbations": {"run_dir": "runs/smoke/04_chunk_perturbations", "sigmas": "0,0.1,1,3",
                                   "n_anchors": 96, "n_boot": 50, "critic_train": 64, "critic_steps": 2,
                                   "critic_width": 4, "critic_batch": 32},
        "05_contrastive_pretraining": {"run_dir": "runs/smoke/05_contrastive_pretraining/simclr-hl_random_paper-s0",
                                       "hl_sigmas_file": "runs/smoke/04_chunk_perturbations/hl_sigmas.json",
                                       "walkers_dir": "runs/smoke/03_walkers/walkers", "n_fixed": 64,
                                       "steps": 4, "batch": 16, "width": 4, "warmup": 1, "knn_every": 2,
                                       "knn_train": 200, "knn_test": 100},
        "06_transfer": {"run_dir": "runs/smoke/06_transfer", "pretrain_dir": "runs/smoke/05_contrastive_pretraining",
                        "targets": "digits,fashion_mnist_shift", "corruptions": "blur", "protocols": "linear,knn",
                        "references": "pixels,random", "study_profile": "smoke", "study_target": "digits",
                        "calibration_file": "",
                        "eval_jobs": 2, "n_boot": 200, "positive_anchors": 32},
        "07_representation_generation": {"run_dir": "runs/smoke/07_representation_generation", "n_samples": 64,
                                         "n_test": 500, "kmeans_ks": "3,5", "rdm_steps": 5, "guidances": "0,1",
                                         "unconditional_steps": 3, "study_profile": "smoke", "n_train": 2000,
                                         "rep_fd_n": 200, "grid_n": 4, "posterior_n": 16, "posterior_ks": "2,8",
                                         "posterior_temperatures": "0.1,1", "posterior_dicts": 2},
        "08_ood": {"run_dir": "runs/smoke/08_ood", "pretrain_dir": "runs/smoke/05_contrastive_pretraining",
                   "transfer_dir": "runs/smoke/06_transfer", "study_profile": "smoke", "n_ood": 40, "knn_k": 3,
                   "n_bank": 200, "bg_steps": 4, "bits_test": 50, "n_samples": 8},
    },
    # hlwb.study says what each of the three laptop profiles holds and why (each <= 150 min on 2 cores)
    "laptop": {"01_hl_generator": {}, "02_latent_explorer": {}, "04_chunk_perturbations": {},
               "05_contrastive_pretraining": {}, "06_transfer": {}, "07_representation_generation": {}},
    "laptop_side": {"01_hl_generator": {}, "02_latent_explorer": {}, "03_walkers": {}, "04_chunk_perturbations": {},
                    "05_contrastive_pretraining": {}, "06_transfer": {"study_profile": "laptop_side"},
                    "08_ood": {"study_profile": "laptop_side"}},
    # the budget where the real-data encoder clears pixels on linear by >= 2.5 (figures/calibration_laptop.json:
    # width 16, 2000 steps, +2.85; warm-up 50 as there), on the shipped generators
    "laptop_deep": {"05_contrastive_pretraining": {"steps": 2000, "knn_every": 500},
                    "06_transfer": {"study_profile": "laptop_deep"}},
    "gpu": {
        "01_hl_generator": {"run_dir": "runs/gpu/01_hl_generator", "train": True, "train_steps": 20000,
                            "train_oracle": True, "oracle_epochs": 30, "n_samples": 50000, "n_anchors": 10000},
        "02_latent_explorer": {"run_dir": "runs/gpu/02_latent_explorer"},
        "03_walkers": {"run_dir": "runs/gpu/03_walkers", "steps": 3000, "lr_walker": 8e-5, "lr_critic": 5e-5,
                       "snapshot_every": 50, "smooth": 100, "snapshot_anchors": 2048, "mc_anchors": 50000,
                       "select_after": 100000},
        "04_chunk_perturbations": {"run_dir": "runs/gpu/04_chunk_perturbations", "n_anchors": 8192,
                                   "critic_train": 6144, "critic_steps": 400, "critic_width": 16},
        "05_contrastive_pretraining": {"run_dir": "runs/gpu/05_contrastive_pretraining/simclr-hl_random_paper-s0",
                                       "hl_sigmas_file": "runs/gpu/04_chunk_perturbations/hl_sigmas.json",
                                       "walkers_dir": "runs/gpu/03_walkers/walkers", "n_fixed": 100000,
                                       "steps": 20000, "batch": 256, "decode_chunk": 0, "width": 64, "blocks": "2,2,2,2",
                                       "warmup": 1000, "knn_every": 1000, "knn_train": 50000, "knn_test": 10000},
        "06_transfer": {"run_dir": "runs/gpu/06_transfer", "pretrain_dir": "runs/gpu/05_contrastive_pretraining",
                        "study_profile": "gpu", "calibration_file": "", "targets": "cifar10,cifar100,svhn,cifar10_shift",
                        "study_target": "cifar10", "references": "pixels,random"},
        "07_representation_generation": {"run_dir": "runs/gpu/07_representation_generation", "n_samples": 10000,
                                         "study_profile": "gpu",
                                         "posterior_n": 2000, "posterior_ks": "2,8,32,128,512,2048,8192",
                                         "posterior_dicts": 5},
        "08_ood": {"run_dir": "runs/gpu/08_ood", "pretrain_dir": "runs/gpu/05_contrastive_pretraining",
                   "transfer_dir": "runs/gpu/06_transfer", "study_profile": "gpu", "n_ood": 10000, "n_bank": 50000,
                   "bits_test": 10000, "n_samples": 1000},
    },
}


def check_data(cfg) -> None:
    """Refuse a ``dataset`` / ``image_size`` pair hlwb cannot provide, naming the parameter; nothing
    is loaded (:func:`hlwb.data.spec_of` reads a folder's file names only)."""
    from . import data
    from .spec import SpecError

    try:
        data.spec_of(cfg.dataset, cfg.image_size or None)
    except (KeyError, ValueError, data.DataError, SpecError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise ConfigError(f"dataset={cfg.dataset!r}, image_size={cfg.image_size}: {msg}", param="dataset") from None


def _on_dataset(profile: dict[str, dict[str, Any]], dataset: str, stages: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``profile`` restricted to ``stages``, every one of them on ``dataset``."""
    return {nb: {**profile.get(nb, {}), "dataset": dataset} for nb in stages}


# Profiles on another dataset run the stages that need no model shipped for Fashion-MNIST: 01 trains the
# generators and the oracle on the dataset first; 07 (the shipped RCG models) and 08 (its FD rows use the
# shipped generators) are Fashion-MNIST stages.
DATASET_STAGES = ("01_hl_generator", "02_latent_explorer", "03_walkers", "04_chunk_perturbations",
                  "05_contrastive_pretraining", "06_transfer")
PROFILES["gpu"] = _on_dataset(PROFILES["gpu"], "cifar10", DATASET_STAGES)
# smoke on the offline colour set: the smoke profile's sizes, one generator family trained for ten steps
# and an oracle for 30 (every code path runs; the numbers mean nothing), end to end in the test suite
PROFILES["smoke_color"] = _on_dataset({
    **{nb: {k: v.replace("runs/smoke/", "runs/smoke_color/") if isinstance(v, str) else v for k, v in p.items()}
       for nb, p in PROFILES["smoke"].items()},
    "01_hl_generator": {"run_dir": "runs/smoke_color/01_hl_generator", "generators": "biggan", "train": True,
                        "train_steps": 10, "stat_batches": 4, "train_oracle": True, "oracle_epochs": 1, "oracle_steps": 30, "n_samples": 500,
                        "n_test": 1000, "n_anchors": 200, "grid_anchors": 4},
    "04_chunk_perturbations": {**PROFILES["smoke"]["04_chunk_perturbations"], "generators": "biggan",
                               "run_dir": "runs/smoke_color/04_chunk_perturbations"},
    "06_transfer": {**PROFILES["smoke"]["06_transfer"], "run_dir": "runs/smoke_color/06_transfer",
                    "pretrain_dir": "runs/smoke_color/05_contrastive_pretraining", "study_profile": "smoke_color",
                    "targets": "digits,fashion_mnist_color_shift"},
}, "fashion_mnist_color", DATASET_STAGES)


def _coerce(name: str, value: Any, typ: type) -> Any:
    bad = ConfigError(f"parameter {name!r} must be {typ.__name__}, got {value!r} "
                      f"({type(value).__name__})")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if typ in (int, float):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, str):  # papermill -r passes raw strings
            try:
                value = float(value) if typ is float else int(value)
            except ValueError:
                raise bad from None
        if typ is float and isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():  # papermill: -p steps 1e3 -> 1000.0
            return int(value)
        raise bad
    if typ is str:
        if isinstance(value, str):
            return value
        raise bad
    raise TypeError(f"unsupported parameter type {typ}")  # pragma: no cover


def _field_types(cls: type) -> dict[str, type]:
    names = {"int": int, "float": float, "str": str, "bool": bool}
    return {f.name: names[f.type] if isinstance(f.type, str) else f.type for f in dataclasses.fields(cls)}


def from_params(cls: type, params: dict[str, Any], profile: str | None = None):
    """Build ``cls`` from flat ``params``; unknown names, wrong types and out-of-range values
    (:data:`hlwb.ranges.RANGES`) raise ConfigError.

    With ``profile``, that profile's value replaces every parameter equal to its default.
    """
    types_ = _field_types(cls)
    unknown = sorted(set(params) - set(types_))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for {cls.__name__}; "
                          f"valid: {', '.join(types_)}")
    values = {k: _coerce(k, v, types_[k]) for k, v in params.items()}
    if profile:
        overrides = profile_overrides(cls, profile)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        for k, v in overrides.items():
            if values.get(k, defaults[k]) == defaults[k]:
                values[k] = _coerce(k, v, types_[k])
    return cls(**values)


def profile_overrides(cls: type, profile: str) -> dict[str, Any]:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    notebook = next(k for k, v in NOTEBOOKS.items() if v is cls)
    return PROFILES[profile].get(notebook, {})


def _assigned_names(source: str, fields: frozenset[str] = frozenset()) -> set[str] | None:
    """Names a parameters-style cell sets (``x = 1``, ``x: int = 1``), or None when ``source`` is not
    such a cell: one that computes (an import, a loop, an expression), or that calls something
    without setting any of ``fields`` (``results = f(x)`` closing an earlier run is not a parameters cell)."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    names: set[str] = set()
    calls = False
    for node in body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else None
        if not targets or not all(isinstance(t, ast.Name) for t in targets):
            return None
        names |= {t.id for t in targets}
        calls = calls or any(isinstance(n, ast.Call) for n in ast.walk(node))
    return None if calls and not names & fields else names


def parameter_cell_names(history: Any, fields: frozenset[str] = frozenset()) -> set[str] | None:
    """Names set by the parameters cell and papermill's injected cell, from IPython's input history ``In``.

    The cell calling :func:`from_namespace` is the last entry that names it; the cells run just before it
    that only set names (the parameters cell, then papermill's injected one; empty cells are passed over;
    a cell with a call counts when it sets one of ``fields``) are read with :mod:`ast`, never run. None
    when there is no such history (a plain dict, an empty ``In``) or no such cell before the call.
    """
    if not isinstance(history, list) or not all(isinstance(s, str) for s in history):
        return None
    calls = [i for i, s in enumerate(history) if "from_namespace" in s]
    if not calls:
        return None
    names: set[str] = set()
    for source in reversed(history[:calls[-1]]):
        found = _assigned_names(source, fields)
        if found is None:
            break
        names |= found
    return names or None


def from_namespace(notebook: str, namespace: dict[str, Any]):
    """Parameters of ``notebook`` from a kernel's globals: the parameters cell and papermill's injected one.

    In a kernel, the names those two cells assign are read from IPython's input history (``In``):
    a name that is not a parameter (a misspelled ``-p``) is refused, and the values of the dataclass's
    fields are taken from ``namespace``; every other variable a notebook made is ignored, so "Run All"
    a second time in the same kernel reads the same parameters. Without that history (a plain dict),
    every plain value in ``namespace`` is taken as a parameter.
    """
    if notebook not in NOTEBOOKS:
        raise ConfigError(f"unknown notebook {notebook!r}; valid: {', '.join(NOTEBOOKS)}")
    cls = NOTEBOOKS[notebook]
    profile = os.environ.get("HLWB_PROFILE") or None
    fields = _field_types(cls)
    assigned = parameter_cell_names(namespace.get("In"), frozenset(fields))
    if assigned is not None:
        unknown = sorted(assigned - set(fields))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))} for {cls.__name__} "
                              f"(set in the parameters or injected cell); valid: {', '.join(fields)}")
        return from_params(cls, {k: namespace[k] for k in fields if k in assigned and k in namespace}, profile=profile)
    skip = {"In", "Out", "exit", "quit", "get_ipython", "open"}
    params = {k: v for k, v in namespace.items()
              if not k.startswith("_") and k not in skip
              and not isinstance(v, (types.ModuleType, types.FunctionType, type))}
    return from_params(cls, params, profile=profile)


def resolve_path(p: str) -> Path:
    """A path parameter: absolute as given, relative to the repository root otherwise."""
    path = Path(p).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def save(cfg, run_dir: str | Path, name: str = "config.json") -> Path:
    """Write the resolved config (with the profile in effect) beside the outputs."""
    from .checkpoint import atomic_write_json

    out = Path(run_dir) / name
    atomic_write_json(out, {"notebook_params": type(cfg).__name__, **dataclasses.asdict(cfg),
                            "profile": os.environ.get("HLWB_PROFILE", "laptop")})
    return out


def to_json(cfg) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)
