"""Distributed helpers for ``torchrun``: one code path for world size 1 and N (docs/methods.md §5: one machine or torchrun).

Launched by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``), :func:`init_from_env` joins the process group; otherwise everything here
is a no-op: ``world_size()`` is 1, gathers return their input, reductions do nothing. So a loss
can call :func:`gather_with_grad` unconditionally and stay bit-identical in one process.

Gradients are averaged by :func:`average_gradients` (what DistributedDataParallel does, without
its wrapper, so EMA targets and frozen parameters that get no gradient need no special case),
and :func:`broadcast_buffers` makes rank 0's buffers (batch-norm statistics) everyone's, as
DDP's ``broadcast_buffers`` does.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from . import latents as L


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints, logs and the encoder, and shows progress."""
        return self.rank == 0


def _env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group that torchrun describes in the environment, if any.

    Args:
        device: the device this process trains on; CUDA selects the nccl backend (and the
            GPU ``LOCAL_RANK``), anything else gloo. None: CUDA when available.
    Returns:
        This process's :class:`DistInfo`; ``DistInfo()`` when ``WORLD_SIZE`` is unset or 1.
    """
    if _env_world() <= 1:
        return DistInfo()
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={_env_world()} but {', '.join(missing)} not set; "
                           "launch with torchrun (python -m torch.distributed.run)")
    local = int(os.environ["LOCAL_RANK"])
    cuda = torch.device(device).type == "cuda" if device is not None else torch.cuda.is_available()
    if not dist.is_initialized():
        if cuda:
            index = torch.device(device).index if device is not None else None
            torch.cuda.set_device(local if index is None else index)  # an explicit cuda:N is honoured
        dist.init_process_group("nccl" if cuda else "gloo")  # env:// rendezvous
        watch_launcher()
    return current()


def watch_launcher(interval: float = 0.5) -> threading.Thread | None:
    """End this rank when the process that launched it (torchrun's agent) dies.

    A launcher killed with SIGKILL cannot stop its workers: they would train to the end and
    write outputs nobody asked for any more. A daemon thread polls the parent pid; once the
    process is re-parented (the launcher is gone) it exits at once with status 3, leaving the
    last checkpoint for a resume. Not started when the parent is already init (pid 1).
    """
    parent = os.getppid()
    if parent <= 1:
        return None

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                sys.stderr.write(f"hlwb: rank {os.environ.get('RANK', '?')}: the launcher (pid {parent}) is gone; "
                                 "stopping (the last checkpoint is kept: launch again to resume)\n")
                sys.stderr.flush()
                os._exit(3)

    t = threading.Thread(target=watch, name="hlwb-launcher-watch", daemon=True)
    t.start()
    return t


def current() -> DistInfo:
    """This process's :class:`DistInfo`, from the initialised process group (no-op otherwise).

    Raises RuntimeError when the environment says ``WORLD_SIZE > 1`` but no group is
    initialised: N processes would each train alone on the same data.
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if _env_world() > 1:
        raise RuntimeError(f"WORLD_SIZE={_env_world()} is set (launched by torchrun?) but no process group "
                           "is initialised: call hlwb.distributed.init_from_env() first")
    return DistInfo()


def world_size() -> int:
    """Processes in the default group; 1 when none is initialised."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s stream under base ``seed``; rank 0 keeps ``seed`` itself, so a
    one-process run is rank 0 of any larger one (the rule ``views.make_source`` uses)."""
    return L.row_seed(seed, rank, L.EXTRA) if rank else seed


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward hands each rank the gradient of its own slice, summed over ranks.

    Rank r's loss L_r depends on every rank's slice through the gathered tensor, so the gradient
    of sum_r L_r w.r.t. this rank's x is the sum over ranks of d L_r / d(gathered) restricted to
    this rank's rows: an all-reduce (sum) of the incoming gradient, then this rank's slice.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.rows, ctx.rank = len(x), dist.get_rank()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()  # never reduce autograd's buffer in place
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: Tensor) -> Tensor:
    """All ranks' ``x`` concatenated in rank order, differentiable w.r.t. this rank's ``x``.

    Args:
        x: (B, ...) with the same shape on every rank.
    Returns:
        (B * world, ...); rows ``rank*B .. rank*B + B - 1`` are this rank's ``x``. ``x`` itself
        in one process. The gradient reaching ``x`` is that of the *sum* of all ranks' losses;
        averaging parameter gradients over ranks (:func:`average_gradients`, DDP) then gives the
        gradient of the mean loss, i.e. of the single-process loss on the global batch.
    """
    return _GatherWithGrad.apply(x) if world_size() > 1 else x


@torch.no_grad()
def all_gather_nograd(x: Tensor) -> Tensor:
    """All ranks' ``x`` (same shape everywhere) concatenated in rank order, without gradient;
    ``x`` itself in one process."""
    if world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def all_reduce_mean(x: Tensor) -> Tensor:
    """The mean of ``x`` over ranks (a new tensor); ``x`` itself in one process."""
    if world_size() == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / world_size()


@torch.no_grad()
def average_gradients(params: Iterable[nn.Parameter]) -> None:
    """Replace each ``.grad`` by its mean over ranks, in one flat all-reduce.

    Parameters without a gradient (frozen this step, e.g. SwAV's prototypes early on) are left
    alone; they are the same on every rank, because every rank runs the same graph.
    """
    if world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


@torch.no_grad()
def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers (batch-norm statistics, queues, counters) to every rank."""
    if world_size() == 1:
        return
    for b in module.buffers():
        dist.broadcast(b, src=0)


def digest(tensors: Iterable[Tensor]) -> bytes:
    """SHA-256 of the tensors' bytes, in order: equal digests mean bit-identical tensors."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()


def rank_digests(tensors: Iterable[Tensor], device: str | torch.device = "cpu") -> list[str]:
    """Every rank's :func:`digest` of its ``tensors`` (hex, in rank order); one entry in one process.

    ``device``: where the collective runs (a CUDA device under nccl).
    """
    d = torch.tensor(list(digest(tensors)), dtype=torch.uint8, device=device)  # (32,)
    return [bytes(row.tolist()).hex() for row in all_gather_nograd(d[None]).cpu()]
