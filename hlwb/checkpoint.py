"""Checkpoints: atomic writes and safe loads.

A checkpoint is a dict of tensors and plain Python values (str, int, float, bool, lists,
dicts) with a ``format`` key naming what it holds. Loading uses
``torch.load(weights_only=True)``, so a file that needs unpickling arbitrary objects is
refused, with a message that says why, instead of executing its code.

Integrity: a checkpoint's sidecar ``NAME.json`` (written by the training commands through
:func:`write_sidecar`) records the file's SHA-256; :func:`load` checks it and refuses a file
that changed since it was written. Shipped checkpoints (every file in ``hlwb/checkpoints/``)
must carry the digest. A user's own file without a sidecar digest loads with a one-line warning
that names its SHA-256 (once per file and process), unless its bytes are those of a shipped
checkpoint (then it is verified); one named like a shipped file but differing from it says so.
Every tensor loaded must be finite: a file holding NaN or inf is refused, naming the first such
tensor (:func:`save` never writes one, so such a file is damaged or was not written by hlwb).

Malformed contents get a :class:`CheckpointError` naming the file, never a bare ``KeyError`` or
``TypeError``: :func:`require` checks keys, :func:`build_module` checks a config against the
constructor and its size on the meta device before anything is allocated, and
:func:`load_weights` wraps ``load_state_dict``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import io
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

FORMAT_PREFIX = "hlwb/"
SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"  # files hlwb ships: a digest is required
QUIET_KINDS = ("train-state", "walker-snapshot", "correct")
"""Kinds a run writes and reads back inside its own work directory: no digest sidecar, no warning."""
# A config that would build more than this is corrupt or hostile: the shipped models hold < 1M
# parameters, and 2**31 float32 parameters are 8 GiB.
MAX_PARAMETERS = 2**31
# Parameter tensors: bounds the time a config with an absurd depth spends in its build loop
# (the shipped models hold fewer than 50, a ResNet-50-shaped trunk about 110).
MAX_TENSORS = 2_000


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
    """A state to be written holds NaN or infinite values (``keys``, dotted); nothing was written."""

    def __init__(self, message: str, keys: list[str]):
        super().__init__(message)
        self.keys = keys


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


def save(path: str | Path, state: dict[str, Any], kind: str, sidecar: dict[str, Any] | None = None) -> None:
    """Save ``state`` atomically as an hlwb checkpoint of the given ``kind``; a state holding a
    non-finite tensor is refused (:class:`NonFiniteError`) and the file on disk is left as it was.

    ``sidecar``: also write ``NAME.json`` with it and the file's SHA-256 (:func:`write_sidecar`), so
    that :func:`load` checks the file instead of warning. An older sidecar digest (a ``NAME.json``
    recording a ``sha256``) is removed *before* the file is replaced, with or without ``sidecar``: a
    kill in between, or a caller writing its own sidecar afterwards, leaves at worst a file without a
    digest (a warning at load), never a file whose recorded digest is another file's (a refusal)."""
    bad = nonfinite_keys(state)
    if bad:
        raise NonFiniteError(f"{path}: not written — {', '.join(bad[:4])}{' …' if len(bad) > 4 else ''} "
                             "hold NaN or infinite values (a learning rate too high?); the file on disk, if "
                             "any, is the last finite one. Lower the learning rate and run again", bad)
    buf = io.BytesIO()
    torch.save({"format": FORMAT_PREFIX + kind, **state}, buf)
    buf.seek(0)
    try:  # refuse to write what load() would refuse to read
        torch.load(buf, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: state holds a value that is not a tensor or plain Python "
                              f"value, so it could not be loaded safely; convert it first ({e})") from e
    if recorded_sha256(path) is not None:
        sidecar_path(path).unlink(missing_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    if sidecar is not None:
        write_sidecar(path, {"kind": kind, **sidecar})


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, computed once per (path, size, modification time)."""
    st = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar_path(path: str | Path) -> Path:
    """``NAME.json`` beside ``NAME.pt``: the command, config and digest of the checkpoint."""
    return Path(path).with_suffix(".json")


def write_sidecar(path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write ``meta`` plus the SHA-256 of the checkpoint at ``path`` to its sidecar; returns what was written."""
    record = {**meta, "sha256": file_sha256(path)}
    atomic_write_json(sidecar_path(path), record)
    return record


def recorded_sha256(path: str | Path) -> str | None:
    """The digest the sidecar of ``path`` records, or None (no sidecar, not JSON, no ``sha256``)."""
    side = sidecar_path(path)
    try:
        record = json.loads(side.read_text())
    except (OSError, ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    digest = record.get("sha256") if isinstance(record, dict) else None
    return digest if isinstance(digest, str) else None


def _check_digest(path: Path, raw: bytes, required: bool) -> None:
    expected = recorded_sha256(path)
    if expected is None:
        if required:
            raise CheckpointError(f"{path}: a shipped checkpoint, but {sidecar_path(path)} records no \"sha256\"; "
                                  f"restore both with `git checkout -- {path.parent}` (or `git lfs pull`)")
        return
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"{path}: refused — its SHA-256 is {actual}, but {sidecar_path(path).name} records {expected}; "
            f"the file is corrupt or changed after it was written. A shipped checkpoint: restore it with "
            f"`git checkout -- {path}` (or `git lfs pull`, or reinstall hlwb). Your own: retrain it, or "
            f"remove the \"sha256\" field of {sidecar_path(path)} if you changed the file on purpose")


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` is a file of hlwb's own ``checkpoints/`` folder."""
    return Path(path).resolve().parent == SHIPPED_DIR


@functools.lru_cache(maxsize=1)
def _shipped_digests() -> dict[str, str]:
    """SHA-256 -> file name of every shipped checkpoint, from the shipped sidecars."""
    out = {}
    for side in sorted(SHIPPED_DIR.glob("*.json")):
        digest = recorded_sha256(side.with_suffix(".pt"))
        if digest:
            out[digest] = side.with_suffix(".pt").name
    return out


_WARNED: set[tuple[str, str]] = set()


def _unchecked(path: Path, raw: bytes) -> None:
    """A file without a sidecar digest: verified if its bytes are a shipped checkpoint's, else one
    warning line (per file and digest, per process) with its SHA-256."""
    actual = hashlib.sha256(raw).hexdigest()
    shipped = _shipped_digests()
    if actual in shipped or (str(path.resolve()), actual) in _WARNED:
        return
    _WARNED.add((str(path.resolve()), actual))
    namesake = next((d for d, n in shipped.items() if n == path.name), None)
    note = (f"; it is named like the shipped {path.name} but its bytes differ from it (shipped "
            f"{namesake[:16]}…): a damaged copy? restore it from hlwb/checkpoints/{path.name}") if namesake else ""
    logger.warning("%s: digest unchecked (no %s recording its sha256); loaded as it is, SHA-256 %s%s",
                   path, sidecar_path(path).name, actual, note)


def _first_nonfinite(path: Path, state: dict[str, Any]) -> None:
    """Refuse a loaded state holding a NaN or infinite tensor, naming the file and the first one."""
    bad = nonfinite_keys({k: v for k, v in state.items() if k != "format"})
    if bad:
        raise CheckpointError(
            f"{path}: refused — tensor {bad[0]!r} holds NaN or infinite values"
            f"{f' (and {len(bad) - 1} more tensors)' if len(bad) > 1 else ''}; weights like these are the "
            "end of a diverged run or a damaged file, and would turn every result computed with them into "
            "NaN. Retrain it (with a lower learning rate), or use another file")


def load(path: str | Path, kind: str, map_location: str | torch.device = "cpu",
         require_digest: bool = False) -> dict[str, Any]:
    """Load an hlwb checkpoint of ``kind`` with ``weights_only=True``.

    If the sidecar ``NAME.json`` records a ``sha256``, the file must match it. With
    ``require_digest``, and for every file of hlwb's ``checkpoints/`` folder, the digest must be
    there; a file with no sidecar digest (a user's own checkpoint) loads with a warning naming its
    SHA-256 (none for :data:`QUIET_KINDS`, or a file whose bytes are a shipped checkpoint's).

    Raises :class:`CheckpointError` for a missing file, a digest mismatch, a file that would
    need unpickling arbitrary Python objects, a checkpoint of another kind, or a NaN or
    infinite tensor anywhere in it (the message names the first).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    require_digest = require_digest or is_shipped(path)
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
    source: Path | io.BytesIO = path
    if require_digest or recorded_sha256(path) is not None:
        raw = path.read_bytes()  # hash and load the same bytes
        _check_digest(path, raw, required=require_digest)
        source = io.BytesIO(raw)
    elif kind not in QUIET_KINDS:
        raw = path.read_bytes()
        _unchecked(path, raw)
        source = io.BytesIO(raw)
    try:
        state = torch.load(source, map_location=map_location, weights_only=True)
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
    _first_nonfinite(path, state)
    return state


def require(path: str | Path, state: dict[str, Any], *keys: str) -> None:
    """Refuse a checkpoint that lacks any of ``keys``, naming the file and what is missing."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"{path}: incomplete {state.get('format')!r} checkpoint — no "
                              f"{', '.join(map(repr, missing))}; it was not written by hlwb, or is damaged")


def meta_build(build: Callable[[], Any]) -> tuple[Any, int | None]:
    """``build()`` on the meta device (nothing allocated), its parameters counted: ``(result, parameters)``.

    A registration hook stops the build as soon as it passes MAX_PARAMETERS or MAX_TENSORS, so a huge
    width or depth costs no memory and little time; a stopped build returns ``(None, None)``.
    """
    counts = [0, 0]  # parameters, parameter tensors

    class _TooBig(Exception):
        pass

    def hook(module, name, param):
        if param is not None:
            counts[0] += param.numel()
            counts[1] += 1
            if counts[0] > MAX_PARAMETERS or counts[1] > MAX_TENSORS:
                raise _TooBig

    handle = nn.modules.module.register_module_parameter_registration_hook(hook)
    try:
        with torch.device("meta"):
            out = build()
    except _TooBig:
        return None, None
    finally:
        handle.remove()
    return out, counts[0]


def _count_parameters(factory: Callable[..., nn.Module], config: dict[str, Any]) -> int:
    """Parameters ``factory(**config)`` would hold (:func:`meta_build`); above MAX_PARAMETERS when refused."""
    _, n = meta_build(lambda: factory(**config))
    return MAX_PARAMETERS + 1 if n is None else n


def build_module(path: str | Path, factory: Callable[..., nn.Module], config: Any, what: str) -> nn.Module:
    """``factory(**config)`` for a ``config`` read from the checkpoint ``path``, checked first.

    Refused with a :class:`CheckpointError` naming the file: a config that is not a dict, has
    keys the constructor does not take or lacks required ones, has values the constructor
    rejects, or would build more than ``MAX_PARAMETERS`` parameters (counted on the meta
    device, so a 46 TB config allocates nothing; the message names the key responsible).
    """
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(f"{path}: the {what} config is {type(config).__name__}, not a dict of names")
    params = inspect.signature(factory).parameters
    unknown = sorted(set(config) - set(params))
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in config]
    if unknown or missing:
        raise CheckpointError(
            f"{path}: the {what} config does not fit {getattr(factory, '__name__', what)}: "
            + "; ".join(([f"unknown key(s) {', '.join(map(repr, unknown))}"] if unknown else [])
                        + ([f"missing key(s) {', '.join(map(repr, missing))}"] if missing else []))
            + f" (valid: {', '.join(params)}); written by another hlwb version, or damaged")
    try:
        n = _count_parameters(factory, config)
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        raise CheckpointError(f"{path}: the {what} config {config} is invalid ({e})") from e
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{path}: refused — the {what} config {config} would build more than "
                              f"{MAX_PARAMETERS:,} parameters (or {MAX_TENSORS:,} tensors); "
                              f"{_culprits(factory, config, params)}; the file is corrupt or not hlwb's")
    return factory(**config)


def _culprits(factory, config: dict[str, Any], params) -> str:
    """Which keys, set back to their defaults, bring the size under the limit."""
    keys = []
    for k, v in config.items():
        default = params[k].default
        if default is inspect.Parameter.empty or default == v:
            continue
        try:
            if _count_parameters(factory, {**config, k: default}) <= MAX_PARAMETERS:
                keys.append(f"{k}={v!r} (default {default!r})")
        except (TypeError, ValueError, RuntimeError, OverflowError):
            continue
    return ("too large: " + ", ".join(keys)) if keys else "the sizes together are too large"


def load_weights(path: str | Path, module: nn.Module, state_dict: Any) -> None:
    """``module.load_state_dict(state_dict)``, a mismatch refused naming the file."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{path}: \"state_dict\" is {type(state_dict).__name__}, not a dict of tensors")
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, TypeError, ValueError) as e:
        detail = " ".join(str(e).split())  # torch's message spans lines and tabs
        raise CheckpointError(f"{path}: the weights do not fit the architecture its config describes "
                              f"({detail[:400]}); the file is damaged or not hlwb's") from e


def recorded_spec(path: str | Path, state: dict[str, Any], built: Any, what: str) -> Any:
    """The :class:`hlwb.spec.ImageSpec` a checkpoint records (``"spec"``; a file written before
    specs has none: :data:`hlwb.spec.LEGACY`), refused unless it describes the images of
    ``built``, the spec of the model its config built; the message names the file and both specs."""
    from .spec import ImageSpec, SpecError

    try:
        spec = ImageSpec.from_record(state.get("spec"), where=f"{path}")
    except (SpecError, TypeError) as e:
        raise CheckpointError(f"{path}: a malformed \"spec\" ({e}); the file is damaged or not hlwb's") from e
    if not spec.same_images(built):
        raise CheckpointError(f"{path}: the file records {spec.describe()} images, but its {what} config builds a "
                              f"model for {built.describe()} images; the file is damaged or was edited by hand")
    return spec
