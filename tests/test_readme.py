"""Every Python block of the README runs on its own (a fresh namespace, in a scratch directory)."""

import os
import re

import pytest

from hlwb import config

BLOCKS = re.findall(r"```python\n(.*?)```", (config.REPO_ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_block_runs_alone(i, tmp_path, monkeypatch):
    (tmp_path / "figures").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    exec(compile(BLOCKS[i], f"README block {i + 1}", "exec"), {"__name__": "__readme__"})  # noqa: S102 (the README's own code)
