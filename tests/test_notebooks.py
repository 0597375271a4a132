"""The committed notebooks are clean, parameterised and free of reusable code.

nbval executes them (smoke profile) when the test command collects ``notebooks/``.
"""

import ast

import nbformat
import pytest

from hlwb import config

NOTEBOOKS = sorted((config.REPO_ROOT / "notebooks").glob("*.ipynb"))


def test_every_stage_has_a_notebook():
    assert [p.stem for p in NOTEBOOKS] == sorted(config.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_clean(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, "execution metadata left in"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata.get("tags") == ["parameters"], "first code cell must be the parameters cell"
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    for c in code:
        tags = c.metadata.get("tags", [])
        assert "injected-parameters" not in tags
        assert set(c.metadata) <= {"tags"}, f"cell metadata {set(c.metadata)}"
        if "keep_output" not in tags:
            assert c.outputs == [], "outputs kept outside result cells"
        tree = ast.parse(c.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defs, "reusable code belongs in hlwb/, not in a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_executed_top_to_bottom(path):
    nb = nbformat.read(str(path), as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert all(counts) and counts == list(range(1, len(counts) + 1)), "commit the executed notebook"
    kept = [c for c in nb.cells if "keep_output" in c.metadata.get("tags", [])]
    assert kept and all(c.outputs for c in kept), "result cells must keep their outputs"
