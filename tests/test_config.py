import dataclasses
import json

import papermill as pm
import pytest

from hlwb import config
from hlwb.config import ConfigError, HLGeneratorParams


def test_defaults_and_coercion():
    cfg = config.from_params(HLGeneratorParams, {"seed": 1e3, "train": "true", "n_anchors": "50"})
    assert cfg.seed == 1000 and isinstance(cfg.seed, int)  # papermill passes -p seed 1e3 as 1000.0
    assert cfg.train is True and cfg.n_anchors == 50


def test_unknown_parameter_is_named():
    with pytest.raises(ConfigError, match="unknown parameter.*'n_anchorz'.*valid: run_dir"):
        config.from_params(HLGeneratorParams, {"n_anchorz": 3})


@pytest.mark.parametrize("name,value", [("seed", 1.5), ("seed", True), ("train", 1),
                                        ("generators", 3), ("n_samples", "many")])
def test_wrong_type_is_named(name, value):
    with pytest.raises(ConfigError, match=f"parameter '{name}' must be"):
        config.from_params(HLGeneratorParams, {name: value})


def test_profile_fills_only_defaults():
    cfg = config.from_params(HLGeneratorParams, {"n_anchors": 77}, profile="smoke")
    assert cfg.n_anchors == 77  # set explicitly: kept
    assert cfg.n_samples == config.PROFILES["smoke"]["01_hl_generator"]["n_samples"]
    with pytest.raises(ConfigError, match="unknown profile 'tiny'"):
        config.from_params(HLGeneratorParams, {}, profile="tiny")


def test_from_namespace_catches_injected_typo(monkeypatch):
    import json as some_module

    monkeypatch.delenv("HLWB_PROFILE", raising=False)
    ns = {"seed": 3, "json": some_module, "In": [], "_x": 1, "n_stepz": 5}
    with pytest.raises(ConfigError, match="'n_stepz'"):
        config.from_namespace("01_hl_generator", ns)
    del ns["n_stepz"]
    assert config.from_namespace("01_hl_generator", ns).seed == 3


@pytest.mark.parametrize("notebook", list(config.NOTEBOOKS))
def test_parameters_cell_matches_dataclass(notebook):
    """The notebook's parameters cell documents the laptop defaults of its dataclass."""
    found = pm.inspect_notebook(str(config.REPO_ROOT / "notebooks" / f"{notebook}.ipynb"))
    fields = {f.name: f for f in dataclasses.fields(config.NOTEBOOKS[notebook])}
    assert set(found) == set(fields)
    for name, p in found.items():
        assert p["inferred_type_name"] == fields[name].type, name
        assert json.loads(p["default"].replace("True", "true").replace("False", "false")) == fields[name].default
        assert p["help"], f"{name} has no comment"


def test_save_writes_resolved_config(tmp_path):
    p = config.save(HLGeneratorParams(seed=5), tmp_path)
    assert json.loads(p.read_text())["seed"] == 5
