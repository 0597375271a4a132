"""Your own generator family, defined in your own module and named by you (docs/own_generator.md).

A family hlwb does not ship is a :class:`~hlwb.generators.base.HLGenerator` subclass with its own
``family`` name in a module of yours. :func:`use` imports a module *you name* (a dotted module name
on ``sys.path``, or the path of a ``.py`` file) and registers its families in
:data:`hlwb.generators.GENERATORS`. A generator file saved with hlwb records the module it came from
and the SHA-256 of that module's source file (:func:`record`); loading it checks the module you named
against that digest (:func:`check`). hlwb never imports a module because a file names it: a file of an
unregistered family is refused with the ways to name its module.

Named modules reach new processes (the pipeline's notebook kernels, parallel workers, a subprocess)
through the environment variable ``HLWB_GENERATOR_MODULES`` (:data:`ENV`), which :func:`use` extends
and :func:`use_from_env` reads; you can also set it yourself.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

from .base import HLGenerator

ENV = "HLWB_GENERATOR_MODULES"  # os.pathsep-separated module names or .py paths, named by the user
BUILTIN = ("biggan", "stylegan")  # the families hlwb ships (hlwb.generators.GENERATORS at import)
_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_USED: dict[str, list[str]] = {}  # module as named -> families it registered (a module is imported once)
HOW = ("`--generator-module {m}` on the command line, `generator_module = \"{m}\"` in notebook 02's or 04's "
       "parameters, `hlwb.generators.use(\"{m}\")` in Python, or `{env}={m}` in the environment (notebooks 03, 05 "
       "and the pipeline's kernels read it)")


class GeneratorModuleError(ValueError):
    """A generator module that cannot be used: not importable, no family in it, a clashing family,
    a generator class defined where no other process can import it, or a source that changed."""


def source_sha256(module: ModuleType) -> str:
    """Hex SHA-256 of the bytes of ``module``'s source file."""
    path = getattr(module, "__file__", None)
    if not path or not Path(path).is_file() or not str(path).endswith(".py"):
        raise GeneratorModuleError(f"module {module.__name__!r} has no .py source file ({path}); a generator family "
                                   "must live in a module file that another process can import")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _import(name: str) -> ModuleType:
    """The module ``name`` (dotted, on ``sys.path``) or the ``.py`` file at path ``name``."""
    if name.endswith(".py"):
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise GeneratorModuleError(f"generator module file {name!r} does not exist")
        if not _DOTTED.fullmatch(path.stem):
            raise GeneratorModuleError(f"generator module file {name!r}: its name {path.stem!r} is not a Python "
                                       "identifier; rename the file (e.g. my_gen.py)")
        old = sys.modules.get(path.stem)
        if old is not None and Path(getattr(old, "__file__", "") or "").resolve() == path:
            return old
        if old is not None:
            raise GeneratorModuleError(f"generator module file {name!r}: a module named {path.stem!r} is already "
                                       f"imported from {getattr(old, '__file__', None)}; rename your file")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module  # so the classes it defines can be found again (pickling, inspect)
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(path.stem, None)
            raise
        return module
    if not _DOTTED.fullmatch(name):
        raise GeneratorModuleError(f"generator module {name!r} is neither a dotted module name (mypkg.my_gen) "
                                   "nor the path of a .py file")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise GeneratorModuleError(f"cannot import generator module {name!r} ({e}); put the folder that holds it on "
                                   "PYTHONPATH (or pip install your package), or give the path of its .py file") from None


