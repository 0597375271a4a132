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

__all__ = ["METHODS", "build", "nt_xent"]


def build(name: str, encoder: ResNetTrunk, **kwargs) -> nn.Module:
    """A method by registry name around ``encoder``; an unknown name lists the valid ones."""
    if name not in METHODS:
        raise KeyError(f"unknown SSL method {name!r}; valid: {', '.join(METHODS)}")
    return METHODS[name](encoder, **kwargs)
