"""Self-supervised methods: pure losses in ``losses``, one short module per method.

Every method is an ``nn.Module`` with ``.encoder``, ``forward(x1, x2) -> (loss, logs)`` and
``after_step(progress)`` (EMA / queue / prototype updates after the optimiser step).
"""

from __future__ import annotations

from torch import nn

from ..encoders import ResNetTrunk
from .byol import BYOL
from .losses import nt_xent
from .moco import MoCo
from .simclr import SimCLR
from .simsiam import SimSiam
from .swav import SwAV

METHODS: dict[str, type[nn.Module]] = {"simclr": SimCLR, "simsiam": SimSiam, "moco": MoCo, "byol": BYOL,
                                       "swav": SwAV}

# SGD base learning rates (lr = base x batch / 256) for the small-scale runs: SimSiam's 0.05 is
# the paper's (METHODS.md §1.8); the others use 0.3, the common small-data SGD setting (the
# reference's 0.03 for SimCLR/MoCo is tuned for ImageNet-length schedules).
BASE_LR: dict[str, float] = {"simclr": 0.3, "simsiam": 0.05, "moco": 0.3, "byol": 0.3, "swav": 0.3}

__all__ = ["BASE_LR", "METHODS", "build", "nt_xent"]


def build(name: str, encoder: ResNetTrunk, **kwargs) -> nn.Module:
    """A method by registry name around ``encoder``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise KeyError(f"unknown SSL method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name](encoder, **kwargs)
