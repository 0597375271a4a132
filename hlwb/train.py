"""The one training loop: a step function in, checkpoints, resume, logs and a guard out.

``fit`` owns what every training run needs — the learning-rate schedule, the progress bar,
the non-finite-loss stop, periodic atomic checkpoints and resume — and leaves the update
itself to ``step(i) -> logs``. A step derives its randomness from (seed, i), so a resumed
run replays exactly the steps an uninterrupted run would have taken.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from tqdm.std import tqdm

from . import checkpoint
from . import latents as L
from .progress import progress

logger = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def check_finite(name: str, value: torch.Tensor | float, step: int) -> None:
    """Raise :class:`NonFiniteLoss` before a non-finite loss reaches an optimiser."""
    v = float(value.detach() if isinstance(value, torch.Tensor) else value)
    if not math.isfinite(v):
        raise NonFiniteLoss(f"{name} is {v} at step {step}; stopped before updating the weights")


def warmup_cosine(step: int, total: int, warmup: int = 0, final: float = 0.0) -> float:
    """Multiplier of the base learning rate: linear warm-up, then cosine decay to ``final``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def fit(step: Callable[[int], dict[str, float]], *, modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer], steps: int, ckpt_path: str | Path | None,
        ckpt_every: int = 500, meta: dict | None = None, desc: str = "train",
        log_path: str | Path | None = None, log_every: int = 50,
        schedule: Callable[[int], float] | None = None,
        stop: Callable[[int, dict], bool] | None = None, seed: int | None = None,
        writer: bool = True) -> list[dict]:
    """Run ``step`` for steps ``[start, steps)`` where ``start`` comes from the checkpoint.

    Args:
        step: performs one update for step index i and returns float logs (``loss`` at least).
        modules, optimizers: everything whose state is checkpointed and restored.
        steps: total number of steps of the run.
        ckpt_path: the run's checkpoint; if it exists the run resumes from it.
        ckpt_every: steps between checkpoints (one is always written at the end).
        meta: plain values stored in the checkpoint (config, command line).
        log_path: JSONL file of the logged steps (rewritten consistently on resume).
        schedule: lr multiplier per step, applied to each param group's ``initial_lr``.
        stop: early-stopping rule ``stop(i, logs) -> bool``; when true a checkpoint marked
            "stopped" is written and the loop ends after step i (a later call returns at once).
        seed: when given, each step runs with torch's global RNG forked and seeded from
            (seed, i), so dropout, noise inputs and other global-RNG draws replay exactly on
            resume; the caller's RNG state is untouched.
        writer: False for every DDP rank but 0: it still resumes from ``ckpt_path``, but writes
            no checkpoint or log and shows no progress bar.
    A checkpoint whose ``meta`` differs from this run's (other than the step count, threads
    or checkpoint interval) is refused instead of being resumed into the wrong run.
    Returns:
        The logged records of this call.
    """
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    start = 0
    for opt in optimizers.values():
        for g in opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
    if ckpt_path and ckpt_path.exists():
        state = checkpoint.load(ckpt_path, kind="train-state")
        if _comparable(state.get("meta", {})) != _comparable(meta or {}):
            raise checkpoint.CheckpointError(
                f"{ckpt_path} belongs to a run with another configuration ({state.get('meta')}); "
                "use another work directory, or delete it to start over")
        for k, m in modules.items():
            m.load_state_dict(state["modules"][k])
        for k, o in optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        start = int(state["step"])
        if state.get("stopped"):  # the stop rule ended this run: keep it ended
            logger.info("%s: %s was early-stopped at step %d; not training further", desc, ckpt_path, start)
            return []
        logger.info("resumed %s from %s at step %d", desc, ckpt_path, start)
    log_path = log_path if writer else None
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        _truncate_log(Path(log_path), start)

    def save(i: int, stopped: bool = False) -> None:
        if ckpt_path is None or not writer:
            return
        checkpoint.save(ckpt_path, {
            "step": i, "meta": meta or {}, "stopped": stopped,
            "modules": {k: m.state_dict() for k, m in modules.items()},
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        }, kind="train-state")

    records = []
    bar = progress(total=steps, initial=start, desc=desc) if writer else tqdm(disable=True)
    try:
        for i in range(start, steps):
            if schedule is not None:
                mult = schedule(i)
                for opt in optimizers.values():
                    for g in opt.param_groups:
                        g["lr"] = g["initial_lr"] * mult
            if seed is None:
                logs = step(i)
            else:
                with torch.random.fork_rng(devices=_rng_devices()):
                    torch.manual_seed(L.row_seed(seed, i, L.EXTRA))
                    logs = step(i)
            for name, v in logs.items():
                if not math.isfinite(float(v)):
                    raise NonFiniteLoss(f"{name} is {v} at step {i}")
            bar.update(1)
            if i % log_every == 0 or i == steps - 1:
                rec = {"step": i, **{k: float(v) for k, v in logs.items()}}
                records.append(rec)
                bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items()}, refresh=False)
                if log_path:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(rec) + "\n")
            if stop is not None and stop(i, logs):
                logger.info("%s: early stop at step %d (%s)", desc, i, logs)
                save(i + 1, stopped=True)
                break
            if (i + 1) % ckpt_every == 0 or i + 1 == steps:
                save(i + 1)
    except NonFiniteLoss as e:
        where = f"the last good checkpoint {ckpt_path} is kept" if ckpt_path else "no checkpoint was set"
        raise NonFiniteLoss(f"{desc}: {e}; {where}. Lower the learning rate or resume from it.") from None
    finally:
        bar.close()
    return records


def _truncate_log(path: Path, start: int) -> None:
    """Drop log lines from steps >= start (they will be replayed after a resume), and a last
    line cut short by a kill."""
    if not path.exists():
        return
    keep = []
    for ln in path.read_text().splitlines():
        try:
            if json.loads(ln)["step"] < start:
                keep.append(ln)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    checkpoint.atomic_write_text(path, "".join(ln + "\n" for ln in keep))


_RESUMABLE = {"steps", "threads", "ckpt_every"}  # may change between a run and its resumption


def _comparable(meta: dict) -> dict:
    out = dict(meta)
    if isinstance(out.get("config"), dict):
        out["config"] = {k: v for k, v in out["config"].items() if k not in _RESUMABLE}
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def _rng_devices() -> list[int]:
    return [torch.cuda.current_device()] if torch.cuda.is_available() else []


def read_log(path: str | Path) -> list[dict]:
    """The records of a run's JSONL log (as ``fit`` writes it), in step order; also after the
    run finished, when ``fit`` itself returns no new records."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no training log {path}: has the run started?")
    recs = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return sorted(recs, key=lambda r: r["step"])


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing moving average (the first entries average what is there so far)."""
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out
