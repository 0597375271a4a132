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


def _tiny_notebook():
    """A parameters cell, the config cell, then cells that make variables (as every notebook does)."""
    import nbformat

    params = nbformat.v4.new_code_cell('anchor_seed: int = 0  # the anchor\nn_positives: int = 6  # positives')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[
        params,
        nbformat.v4.new_code_cell('from hlwb import config\ncfg = config.from_namespace("02_latent_explorer", globals())'),
        nbformat.v4.new_code_cell("before = cfg.anchor_seed\nc = [1, 2]\nimport json"),
        nbformat.v4.new_code_cell("print(cfg.anchor_seed, cfg.n_positives, cfg.generator)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    return nb


def test_run_all_twice_in_one_kernel_reads_the_parameters_cell_only(monkeypatch, tmp_path):
    """Run All, then Run All again in the same kernel (as JupyterLab does): the second run sees every
    variable the first one made, and reads the same parameters (papermill's injected cell included)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("HLWB_PROFILE", raising=False)
    nbformat.write(_tiny_notebook(), tmp_path / "tiny.ipynb")
    nb = pm.execute_notebook(str(tmp_path / "tiny.ipynb"), str(tmp_path / "injected.ipynb"),
                             parameters={"anchor_seed": 5}, prepare_only=True)  # papermill's injected cell
    assert "injected-parameters" in nb.cells[1].metadata.tags
    client = NotebookClient(nb, kernel_name="python3", timeout=60)
    printed = []
    with client.setup_kernel():
        for _ in range(2):
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)
            printed.append(nb.cells[-1].outputs[0]["text"])
    assert printed == ["5 6 biggan\n"] * 2


def test_a_misspelled_injected_parameter_is_refused_in_a_kernel(monkeypatch, tmp_path):
    monkeypatch.delenv("HLWB_PROFILE", raising=False)
    import nbformat

    src = tmp_path / "tiny.ipynb"
    nbformat.write(_tiny_notebook(), src)
    with pytest.raises(pm.PapermillExecutionError, match="unknown parameter.*'anchor_sead'"):
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"anchor_sead": 5},
                            kernel_name="python3", progress_bar=False)


def test_parameter_cell_names_reads_the_cells_before_the_call():
    call = 'cfg = config.from_namespace("02_latent_explorer", globals())'
    first = ["", "seed: int = 0\nrun_dir = 'x'", "# Parameters\nseeed = 3\n", call, "before = f(1)"]
    assert config.parameter_cell_names(first) == {"seed", "run_dir", "seeed"}
    # the second Run All: the call's own cell is the last that names it; the first run's cells are not read
    assert config.parameter_cell_names(first + ["seed = 1", "", call]) == {"seed"}
    assert config.parameter_cell_names([]) is None and config.parameter_cell_names(None) is None
    assert config.parameter_cell_names(["x = f()", call]) is None  # no parameters cell: the plain-dict rule
    fields = frozenset({"seed", "run_dir"})  # a parameters cell may compute a value; a closing cell may not pass
    closing = ["", "seed = 1", call, "results = summarise(seed)"]
    assert config.parameter_cell_names(closing + ["run_dir = str(Path('x'))", call], fields) == {"run_dir"}


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


# --- ranges (hlwb.ranges): every numeric parameter has a stated range, checked at the door ---

def _library_configs():
    from hlwb.generators.training import GANConfig
    from hlwb.minmax import MinMaxConfig
    from hlwb.oracle import OracleConfig
    from hlwb.pretrain import PretrainConfig
    from hlwb.rcg import RDMConfig, RepGANConfig

    return {c.__name__: c for c in (PretrainConfig, GANConfig, OracleConfig, MinMaxConfig, RDMConfig, RepGANConfig)}


def _build(cls_name: str, values: dict):
    """A notebook's parameters through its door (from_params); a library config directly."""
    notebooks = {c.__name__: c for c in config.NOTEBOOKS.values()}
    if cls_name in notebooks:
        return config.from_params(notebooks[cls_name], values)
    return _library_configs()[cls_name](**values)


@pytest.mark.parametrize("profile,notebook", [(p, n) for p in config.PROFILES for n in config.NOTEBOOKS])
def test_every_profile_passes_the_ranges(profile, notebook):
    cfg = config.from_params(config.NOTEBOOKS[notebook], {}, profile=profile)
    assert dataclasses.asdict(cfg).keys() == {f.name for f in dataclasses.fields(cfg)}


def test_library_defaults_pass_the_ranges():
    for cls in _library_configs().values():
        cls()


OUT_OF_RANGE = [
    ("HLGeneratorParams", "train_steps", 0), ("HLGeneratorParams", "n_samples", 60001),
    ("HLGeneratorParams", "n_samples", 1), ("HLGeneratorParams", "n_test", 10001),
    ("HLGeneratorParams", "n_anchors", 0), ("HLGeneratorParams", "grid_anchors", 0), ("HLGeneratorParams", "seed", -1),
    ("ExplorerParams", "anchor_seed", -1), ("ExplorerParams", "n_positives", 65), ("ExplorerParams", "n_positives", -1),
    ("ExplorerParams", "sweep_sigmas", "0,-1"), ("ExplorerParams", "sweep_sigmas", ""),
    ("ExplorerParams", "sweep_sigmas", "0,x"),
    ("WalkersParams", "steps", 0), ("WalkersParams", "batch", 1), ("WalkersParams", "lr_walker", 0.0),
    ("WalkersParams", "lr_critic", -1e-4), ("WalkersParams", "critic_width", 0), ("WalkersParams", "walker_hidden", -1),
    ("WalkersParams", "snapshot_every", 0), ("WalkersParams", "snapshot_every", 241), ("WalkersParams", "smooth", 0),
    ("WalkersParams", "snapshot_anchors", 63), ("WalkersParams", "mc_anchors", 10),
    ("WalkersParams", "anchor_truncation", -0.5), ("WalkersParams", "select_after", -1),
    ("WalkersParams", "early_stop_loss", 0.0), ("WalkersParams", "early_stop_after", -1),
    ("WalkersParams", "seed", 2**32), ("WalkersParams", "lr_walker", float("nan")),
    ("PerturbationParams", "sigmas", "-1,0,1"), ("PerturbationParams", "sigmas", "0,1,0.5"),
    ("PerturbationParams", "sigmas", "0,0,1"), ("PerturbationParams", "sigmas", "0.5"),
    ("PerturbationParams", "sigmas", "0,inf"), ("PerturbationParams", "sigmas", "0,,1"),
    ("PerturbationParams", "n_anchors", 127), ("PerturbationParams", "anchor_truncation", -1.0),
    ("PerturbationParams", "level", 2.0), ("PerturbationParams", "level", 0.0), ("PerturbationParams", "level", -0.1),
    ("PerturbationParams", "n_boot", 0), ("PerturbationParams", "n_boot", 39),
    ("PerturbationParams", "critic_train", 63), ("PerturbationParams", "critic_train", 961),
    ("PerturbationParams", "critic_steps", 0), ("PerturbationParams", "critic_width", 0),
    ("PerturbationParams", "critic_batch", 1), ("PerturbationParams", "seed", -3),
    ("PretrainParams", "n_fixed", 0), ("PretrainParams", "steps", 0), ("PretrainParams", "batch", 1),
    ("PretrainParams", "decode_chunk", -1), ("PretrainParams", "width", 0), ("PretrainParams", "blocks", "1,0,1,1"),
    ("PretrainParams", "blocks", "1,1.5"), ("PretrainParams", "base_lr", -0.1), ("PretrainParams", "warmup", 500),
    ("PretrainParams", "warmup", -1), ("PretrainParams", "knn_every", -1), ("PretrainParams", "knn_train", 50001),
    ("PretrainParams", "knn_train", 199), ("PretrainParams", "knn_test", 10001), ("PretrainParams", "knn_test", 0),
    ("PretrainParams", "knn_split", "train"), ("PretrainParams", "seed", -1),
    ("TransferParams", "eval_jobs", 0), ("TransferParams", "n_boot", 1), ("TransferParams", "seed", -1),
    ("PretrainConfig", "steps", 0), ("PretrainConfig", "batch", 1), ("PretrainConfig", "width", 0),
    ("PretrainConfig", "blocks", "2,-2"), ("PretrainConfig", "base_lr", 0.0), ("PretrainConfig", "momentum", 1.0),
    ("PretrainConfig", "weight_decay", -1e-4), ("PretrainConfig", "warmup", 500), ("PretrainConfig", "seed", -1),
    ("PretrainConfig", "ckpt_every", 0), ("PretrainConfig", "knn_every", -1), ("PretrainConfig", "knn_train", 199),
    ("PretrainConfig", "knn_train", 50001), ("PretrainConfig", "knn_test", 10001), ("PretrainConfig", "knn_k", 0),
    ("PretrainConfig", "knn_t", 0.0), ("PretrainConfig", "knn_split", "train"), ("PretrainConfig", "steps", 5.5),
    ("GANConfig", "steps", 0), ("GANConfig", "batch", 1), ("GANConfig", "g_ch", 0), ("GANConfig", "d_ch", 0),
    ("GANConfig", "chunk_dim", 0), ("GANConfig", "lr_g", 0.0), ("GANConfig", "lr_d", -2e-4), ("GANConfig", "beta1", -0.1),
    ("GANConfig", "beta2", 1.0), ("GANConfig", "ema", 1.5), ("GANConfig", "ema_start", -1), ("GANConfig", "seed", -1),
    ("GANConfig", "ckpt_every", 0), ("GANConfig", "threads", -1),
    ("OracleConfig", "epochs", 0), ("OracleConfig", "batch", 60001), ("OracleConfig", "batch", 1),
    ("OracleConfig", "lr", 0.0), ("OracleConfig", "weight_decay", -1.0), ("OracleConfig", "width", 0),
    ("OracleConfig", "seed", -1), ("OracleConfig", "threads", -2),
    ("MinMaxConfig", "steps", 0), ("MinMaxConfig", "batch", 1), ("MinMaxConfig", "tau", 0.0),
    ("MinMaxConfig", "lr_walker", 0.0), ("MinMaxConfig", "lr_critic", 0.0), ("MinMaxConfig", "beta1", 1.0),
    ("MinMaxConfig", "beta2", -0.5), ("MinMaxConfig", "critic_width", 0), ("MinMaxConfig", "walker_hidden", -1),
    ("MinMaxConfig", "seed", -1), ("MinMaxConfig", "ckpt_every", 0), ("MinMaxConfig", "snapshot_every", -1),
    ("MinMaxConfig", "early_stop_loss", -1.0), ("MinMaxConfig", "early_stop_after", -1),
    ("RDMConfig", "dim", 1), ("RDMConfig", "width", 255), ("RDMConfig", "blocks", 0), ("RDMConfig", "lr", 0.0),
    ("RDMConfig", "ema", 1.5), ("RDMConfig", "sample_steps", 1001), ("RDMConfig", "ckpt_every", 0),
    ("RepGANConfig", "p_uncond", 1.0), ("RepGANConfig", "p_uncond", -0.1), ("RepGANConfig", "rep_dim", 0),
    ("RepGANConfig", "batch", 1), ("RepGANConfig", "stat_batches", 0),
]


@pytest.mark.parametrize("cls_name,name,value", OUT_OF_RANGE)
def test_out_of_range_is_refused_naming_parameter_value_and_range(cls_name, name, value):
    with pytest.raises(ConfigError) as e:
        _build(cls_name, {name: value})
    msg = str(e.value)
    assert e.value.param == name and f"parameter {name!r} = " in msg and cls_name in msg
    assert msg.split(" = ", 1)[1].startswith(repr(value)), msg  # the value as given
    assert "must be" in msg


@pytest.mark.parametrize("cls_name,values", [
    ("PerturbationParams", {"level": 1.0}), ("PerturbationParams", {"sigmas": "0.1,0.2"}),
    ("PerturbationParams", {"sigmas": " 0, 0.5 ,1"}), ("PerturbationParams", {"critic_train": 960}),
    ("PretrainParams", {"base_lr": 0.0}), ("PretrainParams", {"warmup": 499}), ("PretrainParams", {"warmup": 0}),
    ("PretrainParams", {"knn_train": 50000, "knn_test": 10000}),
    ("PretrainParams", {"knn_train": 60000, "knn_split": "test"}), ("PretrainParams", {"knn_every": 0}),
    ("PretrainConfig", {"knn_train": 60000, "knn_test": 10000, "knn_split": "test"}),
    ("PretrainConfig", {"knn_k": 5, "knn_train": 5}), ("ExplorerParams", {"n_positives": 0}),
    ("WalkersParams", {"snapshot_every": 240, "snapshot_anchors": 64}), ("GANConfig", {"beta1": 0.0, "ema": 1.0}),
    ("HLGeneratorParams", {"n_samples": 60000, "n_test": 10000}),
])
def test_boundary_values_are_accepted(cls_name, values):
    cfg = _build(cls_name, values)
    assert all(getattr(cfg, k) == v for k, v in values.items())


def test_cross_field_message_states_the_other_field():
    with pytest.raises(ConfigError, match=r"'warmup' = 50 .*\[0, 10\).*steps = 10"):
        config.from_params(config.PretrainParams, {"steps": 10})
    with pytest.raises(ConfigError, match=r"'knn_test' = 12000 .*\[1, 10000\].*val split"):
        config.from_params(config.PretrainParams, {"knn_test": 12000})
    with pytest.raises(ConfigError, match=r"'knn_train' = 100 .*knn_k = 200"):
        _build("PretrainConfig", {"knn_train": 100})


def test_every_numeric_field_has_a_range():
    """int, float and comma-separated-number fields of every config dataclass have a rule, and
    every rule names a field (a new parameter without a stated range fails here)."""
    from hlwb.ranges import RANGES

    classes = {**{c.__name__: c for c in config.NOTEBOOKS.values()}, **_library_configs()}
    assert set(RANGES) == set(classes)
    for name, cls in classes.items():
        fields = {f.name: f for f in dataclasses.fields(cls)}
        numeric = {n for n, f in fields.items() if f.type in ("int", "float")
                   or (f.type == "str" and f.default and all(s.strip().lstrip("-").replace(".", "", 1).isdigit()
                                                             for s in f.default.split(",")))}
        assert numeric <= set(RANGES[name]), (name, numeric - set(RANGES[name]))
        assert set(RANGES[name]) <= set(fields), (name, set(RANGES[name]) - set(fields))
    assert {"sigmas", "blocks"} <= set(RANGES["PerturbationParams"]) | set(RANGES["PretrainParams"])


def test_range_constants_match_the_library():
    from hlwb import data, pretrain, ranges

    assert ranges.VAL_SPLIT == pretrain.VAL_SPLIT
    assert ranges.KNN_K == pretrain.PretrainConfig().knn_k  # notebook 05 keeps the library's knn_k
    assert (len(data.fashion_mnist("train").labels), len(data.fashion_mnist("test").labels)) == (
        ranges.FASHION_TRAIN, ranges.FASHION_TEST)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
