"""One ``device`` setting for every notebook, command and library function that computes.

``"auto"`` (the default): CUDA when available, else the CPU; under torchrun, the GPU of the
process's ``LOCAL_RANK``; the environment variable ``HLWB_DEVICE`` (cpu, cuda, cuda:N) overrides
what "auto" picks (the test suite sets it to cpu, so its stored outputs hold on a GPU machine). An explicit ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` is honoured, and a
device this machine does not have is refused, naming it and what is there.

What is and is not bit-identical across devices: latent codes are drawn on the CPU from
per-sample seeded generators (:func:`hlwb.latents.sample`) and then moved, so the *codes* of a
seed are the same on every device; so are the walker's noise draws, fixed-set indices, real
image indices and kornia's augmentation parameters (kornia samples them with the seeded CPU
RNG: its modules are never moved). The generator's images and every floating-point result after
them differ at float rounding between a CPU and a GPU, and between GPU models (on a GPU, "fp32"
evaluation disables TF32, :func:`hlwb.evaluate.features`); on one device and thread count a
seeded run is reproducible (checked by the exact-resume tests).

Host synchronisations left inside a training step: the loss's finiteness check before the
optimiser step and the logged scalars (``.item()``), by design (nothing non-finite is ever
applied or written); kornia's RandomResizedCrop and ColorJitter read a few sampled integers
(crop sizes, colour-op order) with ``tolist``. No batch, feature or parameter is copied back
(``tests/test_devices.py`` records every ``cpu``/``numpy``/``tolist`` call of hlwb's code in a step).
"""

from __future__ import annotations

import os

import torch

DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve(device: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """The ``torch.device`` of a ``device`` setting (see the module docstring).

    ``local_rank`` (default: the ``LOCAL_RANK`` torchrun sets, if any) picks the GPU of a rank
    for ``"auto"`` and ``"cuda"``; an explicit ``"cuda:N"`` is kept as it is.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not device:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if local_rank is None and "LOCAL_RANK" in os.environ:
        local_rank = int(os.environ["LOCAL_RANK"])
    name = device.strip().lower()
    asked, fix = f"device {device!r}", "use device='cpu' or 'auto'"
    env = os.environ.get("HLWB_DEVICE", "").strip()
    if name == "auto" and env:  # HLWB_DEVICE overrides what "auto" means (the test suite pins it to cpu)
        name = env.lower()
        asked = f"HLWB_DEVICE={env!r} (what device 'auto' means while it is set)"
        fix = "set HLWB_DEVICE to cpu, or unset it (auto: CUDA when available, else the CPU)"
        if name == "auto":
            raise ValueError("HLWB_DEVICE=auto would be circular; set it to cpu, cuda or cuda:N, or unset it")
    elif name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if have == 0:
            raise ValueError(f"{asked} asked for, but this machine has no CUDA GPU "
                             f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); {fix}")
        if name == "cuda":
            index = local_rank or 0
        else:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"{asked}: expected cuda:N with an integer N") from None
        if not 0 <= index < have:
            raise ValueError(f"{asked} (GPU {index}) asked for, but this machine has {have} GPU(s): "
                             f"cuda:0..cuda:{have - 1}")
        return torch.device("cuda", index)
    if asked.startswith("HLWB_DEVICE"):
        raise ValueError(f"unknown device in {asked}; valid: {', '.join(DEVICES)}; {fix}")
    raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")


def describe(device: torch.device) -> str:
    """``cpu (2 threads)`` or ``cuda:0 (NVIDIA H200, 139 GiB)``: for logs and results."""
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{device} ({p.name}, {p.total_memory / 2**30:.0f} GiB)"
    return f"cpu ({torch.get_num_threads()} threads)"


def to_device(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``x`` on ``device``; a host tensor bound for a GPU goes through pinned memory without
    blocking the host (the copy overlaps the GPU's queue)."""
    device = torch.device(device)
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def default_decode_chunk(device: torch.device | str, batch: int) -> int | None:
    """Images per generator call: the single pass of 2B on a GPU (None), ``batch`` on a CPU,
    where two passes of B were measured faster than one of 2B (:class:`hlwb.views.GeneratedViews`)."""
    return None if torch.device(device).type == "cuda" else batch


class exact_fp32:
    """A context in which CUDA convolutions and matrix products are true float32 (TF32 off; cuDNN
    allows TF32 convolutions by default); the previous flags come back afterwards. A no-op on a CPU."""

    def __enter__(self):
        self.saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        return self

    def __exit__(self, *exc) -> None:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = self.saved
