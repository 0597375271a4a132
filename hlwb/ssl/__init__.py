"""Self-supervised methods: pure losses in ``losses``, one short module per method.

Every method is an ``nn.Module`` with ``.encoder``, ``forward(x1, x2) -> (loss, logs)`` and
``after_step(progress)`` (EMA / queue / prototype updates after the optimiser step).
"""

from __future__ import annotations

from torch import nn

from ..encoders import ResNetTrunk
from .byol import BYOL
from .gcrl import GCRL
from .losses import nt_xent
from .moco import MoCo
from .simclr import SimCLR
from .simsiam import SimSiam
from .swav import SwAV

METHODS: dict[str, type[nn.Module]] = {"simclr": SimCLR, "simsiam": SimSiam, "moco": MoCo, "byol": BYOL,
                                       "swav": SwAV, "gcrl": GCRL}

# SGD base learning rates (lr = base x batch / 256) for the small-scale runs: SimSiam's 0.05 is
# the paper's (docs/methods.md §5); the others use 0.3, the common small-data SGD setting (the
# reference's 0.03 for SimCLR/MoCo is tuned for ImageNet-length schedules).
# GCRL: SimCLR's, as its contrastive half is SimCLR (no small-scale value in the paper's notes).
BASE_LR: dict[str, float] = {"simclr": 0.3, "simsiam": 0.05, "moco": 0.3, "byol": 0.3, "swav": 0.3, "gcrl": 0.3}

__all__ = ["BASE_LR", "METHODS", "budget_settings", "build", "nt_xent"]


def budget_settings(name: str, steps: int, batch: int) -> dict:
    """Method settings scaled to a run of ``steps`` optimiser steps of ``batch`` pairs, so that the
    state a method keeps between steps is warm for most of a short run (the references' values
    assume ImageNet-length schedules):

    * BYOL: EMA base momentum ``min(0.996, 1 - 9.2 / steps)``. With the cosine schedule to 1 the
      initial target keeps a weight of about exp(-(1 - m) steps / 2), so 9.2 / steps leaves <= 1 %
      of the random initialisation at the end (0.996 alone leaves 67 % after 200 steps).
    * SwAV: prototypes frozen for 5 % of the steps (at least 1), not a fixed 100.
    Other methods (GCRL included: its alpha and beta are ``PretrainConfig.gcrl_alpha`` and
    ``gcrl_beta``, not budget-dependent): ``{}`` (MoCo's queue warms up by itself: only pushed keys are negatives,
    :class:`hlwb.ssl.momentum.Queue`).
    """
    if name == "byol":
        return {"base_momentum": min(0.996, 1 - 9.2 / max(steps, 1))}
    if name == "swav":
        return {"freeze_prototypes_steps": max(1, round(0.05 * steps))}
    return {}


def build(name: str, encoder: ResNetTrunk, **kwargs) -> nn.Module:
    """A method by registry name around ``encoder``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise KeyError(f"unknown SSL method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name](encoder, **kwargs)
