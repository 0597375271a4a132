"""Mixed precision for training steps and view generation: one ``precision`` setting.

``"fp32"`` (default) runs everything in float32. ``"bf16"`` runs the convolution-heavy parts —
the encoder (and projector) inside a training step, the generator's decode of a view batch —
under ``torch.autocast`` in bfloat16, with channels-last tensors (oneDNN's fast layout for
bfloat16 convolutions on CPUs with AMX / AVX-512-BF16, and the tensor-core layout on GPUs).
Parameters, optimiser state, batch-norm statistics and every loss stay float32: the losses of
:mod:`hlwb.ssl.losses` cast their inputs to float32 and run outside autocast, so a softmax over
cosine logits is never computed in 8 mantissa bits. Evaluation (the kNN monitor, probes,
transfer) always runs in float32, so encoders trained either way are scored identically.

bfloat16 has float32's exponent range, so no loss scaling is needed; ``"fp16"`` would need a
gradient scaler and is refused. Measured on this project's CPU (Intel with AMX, one thread,
width-16 trunk, batch 128; ``OMP_NUM_THREADS=1 python -m hlwb bench views --n 8 [--precision
bf16]``, 2026-12-02): a real-data SimCLR step 1.36 -> 2.72 steps/s, a continuous-sampling step
(decode in chunks of B) 0.84 -> 2.07 steps/s, the biggan decode alone 509 -> 2150 images/s.
**Only on hardware with native bf16** (CPUs with AMX or AVX-512-BF16, recent GPUs): a CPU
without it emulates bf16 and a step ran ~8x *slower* than fp32 (oneDNN limited to AVX2, measured
in review) — :func:`resolve` with ``"auto"`` picks bf16 only where it is native. A bf16 run is
deterministic for a given device and thread count, but not bit-identical to its fp32 twin.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

PRECISIONS = ("fp32", "bf16")


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes bf16 natively (a GPU that supports it; a CPU whose oneDNN
    has bf16 instructions), so that bf16 autocast is a speed-up rather than an emulation."""
    d = torch.device(device)
    if d.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve(precision: str, device: str | torch.device = "cpu") -> str:
    """``precision``, with ``"auto"`` made concrete for ``device``: bf16 where it is native
    (:func:`native_bf16`), else fp32. What a run stores is the resolved value."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return check(precision)


def check(precision: str) -> str:
    """``precision`` if valid, else a ValueError naming the valid ones."""
    if precision == "fp16":
        raise ValueError("precision 'fp16' needs loss scaling, which hlwb does not implement; use 'bf16' "
                         "(same speed on current GPUs and CPUs with AMX, float32's range) or 'fp32'")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    return precision


def stored(config: dict) -> dict:
    """A config dict as a run stores it: ``precision`` only when not fp32, so fp32 runs (and
    their checkpoints) are described, and resumed, as before the field existed."""
    return {k: v for k, v in config.items() if not (k == "precision" and v == "fp32")}


def autocast(precision: str, device: str | torch.device = "cpu"):
    """The autocast context of ``precision`` on ``device`` (a no-op context for fp32)."""
    if check(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


_WARNED: set[str] = set()


def prepare(module: nn.Module, precision: str) -> nn.Module:
    """``module`` in the memory layout of ``precision`` (channels-last for bf16), in place; bf16
    on a device without native bf16 is warned about once (it is emulated, several times slower)."""
    if check(precision) != "fp32":
        dev = next((t.device for t in module.parameters()), torch.device("cpu"))
        if dev.type not in _WARNED and not native_bf16(dev):
            _WARNED.add(dev.type)
            import warnings

            warnings.warn(f"precision 'bf16' on {dev.type}, which has no native bf16: it is emulated and "
                          "runs several times slower than fp32 (measured ~8x on a CPU without AMX / "
                          "AVX-512-BF16); use precision='fp32', or 'auto' (bf16 only where native)", stacklevel=2)
        module.to(memory_format=torch.channels_last)
    return module


def inputs(x: Tensor, precision: str) -> Tensor:
    """A 4-d image batch in the layout of ``precision`` (values untouched)."""
    if precision != "fp32" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def fp32(fn):
    """Run a loss in float32 outside autocast: every floating-point tensor argument is cast up."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        dev = next((a.device.type for a in args if isinstance(a, Tensor)), "cpu")
        up = [a.float() if isinstance(a, Tensor) and a.is_floating_point() else a for a in args]
        kw = {k: v.float() if isinstance(v, Tensor) and v.is_floating_point() else v for k, v in kwargs.items()}
        with torch.autocast(dev, enabled=False):
            return fn(*up, **kw)

    return wrapped
