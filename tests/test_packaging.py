import re
import tomllib

import yaml

from hlwb import config

ROOT = config.REPO_ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=\[ ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    names = conda | {_name(p) for p in pip} | {"torch"} if "pytorch" in conda else set()
    missing = {_name(r) for r in project["dependencies"]} - names
    assert not missing, f"environment.yml lacks {missing}"
    assert "-e .[dev]" in pip
    assert "torch==2.13.0" in project["dependencies"] and "pytorch=2.13.0" in env["dependencies"]


def test_shipped_checkpoints_are_small_and_documented():
    for pt in (ROOT / "hlwb" / "checkpoints").glob("*.pt"):
        assert pt.stat().st_size < 8_000_000, pt
        assert pt.with_suffix(".json").exists(), f"{pt.name}: record its command and config beside it"
