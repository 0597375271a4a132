"""Checkpoints: atomic writes and safe loads.

A checkpoint is a dict of tensors and plain Python values (str, int, float, bool, lists,
dicts) with a ``format`` key naming what it holds. Loading uses
``torch.load(weights_only=True)``, so a file that needs unpickling arbitrary objects is
refused, with a message that says why, instead of executing its code.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_PREFIX = "hlwb/"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be loaded safely, or is not the kind expected."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not e.filename and e.errno:  # name the file being written
            raise type(e)(e.errno, e.strerror or str(e), str(path)) from e
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


class NonFiniteError(CheckpointError):
    """A state to be written holds NaN or infinite values; nothing was written."""


def nonfinite_keys(state: Any, prefix: str = "") -> list[str]:
    """Dotted keys of the floating-point tensors in ``state`` (nested dicts and lists) that hold
    a NaN or an infinity."""
    if isinstance(state, torch.Tensor):
        return [prefix] if state.is_floating_point() and not bool(torch.isfinite(state).all()) else []
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    out = []
    for k, v in items:
        out += nonfinite_keys(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def remove_debris(directory: str | Path) -> list[Path]:
    """Delete the temporary files (``.<name>.<random>.tmp``) that writes interrupted by a kill
    left in ``directory``; call it only on a directory this process holds (:mod:`hlwb.lock`)."""
    directory = Path(directory)
    gone = []
    if directory.is_dir():
        for p in directory.glob(".*.tmp"):
            if p.is_file() and p.name.count(".") >= 3:  # ".<name>.<random>.tmp" as mkstemp makes them
                p.unlink(missing_ok=True)
                gone.append(p)
    return gone


def save(path: str | Path, state: dict[str, Any], kind: str) -> None:
    """Save ``state`` atomically as an hlwb checkpoint of the given ``kind``; a state holding a
    non-finite tensor is refused (:class:`NonFiniteError`) and the file on disk is left as it was."""
    import io

    bad = nonfinite_keys(state)
    if bad:
        raise NonFiniteError(f"{path}: not written — {', '.join(bad[:4])}{' …' if len(bad) > 4 else ''} "
                             "hold NaN or infinite values (a learning rate too high?); the file on disk, if "
                             "any, is the last finite one. Lower the learning rate and run again")
    buf = io.BytesIO()
    torch.save({"format": FORMAT_PREFIX + kind, **state}, buf)
    buf.seek(0)
    try:  # refuse to write what load() would refuse to read
        torch.load(buf, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: state holds a value that is not a tensor or plain Python "
                              f"value, so it could not be loaded safely; convert it first ({e})") from e
    atomic_write_bytes(path, buf.getvalue())


def load(path: str | Path, kind: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load an hlwb checkpoint of ``kind`` with ``weights_only=True``.

    Raises :class:`CheckpointError` for a missing file, a file that would need unpickling
    arbitrary Python objects, or a checkpoint of another kind.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"version https://git-lfs"):
        raise CheckpointError(f"{path}: a Git LFS pointer, not the checkpoint; run `git lfs pull`")
    if not head.startswith(b"PK\x03\x04"):  # torch.save writes a zip archive
        if head[:1] == b"\x80":  # a bare pickle stream
            raise CheckpointError(f"{path}: refused — a raw pickle, not a torch zip checkpoint; "
                                  "unpickling it would run code from the file")
        raise CheckpointError(f"{path}: not a torch checkpoint (it does not start like a torch.save "
                              "zip archive; a download error page or another format?)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused — the file holds Python objects that only a full unpickle could "
            f"rebuild, and unpickling runs code from the file. hlwb checkpoints hold tensors and "
            f"plain values only. If you trust the file, convert it to a state dict yourself. ({e})"
        ) from e
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({e!r}); truncated or corrupt?") from e
    fmt = state.get("format") if isinstance(state, dict) else None
    if fmt != FORMAT_PREFIX + kind:
        raise CheckpointError(f"{path}: refused — expected an hlwb checkpoint of kind {kind!r}, "
                              f"found format {fmt!r}; it was not written by hlwb's {kind} code")
    return state
