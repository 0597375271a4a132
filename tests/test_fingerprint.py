"""The stage fingerprint follows only the modules a notebook imports (transitively)."""

import json

from hlwb import fingerprint as F
from hlwb import pipeline


def _pkg(tmp_path):
    pkg = tmp_path / "mypkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "checkpoints").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\nfrom .sub.c import Thing\n")
    (pkg / "b.py").write_text("import os\n\ndef f():\n    from .d import g  # a function-level import counts\n")
    (pkg / "d.py").write_text("X = 1\n")
    (pkg / "sub" / "__init__.py").write_text("from ..e import Y\n")
    (pkg / "sub" / "c.py").write_text("class Thing: ...\n")
    (pkg / "e.py").write_text("Y = 2\n")
    (pkg / "unused.py").write_text("Z = 3\n")
    (pkg / "checkpoints" / "gen.pt").write_bytes(b"weights")
    return pkg


def _notebook(tmp_path, code):
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": "from mypkg import unused"},
                                        {"cell_type": "code", "source": ["%matplotlib inline\n", code]}]}))
    return nb


def test_closure_is_transitive_and_skips_unimported_modules(tmp_path):
    pkg = _pkg(tmp_path)
    files = {p.relative_to(pkg).as_posix() for p in F.library_closure("from mypkg import a\nimport json", pkg)}
    assert files == {"__init__.py", "a.py", "b.py", "d.py", "sub/__init__.py", "sub/c.py", "e.py"}


def test_fingerprint_changes_with_imported_modules_only(tmp_path):
    pkg = _pkg(tmp_path)
    nb = _notebook(tmp_path, "from mypkg import a")
    first = F.stage_fingerprint(nb, {"steps": 1}, [], pkg)
    (pkg / "unused.py").write_text("Z = 4\n")  # imported by no code cell (the markdown cell does not count)
    assert F.stage_fingerprint(nb, {"steps": 1}, [], pkg) == first
    (pkg / "d.py").write_text("X = 2\n")  # reached through a function-level import of b
    second = F.stage_fingerprint(nb, {"steps": 1}, [], pkg)
    assert second != first
    (pkg / "checkpoints" / "gen.pt").write_bytes(b"other weights")
    third = F.stage_fingerprint(nb, {"steps": 1}, [], pkg)
    assert third != second
    assert F.stage_fingerprint(nb, {"steps": 2}, [], pkg) != third


def test_real_stages_import_what_they_use():
    def closure(stage):
        code = F._code_cells(pipeline.NOTEBOOK_DIR / f"{stage}.ipynb")
        return {p.name for p in F.library_closure(code)}

    assert {"perturbation.py", "oracle.py", "latents.py"} <= closure("04_chunk_perturbations")
    assert "transfer.py" not in closure("04_chunk_perturbations")  # notebook 06's module
    assert {"minmax.py", "walkers.py", "views.py"} <= closure("03_walkers")
    assert "pipeline.py" not in closure("05_contrastive_pretraining")


def test_fingerprint_ignores_outputs_but_not_code(tmp_path):
    """Publishing an executed notebook (outputs, counts) must not re-run its stage; a code edit must."""
    pkg = _pkg(tmp_path)
    nb = _notebook(tmp_path, "from mypkg import a")
    first = F.stage_fingerprint(nb, {}, [], pkg)
    d = json.loads(nb.read_text())
    code = next(c for c in d["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "42\n"}]
    code["execution_count"] = 7
    nb.write_text(json.dumps(d))
    assert F.stage_fingerprint(nb, {}, [], pkg) == first
    code["source"] = "from mypkg import a\nprint(1)"
    nb.write_text(json.dumps(d))
    assert F.stage_fingerprint(nb, {}, [], pkg) != first


def test_module_docs_and_comments_do_not_count_but_code_does(tmp_path):
    pkg = _pkg(tmp_path)
    nb = _notebook(tmp_path, "from mypkg import a")
    first = F.stage_fingerprint(nb, {}, [], pkg)
    (pkg / "d.py").write_text('"""A module docstring."""\n\n# a comment\nX = 1  # same value\n\n\n')
    assert F.stage_fingerprint(nb, {}, [], pkg) == first
    (pkg / "d.py").write_text('"""A module docstring."""\n\ndef f():\n    """Doc."""\n    return 1\n\nX = 1\n')
    second = F.stage_fingerprint(nb, {}, [], pkg)
    assert second != first  # a new function is code
    (pkg / "d.py").write_text('"""Other words."""\n\ndef f():\n    """Other doc."""\n    return 1\n\nX = 1\n')
    assert F.stage_fingerprint(nb, {}, [], pkg) == second
    (pkg / "d.py").write_text('"""Other words."""\n\ndef f():\n    return 2\n\nX = 1\n')
    assert F.stage_fingerprint(nb, {}, [], pkg) != second


def test_machine_reads_the_cpu_model_and_its_bf16_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
                    "flags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile amx_bf16\n\n"
                    "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n")
    m = F.machine(info)
    assert m["cpu"] == "Intel(R) Xeon(R) Platinum 8480+" and m["bf16_flags"] == ["amx_bf16", "amx_tile", "avx512_bf16"]
    assert m["torch"] and m["cores"] >= 1
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu avx2\n")
    assert F.machine(info)["bf16_flags"] == []  # no native bf16: bf16 runs are emulated
    assert F.machine(tmp_path / "missing")["cpu"]  # no cpuinfo: platform's name, never empty
