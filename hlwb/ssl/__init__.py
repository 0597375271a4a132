"""Self-supervised losses (pure functions) and, later, one small module per method."""

from .losses import nt_xent

__all__ = ["nt_xent"]
