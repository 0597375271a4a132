"""What a pipeline stage depends on, as one hash: its notebook, its parameters, the files earlier
stages wrote that it reads, the shipped checkpoints, and only the hlwb modules it imports.

The modules are found statically: every ``import`` / ``from ... import`` in the notebook's
code cells that names ``hlwb``, then every import of those modules (function-level imports
included, relative ones resolved), transitively, plus the ``__init__`` of each package on
the way. An edit to a module no stage imports re-runs nothing; an edit to ``hlwb/views.py``
re-runs the stages that reach it. Modules are hashed by their code (:func:`code_digest`: the AST
without docstrings), notebooks by their code cells: comments, docstrings, Markdown and outputs
re-run nothing.

:func:`machine` is the other half of what a number depends on: the CPU (model, cores, the bf16
instructions that decide whether bf16 runs natively) and torch; bf16 runs of one seed differ
across CPUs by tenths of a point, so every results row carries it beside its precision.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

PKG = Path(__file__).resolve().parent


def _code_cells(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    cells = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
             for c in nb["cells"] if c["cell_type"] == "code"]
    # IPython magics and shell lines are not Python
    return "\n".join(line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!")))


def _sources(notebook: Path) -> str:
    """Every code cell's source, in order (outputs, counts and metadata left out)."""
    cells = json.loads(notebook.read_text())["cells"]
    return "\0".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                      for c in cells if c["cell_type"] == "code")


def _module_file(name: str, pkg: Path) -> Path | None:
    """``hlwb.a.b`` -> ``<pkg>/a/b.py`` or ``<pkg>/a/b/__init__.py`` (None: not a module of the package)."""
    parts = name.split(".")[1:]
    base = pkg.joinpath(*parts) if parts else pkg
    for f in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if f is not None and f.is_file():
            return f
    return None


def _imported(tree: ast.AST, current: str, is_package: bool, root: str) -> set[str]:
    """Module names (under ``root``) that ``tree`` imports; ``current`` is its own dotted name."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == root}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = current.split(".") if is_package else current.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != root:
                continue
            names.add(mod)
            names |= {f"{mod}.{a.name}" for a in node.names}  # ``from . import data`` imports a module
    return names


def library_closure(code: str, pkg: Path = PKG) -> list[Path]:
    """The files of package ``pkg`` that ``code`` imports, transitively (sorted)."""
    root = pkg.name
    seen: dict[str, Path] = {}
    todo = sorted(_imported(ast.parse(code), "__main__", False, root))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            sub = ".".join(parts[:i])
            if sub in seen:
                continue
            f = _module_file(sub, pkg)
            if f is None:  # an attribute (``from .x import Name``), not a module
                continue
            seen[sub] = f
            todo += sorted(_imported(ast.parse(f.read_text()), sub, f.name == "__init__.py", root))
    return sorted(set(seen.values()))


def stage_fingerprint(notebook: Path, params: dict, upstream: list[Path], pkg: Path = PKG,
                      legacy: bool = False) -> str:
    """SHA-256 over the notebook's code cells, its parameters, ``upstream`` files, the modules it imports and
    the shipped checkpoints (``<pkg>/checkpoints``)."""
    h = hashlib.sha256()
    h.update(_sources(notebook).encode())  # the code, not its outputs: publishing a run changes nothing
    h.update(json.dumps(params, sort_keys=True).encode())
    for f in upstream:
        h.update(str(f).encode())
        h.update(f.read_bytes())
    for f in library_closure(_code_cells(notebook), pkg):
        h.update(str(f.relative_to(pkg)).encode())
        # legacy: the scheme before 2026-12-02 (module bytes), read only to migrate old markers
        h.update(f.read_bytes() if legacy else code_digest(f).encode())
    for f in sorted((pkg / "checkpoints").glob("*")):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def code_digest(module: Path) -> str:
    """SHA-256 of a module's code without its comments, docstrings and layout (its AST with
    docstrings removed), so that documenting a module re-runs nothing."""
    tree = ast.parse(module.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 matrix units


def _cpuinfo(path: Path) -> tuple[str, set[str]]:
    """CPU model name and flags from a ``/proc/cpuinfo``-style file ("", set() when unreadable)."""
    try:
        text = path.read_text()
    except OSError:
        return "", set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def machine(cpuinfo: str | Path = "/proc/cpuinfo") -> dict:
    """The machine numbers are computed on: ``{cpu, cores, bf16_flags, platform, torch}``.

    ``cpu``: the model name (``/proc/cpuinfo``; ``platform.processor()`` where there is none);
    ``bf16_flags``: which of :data:`BF16_FLAGS` the CPU has (AMX / AVX512-BF16: bf16 runs natively);
    ``torch``: the installed version (read from the package metadata, torch is not imported)."""
    model, flags = _cpuinfo(Path(cpuinfo))
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = ""
    return {"cpu": model or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "bf16_flags": [f for f in BF16_FLAGS if f in flags], "platform": platform.platform(),
            "torch": torch_version}
