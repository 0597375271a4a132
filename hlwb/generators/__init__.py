"""HL generator families, the registry of families and of shipped checkpoints.

    GENERATORS   family name -> class (``biggan``, ``stylegan``)
    SHIPPED      shipped checkpoint name -> file inside the package
    build(family, spec=None, **config) -> a fresh HLGenerator (of ``spec``'s images)
    save(path, gen) / load(name_or_path) -> HLGenerator in eval mode; files record the image spec
    use(module)  register the families of a module of yours (:mod:`hlwb.generators.modules`)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from .. import checkpoint, devices
from ..spec import ImageSpec
from . import modules as _modules
from .base import HLGenerator
from .biggan import BigGANGenerator
from .modules import GeneratorModuleError, use, use_from_env
from .stylegan import StyleGANGenerator

GENERATORS: dict[str, type[HLGenerator]] = {"biggan": BigGANGenerator, "stylegan": StyleGANGenerator}
SHIPPED: dict[str, str] = {"biggan": "biggan.pt", "stylegan": "stylegan.pt"}

__all__ = ["GENERATORS", "SHIPPED", "GeneratorModuleError", "HLGenerator", "build", "load", "save", "shipped_path",
           "short_name", "use", "use_from_env"]


def build(family: str, spec: ImageSpec | None = None, **config) -> HLGenerator:
    """A fresh generator of ``family`` for ``spec``'s images (None: the constructor's, 1 x 32 x 32),
    ``config`` the family's other arguments; an unknown family lists the valid ones."""
    if family not in GENERATORS:
        use_from_env()  # families of the modules named in HLWB_GENERATOR_MODULES
    if family not in GENERATORS:
        raise KeyError(f"unknown generator family {family!r}; valid: {', '.join(sorted(GENERATORS))} (your own: "
                       "--generator-module / hlwb.generators.use, docs/own_generator.md)")
    cls = GENERATORS[family]
    return cls(**config) if spec is None else cls.from_spec(spec, **config)


def short_name(name_or_path: str | Path) -> str:
    """A shipped generator's name, or a checkpoint file's stem: what figure files and table rows are named by."""
    return str(name_or_path) if str(name_or_path) in SHIPPED else Path(name_or_path).stem


def shipped_path(name: str) -> Path:
    if name not in SHIPPED:
        raise KeyError(f"no shipped generator {name!r}; shipped: {', '.join(sorted(SHIPPED))}")
    return Path(str(resources.files("hlwb") / "checkpoints" / SHIPPED[name]))


def save(path: str | Path, gen: HLGenerator, meta: dict | None = None) -> None:
    """Write a generator checkpoint (family, constructor config, image spec, weights, metadata) atomically.

    A family of your own also records its module: name, class and the SHA-256 of its source file
    (:func:`hlwb.generators.modules.record`; a class defined in a notebook cell is refused)."""
    mod = _modules.record(gen)
    checkpoint.save(path, {"family": gen.family, "config": gen.config(), "spec": gen.spec.record(),
                           "state_dict": gen.state_dict(), "meta": meta or {}, **({"module": mod} if mod else {})},
                    kind="generator", sidecar={"family": gen.family, **({"module": mod} if mod else {})})


def load(name_or_path: str | Path, device: str | torch.device = "auto", verify_module: bool = True) -> HLGenerator:
    """A shipped generator by name, or a generator checkpoint file, in eval mode, on ``device``
    (:func:`hlwb.devices.resolve`).

    A shipped generator must match the SHA-256 its sidecar ``.json`` records. A checkpoint
    file is checked against its sidecar's ``sha256`` when there is one (``train-generator``
    writes it); a file of your own without one loads unchecked. A malformed file (unknown
    family, a config that does not fit or is absurdly large, missing weights, a recorded image
    spec that is not the one its config builds) is refused with a
    :class:`hlwb.checkpoint.CheckpointError` naming it, before anything large is allocated. A
    file without a ``"spec"`` was written before specs: 1 x 32 x 32 (:data:`hlwb.spec.LEGACY`).

    A generator of your own family loads only when you named its module (:func:`use`, the
    ``--generator-module`` flag, ``HLWB_GENERATOR_MODULES``) and, unless ``verify_module`` is false,
    that module's source has the SHA-256 the file records; otherwise :class:`GeneratorModuleError`
    says what to do. The module a file names is never imported because the file names it.
    """
    if not isinstance(name_or_path, (str, Path)):  # a module or a model object: its str is no file name
        raise TypeError(f"a generator is a shipped name ({', '.join(sorted(SHIPPED))}) or a checkpoint path, got "
                        f"a {type(name_or_path).__name__}; save yours with "
                        "hlwb.generators.save(path, gen) and pass the path (docs/own_generator.md)")
    device = devices.resolve(device)
    s = str(name_or_path)
    path = shipped_path(s) if s in SHIPPED else Path(s)
    if s not in SHIPPED and not path.exists():
        raise FileNotFoundError(f"{s!r} is neither a shipped generator ({', '.join(sorted(SHIPPED))}) "
                                "nor an existing checkpoint file")
    state = checkpoint.load(path, kind="generator", map_location=device, require_digest=s in SHIPPED)
    checkpoint.require(path, state, "family", "config", "state_dict")
    if "module" in state and (verify_module or state["family"] not in GENERATORS):
        _modules.check(path, state["family"], state["module"])
    if state["family"] not in GENERATORS:
        use_from_env()
    if state["family"] not in GENERATORS:
        raise checkpoint.CheckpointError(f"{path}: unknown generator family {state['family']!r}; "
                                         f"valid: {', '.join(sorted(GENERATORS))} (a family of your own: save it with "
                                         "hlwb.generators.save, then name its module, docs/own_generator.md)")
    gen = checkpoint.build_module(path, GENERATORS[state["family"]], state["config"], what="generator")
    checkpoint.recorded_spec(path, state, gen.spec, "generator")
    checkpoint.load_weights(path, gen, state["state_dict"])
    gen.meta = state.get("meta", {})
    return gen.to(device).eval()
