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
from .lock import DirLock
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
        writer: bool = True, ignore: tuple[str, ...] = ()) -> list[dict]:
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
        ignore: config keys besides :data:`RESUMABLE` that may change on resume (``("steps",)``
            for a run whose updates do not depend on the total, which may then be extended).
    A checkpoint whose ``meta`` differs from this run's is refused (:func:`check_resume`), as is
    one further along than ``steps``. The writer holds a lock on the work directory
    (:class:`hlwb.lock.DirLock`: a second writer is refused) and removes the temporary files
    of writes a kill interrupted. Parameters and buffers are checked before every checkpoint:
    a non-finite value stops the run and the last finite checkpoint stays.
    Returns:
        The logged records of this call.
    """
    ckpt_path = Path(ckpt_path) if ckpt_path else None
    start = 0
    meta = meta if meta is not None else {}
    for opt in optimizers.values():
        for g in opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
    lock = None
    if ckpt_path and writer:
        lock = DirLock(ckpt_path.parent, what=desc).acquire()  # one writer per work directory
        checkpoint.remove_debris(ckpt_path.parent)
        if not ckpt_path.exists():
            _nonfinite_marker(ckpt_path).unlink(missing_ok=True)  # a stop before any checkpoint
    try:
        if ckpt_path and ckpt_path.exists():
            state = checkpoint.load(ckpt_path, kind="train-state")
            check_resume(ckpt_path, state, meta, steps, ignore)
            for k, m in modules.items():
                m.load_state_dict(state["modules"][k])
            for k, o in optimizers.items():
                lrs = [g["initial_lr"] for g in o.param_groups]
                o.load_state_dict(state["optimizers"][k])
                for g, lr in zip(o.param_groups, lrs):  # this run's learning rate (it may differ after
                    g["initial_lr"] = lr                 # a non-finite stop; check_resume allowed it)
                    if schedule is None:
                        g["lr"] = lr
            start = int(state["step"])
            if state.get("stopped"):  # the stop rule ended this run: keep it ended
                logger.info("%s: %s was early-stopped at step %d; not training further", desc, ckpt_path, start)
                return []
            logger.info("resumed %s from %s at step %d", desc, ckpt_path, start)
        return _loop(step, modules, optimizers, steps, start, ckpt_path, ckpt_every, meta, desc,
                     log_path if writer else None, log_every, schedule, stop, seed, writer)
    finally:
        if lock is not None:
            lock.release()


def _loop(step, modules, optimizers, steps, start, ckpt_path, ckpt_every, meta, desc, log_path, log_every,
          schedule, stop, seed, writer) -> list[dict]:
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        _truncate_log(Path(log_path), start)

    last_saved = start if ckpt_path is not None and ckpt_path.exists() else None  # the step on disk

    def save(i: int, stopped: bool = False) -> None:
        nonlocal last_saved
        if ckpt_path is None or not writer:
            return
        try:  # checkpoint.save refuses inf/NaN in any tensor: the last finite checkpoint stays
            checkpoint.save(ckpt_path, {
                "step": i, "meta": meta, "stopped": stopped,
                "modules": {k: m.state_dict() for k, m in modules.items()},
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            }, kind="train-state")
        except checkpoint.NonFiniteError as e:
            bad = [k.removeprefix("modules.") for k in e.keys if k.startswith("modules.")] or e.keys
            raise NonFiniteLoss(f"{', '.join(bad[:3])}{' …' if len(bad) > 3 else ''} not finite after step {i}") from None
        last_saved = i
        _nonfinite_marker(ckpt_path).unlink(missing_ok=True)  # a finite checkpoint under this run's settings

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
                bar.set_postfix({k: f"{100 * float(v):.2f} %" if k.endswith("top1") else f"{v:.3g}"  # scores in %
                                 for k, v in logs.items()}, refresh=False)
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
        cause = nonfinite_cause(meta, i, start)
        if ckpt_path is None or not writer:
            raise NonFiniteLoss(f"{desc}: {e}; {cause}.") from None
        _mark_nonfinite(ckpt_path, i)
        if last_saved is None:
            raise NonFiniteLoss(f"{desc}: {e}; no checkpoint had been written yet. {cause[0].upper()}{cause[1:]} "
                                "(a run again starts from the beginning)") from None
        raise NonFiniteLoss(f"{desc}: {e}; the last finite checkpoint {ckpt_path} (step {last_saved}) "
                            f"is kept. {cause[0].upper()}{cause[1:]}: the same command resumes from that "
                            "checkpoint (only the learning rate may change after a non-finite stop; the "
                            "change is recorded in the run's history)") from None
    finally:
        bar.close()
    return records


LOSS_WEIGHTS = {"gcrl_alpha": 1.0, "gcrl_beta": 1.0}
"""Config keys that multiply a loss term, with their default: a weight scales its term's gradients,
and so the step, exactly as the learning rate does; one above its default is named as a suspect."""


def nonfinite_cause(meta: dict | None, step: int, start: int) -> str:
    """What to change after a non-finite loss at ``step`` (``start``: the first step of this call).

    At the first step of a fresh run no update has been applied, so the learning rate cannot be
    the cause: the inputs or the settings are. Later, a loss weight above its default
    (:data:`LOSS_WEIGHTS`) is named with the learning rate, since it scales the step the same way.
    """
    config = (meta or {}).get("config") or {}
    raised = [f"{k} = {config[k]:g}" for k, d in LOSS_WEIGHTS.items()
              if isinstance(config.get(k), (int, float)) and config[k] > d]
    if step == start == 0:
        return ("the loss was not finite at the very first step, before any update, so the learning rate is "
                "not the cause: check the inputs (data, the files the run loads) and the settings"
                + (f" ({', '.join(raised)} multiplies its loss term: lower it)" if raised else ""))
    if raised:
        return (f"{', '.join(raised)} multiplies its loss term, and so the step, as the learning rate does: "
                "run again with it lower (or with a lower learning rate)")
    return "run again with a lower learning rate"


def _nonfinite_marker(ckpt_path: Path) -> Path:
    return ckpt_path.with_name(ckpt_path.name + ".nonfinite.json")


def _mark_nonfinite(ckpt_path: Path, step: int) -> None:
    checkpoint.atomic_write_json(_nonfinite_marker(ckpt_path), {"step": step})


def _flat(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


RESUMABLE = ("threads", "ckpt_every", "knn_every", "knn_train", "knn_test", "knn_split", "knn_k", "knn_t")
"""Config keys that never change the weights (threads, checkpoint interval, the kNN monitor):
they may differ between a run and its resumption."""


def _is_lr(key: str) -> bool:
    last = key.rsplit(".", 1)[-1]
    return last == "lr" or last.startswith("lr_") or last.endswith("_lr")


def check_work_dir(ckpt_path: str | Path, meta: dict, steps: int, ignore: tuple[str, ...] = ()) -> None:
    """:func:`check_resume` against the checkpoint at ``ckpt_path``, if there is one: call it
    before writing anything into a work directory (its ``config.json``), so a refused run
    leaves the directory as it was. :func:`fit` checks again itself."""
    ckpt_path = Path(ckpt_path)
    if ckpt_path.exists():
        check_resume(ckpt_path, checkpoint.load(ckpt_path, kind="train-state"), dict(meta), steps, ignore)


def check_resume(ckpt_path: Path, state: dict, meta: dict, steps: int, ignore: tuple[str, ...] = ()) -> None:
    """Refuse to resume ``state`` (a train-state checkpoint) into a run described by ``meta``
    unless both describe the same run: every key of ``meta`` (dotted, e.g. ``config.strategy``,
    ``views.generator_sha256``) equal but :data:`RESUMABLE` config keys and ``ignore``. A
    checkpoint further along than ``steps`` is refused (its weights would be labelled with
    fewer steps than they had). After a non-finite stop the learning rate may change: the
    change is appended to ``meta["history"]``, so the weights' file says how they were trained.
    """
    skip = {f"config.{k}" for k in RESUMABLE + tuple(ignore)} | {"history"}
    old_meta = state.get("meta", {}) or {}
    old = {k: v for k, v in _flat(json.loads(json.dumps(old_meta, default=str))).items()
           if k not in skip and not k.startswith("history")}
    new = {k: v for k, v in _flat(json.loads(json.dumps(meta, default=str))).items()
           if k not in skip and not k.startswith("history")}
    at = int(state.get("step", 0))
    if at > steps:
        raise checkpoint.CheckpointError(
            f"{ckpt_path} is at step {at}, but this run asks for steps={steps}: its weights would be labelled "
            f"with {steps} steps. Ask for steps={at} (or more, where the run allows it), or use another work directory")
    diff = sorted(k for k in old.keys() | new.keys() if old.get(k, "<absent>") != new.get(k, "<absent>"))
    marker = _nonfinite_marker(ckpt_path)
    relaxed = marker.exists()
    if relaxed and diff and all(_is_lr(k) for k in diff):
        meta["history"] = list(old_meta.get("history", [])) + [
            {"from_step": at, "after": "non-finite stop", **{k: {"was": old.get(k), "now": new.get(k)} for k in diff}}]
        logger.warning("%s: resuming after a non-finite stop with %s", ckpt_path,
                       ", ".join(f"{k} {old.get(k)} -> {new.get(k)}" for k in diff))
        return
    if "history" in old_meta:
        meta["history"] = old_meta["history"]
    if diff:
        show = "; ".join(f"{k}: checkpoint {old.get(k, '<absent>')!r}, this run {new.get(k, '<absent>')!r}"
                         for k in diff[:8]) + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
        raise checkpoint.CheckpointError(
            f"{ckpt_path} belongs to another run ({len(diff)} setting(s) differ — {show}). Resuming would label "
            f"its weights with settings they were not trained with: use another work directory, pass the "
            f"checkpoint's values to resume it, or delete {ckpt_path.parent} to start over")


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