def use(name: str) -> list[str]:
    """Import the module ``name`` (a dotted name or a ``.py`` path) and register every
    :class:`HLGenerator` subclass it defines with a ``family`` name; returns those family names.

    The name is added to ``HLWB_GENERATOR_MODULES`` so processes started from this one register it too.
    A family already registered from another class (a shipped one, another module's) is refused.
    """
    from . import GENERATORS

    name = str(name).strip()
    if not name:
        raise GeneratorModuleError("generator module: an empty name; give a module name or a .py path")
    if name in _USED:
        return _USED[name]
    module = _import(name)
    classes = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, HLGenerator)
               and c.__module__ == module.__name__ and c.family]
    if not classes:
        raise GeneratorModuleError(f"generator module {name!r} defines no HLGenerator subclass with a `family` "
                                   "name (class MyGen(hlwb.generators.HLGenerator): family = \"mine\"; ...)")
    for cls in classes:
        have = GENERATORS.get(cls.family)
        if have is not None and have is not cls:
            raise GeneratorModuleError(f"generator module {name!r}: family {cls.family!r} of {cls.__qualname__} is "
                                       f"already {have.__module__}.{have.__qualname__}; give your family another "
                                       f"name (taken: {', '.join(sorted(GENERATORS))})")
    source_sha256(module)  # refuse a module without a source file before anything is registered
    for cls in classes:
        GENERATORS[cls.family] = cls
    _USED[name] = [c.family for c in classes]
    entry = str(Path(name).expanduser().resolve()) if name.endswith(".py") else name
    named = [m for m in os.environ.get(ENV, "").split(os.pathsep) if m]
    if entry not in named:
        os.environ[ENV] = os.pathsep.join([*named, entry])
    return _USED[name]


def use_from_env() -> list[str]:
    """Register the modules named in ``HLWB_GENERATOR_MODULES``; returns the families registered."""
    return [f for m in os.environ.get(ENV, "").split(os.pathsep) if m.strip() for f in use(m)]


def record(gen: HLGenerator) -> dict | None:
    """What a generator file records of the module of ``gen``'s class (None for a shipped family):
    ``{"name", "class", "sha256"}``. A class defined in ``__main__`` (a notebook cell, a script) is
    refused: no other process could import it."""
    cls = type(gen)
    if cls.__module__.startswith("hlwb."):
        return None
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise GeneratorModuleError(
            f"{cls.__qualname__} is defined in {'__main__ (a notebook cell or a script)' if cls.__module__ == '__main__' else 'a function'}"
            "; another process cannot import it. Move the class into a module file (e.g. my_gen.py), "
            "import it from there, and save again (docs/own_generator.md)")
    return {"name": cls.__module__, "class": cls.__qualname__, "sha256": source_sha256(sys.modules[cls.__module__])}


def check(path: str | Path, family: str, recorded: object) -> None:
    """Refuse loading ``path`` (a generator of ``family`` whose module record is ``recorded``) unless
    its family is registered from a module whose source has the recorded SHA-256; the message says
    how to name the module, or how to make the digests agree."""
    from . import GENERATORS

    if not isinstance(recorded, dict) or not all(isinstance(recorded.get(k), str) for k in ("name", "sha256")):
        raise GeneratorModuleError(f"{path}: its \"module\" record {recorded!r:.80} is not "
                                   "{\"name\": ..., \"class\": ..., \"sha256\": ...}; save the generator again with hlwb")
    m = recorded["name"]
    if family not in GENERATORS:
        use_from_env()
    if family not in GENERATORS:
        raise GeneratorModuleError(
            f"{path}: a generator of family {family!r}, defined in your module {m!r} (source SHA-256 "
            f"{recorded['sha256'][:12]}…); hlwb imports a module only when you name it — "
            + HOW.format(m=m, env=ENV))
    cls = GENERATORS[family]
    actual = source_sha256(sys.modules[cls.__module__])
    if actual != recorded["sha256"]:
        raise GeneratorModuleError(
            f"{path}: refused — it was saved with module {m!r} whose source had SHA-256 {recorded['sha256']}, but "
            f"the module imported now ({sys.modules[cls.__module__].__file__}) has {actual}: its class may not fit "
            "these weights any more. Restore the module's source as it was, or, if the change keeps the weights "
            "valid, load them with hlwb.generators.load(path, verify_module=False) and save again")


def add_flag(parser) -> None:
    """``--generator-module MODULE`` (repeatable) on an ``argparse`` parser: see :func:`use_flags`."""
    parser.add_argument("--generator-module", action="append", default=[], metavar="MODULE",
                        help="a module of yours defining an HLGenerator family, imported and registered before the "
                             "command runs: a dotted name on PYTHONPATH or a .py path; repeatable. A generator file "
                             "records its module and SHA-256 but never makes hlwb import it (docs/own_generator.md)")


def use_flags(args) -> list[str]:
    """Register the modules named by ``--generator-module`` in parsed ``args``; returns their families."""
    return [f for m in getattr(args, "generator_module", None) or [] for f in use(m)]
