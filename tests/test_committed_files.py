"""No committed text file holds a path of the machine it was made on.

A report once said where it was written (``/work/wt-pipe/runs/laptop/report.md``): a path that means
nothing in a clone and names the machine. The rule, :func:`leaks`: an absolute path under the roots of
the machine the test runs on (the one that made the files) -- this checkout, the folder it lies in, the
home directory, the folders pytest and ``tempfile`` create -- or under ``/work/`` and ``/root/``, where
this project's runs were made, anywhere in the text of a file ``git ls-files`` lists (this file aside:
it holds the rule's examples). Paths a program or a page uses on purpose pass: ``/tmp/x.pt`` handed to a
command in a test, ``/usr/share/datasets`` where a package installs data, ``/home/me/my_gen.py`` in a
how-to, a URL's path.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from hlwb.config import REPO_ROOT

# Known leaks (file, path prefix) tolerated while their owner fixes them; any other occurrence fails.
KNOWN: set[tuple[str, str]] = set()  # (file, path prefix) allowed for now; empty: none


def machine_roots() -> list[str]:
    """Prefixes of paths that belong to this machine: this checkout and its parent folder, the home
    directory, pytest's / tempfile's scratch folders, and the roots of this project's machines."""
    roots = {"/work/", "/root/"}
    for p in (REPO_ROOT, REPO_ROOT.parent, Path.home()):
        if len(p.parts) > 1:  # never "/" itself: every path would match
            roots.add(str(p).rstrip("/") + "/")
    tmp = tempfile.gettempdir().rstrip("/")
    roots |= {f"{tmp}/pytest-of-", f"{tmp}/tmp"}  # made by a test run or tempfile.mkdtemp: never meant to be kept
    return sorted(roots)


PATH_CHARS = r"[^\s\"'`()<>\[\]{},;|*]*"


def leaks(text: str, roots: list[str] | None = None) -> list[str]:
    """The machine paths in ``text``: a root of :func:`machine_roots` not inside a longer word or path
    (``runs/work/`` or ``https://host/home/`` do not count), with the rest of the path."""
    roots = machine_roots() if roots is None else roots
    alt = "|".join(re.escape(r) for r in sorted(roots, key=len, reverse=True))
    return [m.group(0) for m in re.finditer(rf"(?<![\w.~/-])(?:{alt}){PATH_CHARS}", text)]


def committed_text_files() -> list[Path]:
    """Every file ``git ls-files`` lists that is text (no NUL byte in its first 8 KiB, valid UTF-8)."""
    try:
        r = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"not a git checkout ({e}): no list of committed files")
    files = []
    for name in r.stdout.decode().split("\0"):
        path = REPO_ROOT / name
        if not name or not path.is_file():  # listed but deleted in the working tree
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def test_the_rule_finds_machine_paths_and_passes_paths_used_on_purpose():
    roots = ["/work/", "/root/", "/home/", "/tmp/pytest-of-"]
    assert leaks("stages: 7962 s; written to /work/wt-pipe/runs/laptop/report.md", roots) == \
        ["/work/wt-pipe/runs/laptop/report.md"]
    assert leaks('"run": "/home/ada/hlwb/runs/laptop", x', roots) == ["/home/ada/hlwb/runs/laptop"]
    assert leaks("see /tmp/pytest-of-root/pytest-7/run0/summary.json", roots) == \
        ["/tmp/pytest-of-root/pytest-7/run0/summary.json"]
    for fine in ('run("train-generator", "--out", "/tmp/x.pt")', "/usr/share/datasets/fashion-mnist",
                 "https://github.com/home/x", "runs/work/w", "~/work/hlwb", "hlwb/checkpoints/biggan.pt"):
        assert leaks(fine, roots) == [], fine
    here = machine_roots()
    assert str(REPO_ROOT) + "/" in here and all(r != "/" for r in here)


def test_no_committed_text_file_holds_a_path_of_the_machine():
    files = committed_text_files()
    assert any(f.name == "README.md" for f in files) and any(f.suffix == ".ipynb" for f in files)
    found = []
    for f in files:
        rel = str(f.relative_to(REPO_ROOT))
        if f.resolve() == Path(__file__).resolve():  # the rule's own examples
            continue
        for hit in leaks(f.read_text(encoding="utf-8")):
            if not any(rel == k and hit.startswith(p) for k, p in KNOWN):
                found.append(f"{rel}: {hit}")
    assert not found, ("machine paths in committed files (write them relative to the repository root, "
                       "hlwb.report.shown):\n  " + "\n  ".join(found))
