"""The hostile pass of issue 31, one test per case: each failed quietly, hung, or blamed the wrong
cause; each now refuses in one line, naming what is wrong, before anything is allocated or written.

A previously hanging case runs under :func:`deadline` (SIGALRM): a regression fails the test
instead of hanging the suite.
"""

import contextlib
import json
import signal

import pytest
import torch

from hlwb import checkpoint, generators, ranges
from hlwb import explorer as E
from hlwb import latents as L


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging) when the body runs longer than ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the case hangs again")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _settings(gen: str, **fields) -> str:
    """Exported-settings JSON text for ``gen`` with ``fields`` replaced."""
    d = json.loads(E.default_state(gen).to_json())
    d.update(fields)
    return json.dumps(d)


# --- no hang: explorer truncation 1e-300, latents.truncated_normal(..., 1e-9), anchor_truncation ------------

@pytest.mark.parametrize("bound", [1e-9, 1e-300, 5e-324, 0.02])
def test_truncated_normal_with_a_tiny_bound_ends_and_keeps_the_bound(bound):
    with deadline(30):
        x = L.truncated_normal((20_000,), bound, L.make_generator(0))
    assert x.shape == (20_000,) and bool((x.abs() <= bound).all())
    if bound >= 1e-30:  # representable in float32: spread over the interval, not piled at one value
        assert float(x.abs().max()) > 0.9 * bound and float(x.std()) > 0.5 * bound


def test_truncated_normal_is_unchanged_at_ordinary_bounds():
    """Bit-identity: the bounded sampler draws what plain rejection sampling drew (2.0, 0.9, inf)."""
    def plain(shape, bound, g):
        x = torch.randn(shape, generator=g)
        if bound is None:
            return x
        bad = x.abs() > bound
        while bad.any():
            x[bad] = torch.randn(int(bad.sum()), generator=g)
            bad = x.abs() > bound
        return x

    for bound in (2.0, 0.9, 0.5, float("inf"), None):
        assert torch.equal(L.truncated_normal((50_000,), bound, L.make_generator(3)),
                           plain((50_000,), bound, L.make_generator(3))), bound


def test_explorer_truncation_1e_300_is_refused_at_once(tiny_gen):
    with deadline(60):
        state = E.default_state(tiny_gen)
        state.truncation = 1e-300
        with pytest.raises(E.ExplorerError, match=r"truncation must be a number in \[0.1, 3.0\].*got 1e-300"):
            E.render(state)
        with pytest.raises(E.ExplorerError, match="truncation"):
            E.load_settings(_settings(tiny_gen, truncation=1e-300))


@pytest.mark.parametrize("notebook", ["WalkersParams", "PerturbationParams"])
def test_anchor_truncation_below_the_cheap_bound_is_refused(notebook):
    from hlwb import config

    cls = getattr(config, notebook)
    with pytest.raises(config.ConfigError, match=r"'anchor_truncation' = 1e-300 .* must be in \[0.1, inf\)"):
        config.from_params(cls, {"anchor_truncation": 1e-300})
    assert config.from_params(cls, {"anchor_truncation": 0.0}).anchor_truncation == 0.0  # the family's own
    assert config.from_params(cls, {"anchor_truncation": 0.9}).anchor_truncation == 0.9  # StyleGAN's reference


def test_the_lower_bounds_agree():
    assert ranges.MIN_TRUNCATION == L.MIN_TRUNCATION == E.TRUNCATION_MIN


# --- explorer settings: every bad field is an ExplorerError -------------------------------------------------

@pytest.mark.parametrize("field, value, msg", [
    ("positive_seed", -1, r"positive_seed must be an int in 0\.\.\d+, got -1"),
    ("n_positives", True, r"n_positives must be an int in 0\.\.64, got True"),
    ("anchor_seed", 1.5, r"anchor_seed must be an int"),
    ("truncation", "2", r"truncation must be a number"),
    ("directions", ["pca"], r"directions must be 'random' or 'pca'"),
    ("generator", 7, r"\"generator\" must be a name or a path, got 7"),
])
def test_explorer_bad_field_is_an_explorer_error(tiny_gen, field, value, msg):
    with pytest.raises(E.ExplorerError, match=msg) as e:
        E.load_settings(_settings(tiny_gen, **{field: value}))
    assert "\n" not in str(e.value)


def test_explorer_latents_beyond_float_are_an_explorer_error(tiny_gen):
    state = E.default_state(tiny_gen)
    text = _settings(tiny_gen)[:-1] + ', "latents": ' + json.dumps([[10**400] * c.dim for c in
                                                                     E.generator(tiny_gen).chunks]) + "}"
    with pytest.raises(E.ExplorerError, match=r"latents\[0\] must hold numbers only, got 1000.*finite"):
        E.load_settings(text)
    nan = _settings(tiny_gen)[:-1] + ', "latents": [[NaN]]}'
    with pytest.raises(E.ExplorerError, match="must hold numbers only, got nan"):
        E.load_settings(nan)
    chunk = json.loads(state.to_json())["chunks"]
    chunk[0]["alpha"] = float("inf")
    with pytest.raises(E.ExplorerError, match=r"chunk alpha \(chunk 0\) must be a number"):
        E.load_settings(_settings(tiny_gen, chunks=chunk))


# --- non-finite files refused at load (encoders, gcrl.pt, every loader through checkpoint.load) -------------

def _write_raw(path, kind: str, state: dict) -> None:
    """A file as a damaged or foreign writer would leave it (checkpoint.save refuses non-finite tensors)."""
    torch.save({"format": f"hlwb/{kind}", **state}, path)


def _poison(state: dict, value: float) -> tuple[dict, str]:
    """``state`` with the first float tensor of its state_dict holding ``value``; returns it and the key."""
    sd = {k: v.clone() for k, v in state["state_dict"].items()}
    key = next(k for k, v in sd.items() if v.is_floating_point())
    sd[key].view(-1)[0] = value
    return {**state, "state_dict": sd}, f"state_dict.{key}"


@pytest.fixture(scope="module")
def nan_encoder(tmp_path_factory):
    from hlwb.encoders import ResNetTrunk, save_encoder

    d = tmp_path_factory.mktemp("enc")
    save_encoder(d / "ok.pt", ResNetTrunk(4, (1, 1)), meta={})
    state = torch.load(d / "ok.pt", weights_only=True)
    state.pop("format")
    bad, key = _poison(state, float("nan"))
    _write_raw(d / "nan.pt", "encoder", bad)
    return d / "nan.pt", key


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_encoder_with_nonfinite_weights_is_refused_naming_file_and_tensor(tmp_path, value):
    from hlwb.encoders import ResNetTrunk, load_encoder, save_encoder

    save_encoder(tmp_path / "ok.pt", ResNetTrunk(4, (1, 1)), meta={})
    state = torch.load(tmp_path / "ok.pt", weights_only=True)
    state.pop("format")
    bad, key = _poison(state, value)
    _write_raw(tmp_path / "bad.pt", "encoder", bad)
    with pytest.raises(checkpoint.CheckpointError, match=rf"bad\.pt: refused — tensor '{key}' holds NaN or infinite"):
        load_encoder(tmp_path / "bad.pt")
    load_encoder(tmp_path / "ok.pt")  # the finite original loads


def test_gcrl_file_with_nan_weights_is_refused(tmp_path):
    from hlwb.ssl.gcrl import build_gcrl, load_gcrl, save_gcrl

    save_gcrl(tmp_path / "gcrl.pt", build_gcrl(4, [1, 1], head_width=8, head_layers=2, hidden=16, proj_dim=8))
    state = torch.load(tmp_path / "gcrl.pt", weights_only=True)
    state.pop("format")
    bad, key = _poison(state, float("nan"))
    _write_raw(tmp_path / "gcrl.pt", "gcrl", bad)
    (tmp_path / "gcrl.json").unlink()  # a foreign writer leaves no digest sidecar (save_gcrl's would not match)
    with pytest.raises(checkpoint.CheckpointError, match=rf"gcrl\.pt: refused — tensor '{key}' holds NaN"):
        load_gcrl(tmp_path / "gcrl.pt")


def test_train_rdm_on_a_nan_encoder_is_refused_before_a_work_dir(nan_encoder, tmp_path, capsys):
    from hlwb import cli

    bad, key = nan_encoder
    rc = cli.main(["train-rdm", "--encoder", str(bad), "--out", str(tmp_path / "rdm.pt"), "--steps", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and key in err and "NaN" in err and "learning rate" not in err.split(";")[0]
    assert list(tmp_path.iterdir()) == []  # no rdm.work, no lock, no file


def test_calibrate_on_a_nan_encoder_names_the_file_at_once(nan_encoder, capsys):
    from hlwb import cli

    bad, key = nan_encoder
    with deadline(60):  # refused before the minutes of scoring raw pixels
        rc = cli.main(["calibrate", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and str(bad) in err and key in err and "NaN or infinite" in err


def test_every_loader_goes_through_the_finite_check(tmp_path):
    """Walkers, generators, the oracle, the RDM and the RCG generator load through checkpoint.load."""
    import inspect

    from hlwb import oracle, walkers
    from hlwb.rcg import generator as rcg_generator
    from hlwb.rcg import rdm

    for fn in (walkers.load_learned, generators.load, oracle.load, rdm.load_rdm, rcg_generator.load_rep_generator):
        assert "checkpoint.load(" in inspect.getsource(fn), fn.__qualname__
    p = tmp_path / "w.pt"
    _write_raw(p, "thing", {"state_dict": {"a": torch.tensor([1.0, float("-inf")])}})
    with pytest.raises(checkpoint.CheckpointError, match=r"tensor 'state_dict\.a' holds NaN or infinite"):
        checkpoint.load(p, kind="thing")


# --- a copy without its sidecar: a warning with its digest; in hlwb/checkpoints: refused ---------------------

def _flip_a_weight_bit(path) -> bytes:
    """Flip the lowest bit of one float in the largest tensor of a torch zip file (it still loads, finite)."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
    raw[info.header_offset + 30 + name_len + extra_len + info.file_size // 8 * 4] ^= 0x01
    path.write_bytes(bytes(raw))
    return bytes(raw)


@pytest.mark.parametrize("name", ["biggan", "rcg_rdm", "rcg_generator", "rcg_encoder"])
def test_a_flipped_copy_without_sidecar_warns_with_its_digest(tmp_path, caplog, name):
    import hashlib
    import shutil

    src = checkpoint.SHIPPED_DIR / f"{name}.pt"
    shutil.copy(src, tmp_path / src.name)
    with caplog.at_level("WARNING", logger="hlwb.checkpoint"):
        checkpoint.load(tmp_path / src.name, kind=torch.load(src, weights_only=True)["format"][5:])
    assert not caplog.records  # an unchanged copy is a shipped file: verified by its bytes
    raw = _flip_a_weight_bit(tmp_path / src.name)  # the file still loads: only its digest tells
    with caplog.at_level("WARNING", logger="hlwb.checkpoint"):
        checkpoint.load(tmp_path / src.name, kind=torch.load(src, weights_only=True)["format"][5:])
    digest = hashlib.sha256(raw).hexdigest()
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "digest unchecked" in msgs[0] and digest in msgs[0], msgs
    assert f"named like the shipped {src.name}" in msgs[0] and "\n" not in msgs[0]


def test_the_explorer_generator_field_copy_warns(tmp_path, caplog):
    import shutil

    shutil.copy(generators.shipped_path("biggan"), tmp_path / "mine.pt")
    _flip_a_weight_bit(tmp_path / "mine.pt")
    with caplog.at_level("WARNING", logger="hlwb.checkpoint"):
        E.generator(str(tmp_path / "mine.pt"))
    assert any("digest unchecked" in r.getMessage() and "mine.pt" in r.getMessage() for r in caplog.records)


def test_a_file_in_the_shipped_folder_without_digest_is_refused(tmp_path, monkeypatch):
    import shutil

    from hlwb.rcg import load_rdm

    shutil.copy(checkpoint.SHIPPED_DIR / "rcg_rdm.pt", tmp_path / "rcg_rdm.pt")
    monkeypatch.setattr(checkpoint, "SHIPPED_DIR", tmp_path)  # tmp_path plays hlwb/checkpoints/
    with pytest.raises(checkpoint.CheckpointError, match=r'a shipped checkpoint, but .*rcg_rdm\.json records no "sha256"'):
        load_rdm(tmp_path / "rcg_rdm.pt")


# --- the cause named: gcrl_alpha, a first-step NaN, HLWB_DEVICE, the lock's flag ----------------------------

def test_gcrl_alpha_1e30_is_refused_naming_the_parameter(tmp_path, capsys):
    from hlwb import cli

    rc = cli.main(["pretrain", "--method", "gcrl", "--gcrl-alpha", "1e30", "--strategy", "real",
                   "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 2 and "'gcrl_alpha' = 1e+30" in err and "must be in [0, 10]" in err and "learning rate" in err
    assert not (tmp_path / "w").exists()


def test_a_nonfinite_loss_names_a_raised_loss_weight_or_the_first_step():
    from hlwb.train import NonFiniteLoss, fit

    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLoss, match="first step, before any update, so the learning rate is not the cause"):
        fit(lambda i: {"loss": float("nan")}, modules={"m": net}, optimizers={"o": opt}, steps=3, ckpt_path=None,
            meta={"config": {"gcrl_alpha": 1.0}})
    with pytest.raises(NonFiniteLoss, match=r"gcrl_alpha = 8 multiplies its loss term, and so the step"):
        fit(lambda i: {"loss": float("nan") if i == 2 else 1.0}, modules={"m": net}, optimizers={"o": opt},
            steps=3, ckpt_path=None, meta={"config": {"gcrl_alpha": 8.0}})


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU: HLWB_DEVICE=cuda is valid here")
def test_hlwb_device_naming_an_absent_gpu_is_an_error_naming_the_variable(monkeypatch, tmp_path, capsys):
    from hlwb import cli, devices

    monkeypatch.setenv("HLWB_DEVICE", "cuda")
    with pytest.raises(ValueError, match=r"^HLWB_DEVICE='cuda' .* no CUDA GPU.*set HLWB_DEVICE to cpu"):
        devices.resolve("auto")
    rc = cli.main(["eval-generator", "biggan", "--n", "10"])
    assert rc == 2 and "HLWB_DEVICE='cuda'" in capsys.readouterr().err


def test_the_lock_message_of_pretrain_names_work_dir(tmp_path, capsys):
    from hlwb import cli
    from hlwb.lock import DirLock

    work = tmp_path / "w"
    with DirLock(work, what="another pretrain"):
        rc = cli.main(["pretrain", "--strategy", "real", "--steps", "2", "--warmup", "1", "--batch", "8", "--width", "4",
                       "--blocks", "1,1", "--knn-every", "0", "--work-dir", str(work)])
    err = capsys.readouterr().err
    assert rc == 2 and "in use by another pretrain" in err and "(--work-dir)" in err and "--out" not in err


# --- sizes refused before they allocate: a refused run leaves no work dir, lock or config.json ---------------

def test_train_rep_generator_batch_larger_than_the_train_set_is_refused(tmp_path, capsys):
    from hlwb import cli

    rc = cli.main(["train-rep-generator", "--encoder", str(tmp_path / "enc.pt"), "--out", str(tmp_path / "g.pt"),
                   "--batch", "100000"])
    err = capsys.readouterr().err
    assert rc == 2 and "'batch' = 100000" in err and "[2, 60000]" in err and "train images" in err
    assert list(tmp_path.iterdir()) == []  # no g.work, no .hlwb.lock, no config.json


def test_a_batch_that_fits_the_data_but_not_the_memory_is_refused_with_what_fits(tmp_path, capsys, monkeypatch):
    from hlwb import cli

    monkeypatch.setenv("HLWB_MEMORY_GB", "8")  # this machine, as far as the budget knows
    rc = cli.main(["train-rep-generator", "--encoder", str(tmp_path / "enc.pt"), "--out", str(tmp_path / "g.pt"),
                   "--batch", "50000"])
    err = capsys.readouterr().err
    assert rc == 2 and "batch = 50000 is too large" in err and "8 GiB of memory; at most batch = " in err
    limit = int(err.split("at most batch = ")[1].split()[0])
    from hlwb.rcg import RepGANConfig

    RepGANConfig(batch=limit)  # the value it names fits
    with pytest.raises(ranges.ConfigError, match="batch"):
        RepGANConfig(batch=limit + 1)
    assert list(tmp_path.iterdir()) == []


def test_train_rep_generator_g_ch_100000_is_refused_before_allocating(tmp_path, capsys):
    import resource

    from hlwb import cli

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with deadline(240):
        rc = cli.main(["train-rep-generator", "--encoder", str(tmp_path / "enc.pt"), "--out",
                       str(tmp_path / "g.pt"), "--g-ch", "100000"])
    err = capsys.readouterr().err
    assert rc == 2 and "g_ch = 100000 is too large" in err and "nothing allocated" in err and "at most g_ch = " in err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 2**20  # KiB: less than 1 GiB more at peak
    assert list(tmp_path.iterdir()) == []


def test_notebook_05_batch_100000_is_refused_by_its_parameters():
    from hlwb import config

    with pytest.raises(ranges.ConfigError, match=r"'batch' = 100000 .* \[2, 60000\]"):
        config.from_params(config.PretrainParams, {"batch": 100000, "strategy": "real"})
    with pytest.raises(ranges.ConfigError, match=r"batch = 100000 is too large: .* at most batch = \d+ fits here"):
        config.from_params(config.PretrainParams, {"batch": 100000})  # generated views: bounded by memory
    with pytest.raises(ranges.ConfigError, match=r"'batch' = 200 .* n_fixed = 100 view pairs"):
        config.from_params(config.PretrainParams, {"batch": 200, "sampling": "fixed", "n_fixed": 100})


@pytest.mark.slow
def test_notebook_05_batch_100000_leaves_nothing_behind(tmp_path):
    import papermill as pm

    from hlwb import config

    run = tmp_path / "run"
    with pytest.raises(pm.PapermillExecutionError, match=r"ConfigError.*batch = 100000 is too large"):
        pm.execute_notebook(config.REPO_ROOT / "notebooks" / "05_contrastive_pretraining.ipynb",
                            tmp_path / "out.ipynb", parameters={"batch": 100000, "run_dir": str(run)},
                            kernel_name="python3", cwd=str(config.REPO_ROOT / "notebooks"), progress_bar=False)
    assert not run.exists()  # no config.json, no train/, no lock


@pytest.mark.parametrize("argv, param", [
    (["pretrain", "--strategy", "real", "--batch", "100000"], "batch"),
    (["pretrain", "--width", "100000"], "width"),
    (["train-generator", "--batch", "100000"], "batch"),
    (["train-rdm", "--encoder", "x.pt", "--width", "100000000"], "width"),
    (["train-oracle", "--width", "100000"], "width"),
])
def test_size_flags_of_every_training_command_are_bounded(tmp_path, capsys, argv, param):
    from hlwb import cli

    dest = ["--work-dir", str(tmp_path / "w")] if argv[0] == "pretrain" else ["--out", str(tmp_path / "o.pt")]
    with deadline(240):
        rc = cli.main([*argv, *dest])
    err = capsys.readouterr().err
    assert rc == 2 and (f"'{param}' = " in err or f"{param} = " in err) and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


# --- publishing cannot lose results ---------------------------------------------------------------------------

_RUNS: dict = {}


@pytest.fixture(scope="module")
def run_templates(tmp_path_factory):
    _RUNS["root"] = tmp_path_factory.mktemp("runs")
    yield _RUNS
    _RUNS.clear()


def _fake_run(root, profile: str, commit: str | None = None):
    """A finished pipeline run of ``profile`` (a copy of one made once per module): every stage's executed
    notebook (the committed one) and an ``ok`` marker whose fingerprint this code computes, a figure,
    results recording where they come from (``commit``: another one) and a report."""
    import shutil

    if profile not in _RUNS:
        _RUNS[profile] = _make_run(_RUNS["root"], profile)
    run = root / f"run_{profile}"
    shutil.copytree(_RUNS[profile], run)
    if commit:
        res = run / f"results_{profile}.json"
        d = json.loads(res.read_text())
        res.write_text(json.dumps({**d, "provenance": {**d["provenance"], "commit": commit}}))
    return run


def _make_run(root, profile: str):
    import shutil

    from hlwb import pipeline, report

    run = root / f"run_{profile}"
    for stage in pipeline.STAGES:
        nb = pipeline.executed_notebook(run, stage)
        nb.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pipeline.NOTEBOOK_DIR / f"{stage}.ipynb", nb)
        params = {**pipeline.stage_params(stage, profile, run), "run_dir": str(nb.parent)}
        (nb.parent / "stage.json").write_text(json.dumps({"fingerprint": pipeline.fingerprint(stage, params),
                                                          "status": "ok", "params": params}))
    (run / "figures").mkdir()
    (run / "figures" / "chunk_agreement.png").write_bytes(b"new figure")
    (run / f"results_{profile}.json").write_text(json.dumps({"profile": profile, "provenance": report.provenance()}))
    (run / "report.md").write_text("# report\n![a](figures/chunk_agreement.png)\n")
    (run / "summary.json").write_text(json.dumps({"profile": profile, "wall_s": 1.0, "stages": {}}))
    return run


@pytest.fixture
def published(tmp_path, run_templates):
    """The repository's published folders (a copy's worth): one figure and notebook 01 from a laptop run."""
    figs, nbs = tmp_path / "figures", tmp_path / "notebooks"
    figs.mkdir()
    nbs.mkdir()
    (figs / "chunk_agreement.png").write_bytes(b"laptop figure")
    (nbs / "01_hl_generator.ipynb").write_text("laptop notebook")
    return figs, nbs


def _unchanged(published) -> bool:
    figs, nbs = published
    return ((figs / "chunk_agreement.png").read_bytes() == b"laptop figure"
            and (nbs / "01_hl_generator.ipynb").read_text() == "laptop notebook"
            and sorted(p.name for p in figs.iterdir()) == ["chunk_agreement.png"])


def test_publishing_a_smoke_run_is_refused_and_overwrites_nothing(tmp_path, published, capsys):
    from hlwb import cli, pipeline

    run = _fake_run(tmp_path, "smoke")
    with pytest.raises(pipeline.PipelineError, match="smoke-profile run, but notebooks/ and figures/ hold the laptop"):
        pipeline.publish_run(run, *published)
    assert _unchanged(published)
    assert cli.main(["publish", "--run", str(run)]) == 2  # the command: refused before the repository is touched
    assert "is a smoke-profile run" in capsys.readouterr().err


def test_publishing_records_profile_commit_and_machine(tmp_path, published):
    from hlwb import pipeline, report

    run = _fake_run(tmp_path, "laptop")
    written = pipeline.publish_run(run, *published)
    figs, nbs = published
    assert (figs / "chunk_agreement.png").read_bytes() == b"new figure" and nbs / "01_hl_generator.ipynb" in written
    manifest = json.loads((figs / "published.json").read_text())
    here = report.provenance()
    assert manifest["profile"] == "laptop" and manifest["commit"] == here["commit"] and manifest["machine"] == here["machine"]
    assert "figures/chunk_agreement.png" in manifest["files"] and "notebooks/06_transfer.ipynb" in manifest["files"]
    assert json.loads((figs / "results_laptop.json").read_text())["provenance"]["commit"] == here["commit"]
    assert not (run / ".hlwb.lock").exists()  # publish held the run while copying, and let it go


def test_publishing_a_run_a_pipeline_holds_is_refused(tmp_path, published, capsys):
    from hlwb import cli, pipeline
    from hlwb.lock import DirLock, LockedError

    run = _fake_run(tmp_path, "laptop")
    with DirLock(run, what="hlwb pipeline --profile laptop"):
        with pytest.raises(LockedError, match="in use by hlwb pipeline --profile laptop"):
            pipeline.publish_run(run, *published)
        assert cli.main(["publish", "--run", str(run)]) == 2
    assert "in use by hlwb pipeline" in capsys.readouterr().err and _unchanged(published)


def test_publishing_a_run_with_a_stage_still_running_is_refused(tmp_path, published):
    from hlwb import pipeline

    run = _fake_run(tmp_path, "laptop")
    marker = run / "08_ood" / "stage.json"  # a --force re-run was killed in 08: an older summary.json is there
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "status": "running"}))
    with pytest.raises(pipeline.PipelineError, match=r"1 stage\(s\) not marked finished \(08_ood \(running\)\)"):
        pipeline.publish_run(run, *published)
    assert _unchanged(published)


def test_publishing_numbers_of_another_commit_needs_force_which_names_what_it_replaces(tmp_path, published, caplog):
    from hlwb import pipeline

    figs, _ = published
    (figs / "published.json").write_text(json.dumps({"profile": "laptop", "run": "runs/laptop", "commit": "a" * 40,
                                                     "machine": "laptop-1", "published_at": "2026-12-01"}))
    run = _fake_run(tmp_path, "laptop", commit="0" * 40)
    with pytest.raises(pipeline.PipelineError, match=r"made at commit 000000000000, [0-9a-f]{12} is checked out.*--force"):
        pipeline.publish_run(run, *published)
    assert (figs / "chunk_agreement.png").read_bytes() == b"laptop figure"
    with caplog.at_level("WARNING", logger="hlwb.pipeline"):
        pipeline.publish_run(run, *published, force=True)
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "replacing the published files of the laptop run runs/laptop (commit aaaaaaaaaaaa, laptop-1" in msg
    assert json.loads((figs / "published.json").read_text())["forced"] is True


def test_publishing_a_stage_run_with_other_code_is_refused(tmp_path, published):
    from hlwb import pipeline

    run = _fake_run(tmp_path, "laptop")
    marker = run / "03_walkers" / "stage.json"
    rec = json.loads(marker.read_text())
    marker.write_text(json.dumps({**rec, "fingerprint": "f" * 64}))  # what another version of the code computed
    with pytest.raises(pipeline.PipelineError, match=r"the code or inputs of 1 stage\(s\) changed since they ran \(03_walkers\)"):
        pipeline.publish_run(run, *published)
    assert _unchanged(published)


def test_publishing_a_side_profile_goes_to_its_own_folder_and_keeps_the_laptop_files(tmp_path, published):
    from hlwb import pipeline

    figs, nbs = published
    run = _fake_run(tmp_path, "laptop_deep")
    written = pipeline.publish_run(run, *published)
    assert _unchanged(published) is False  # figures/ gained the side folder and results file -- and only those:
    assert sorted(p.name for p in figs.iterdir()) == ["chunk_agreement.png", "laptop_deep", "results_laptop_deep.json"]
    assert (figs / "chunk_agreement.png").read_bytes() == b"laptop figure"
    assert (nbs / "01_hl_generator.ipynb").read_text() == "laptop notebook" and len(list(nbs.iterdir())) == 1
    side = figs / "laptop_deep"
    assert (side / "chunk_agreement.png").read_bytes() == b"new figure"
    assert (side / "notebooks" / "05_contrastive_pretraining.ipynb").is_file() and (side / "report_laptop_deep.md").is_file()
    manifest = json.loads((side / "published.json").read_text())
    assert manifest["profile"] == "laptop_deep" and manifest["forced"] is False
    assert {"figures/results_laptop_deep.json", "figures/laptop_deep/chunk_agreement.png",
            "figures/laptop_deep/notebooks/05_contrastive_pretraining.ipynb"} <= set(manifest["files"])
    assert side / "published.json" in written and not (figs / "published.json").exists()


def test_a_run_of_another_commit_with_the_same_code_publishes_without_force(tmp_path, published, monkeypatch):
    from hlwb import pipeline

    seen = []
    monkeypatch.setattr(pipeline, "code_changes", lambda a, b: seen.append((a, b)) or [])
    run = _fake_run(tmp_path, "laptop", commit="1" * 40)  # e.g. made before the commit that added its results
    pipeline.publish_run(run, *published)
    manifest = json.loads((published[0] / "published.json").read_text())
    assert seen and seen[0][0] == "1" * 40 and manifest["commit"] == "1" * 40 and manifest["forced"] is False
    monkeypatch.setattr(pipeline, "code_changes", lambda a, b: ["hlwb/views.py"])  # the code moved on
    with pytest.raises(pipeline.PipelineError, match=r"made at commit 111111111111.*1 file\(s\) of hlwb, "
                                                     r"pyproject.toml differ: hlwb/views.py"):
        pipeline.publish_run(run, *published)


def test_code_changes_names_the_code_files_two_commits_differ_in(tmp_path):
    import subprocess

    from hlwb import pipeline

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "hlwb").mkdir()
    (tmp_path / "hlwb" / "views.py").write_text("a = 1\n")
    (tmp_path / "README.md").write_text("x\n")
    git("add", "-A")
    git("commit", "-qm", "a")
    a = git("rev-parse", "HEAD")
    (tmp_path / "README.md").write_text("results\n")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "results_laptop.json").write_text("{}")
    git("add", "-A")
    git("commit", "-qm", "results")
    b = git("rev-parse", "HEAD")
    (tmp_path / "hlwb" / "views.py").write_text("a = 2\n")
    git("commit", "-qam", "code")
    c = git("rev-parse", "HEAD")
    assert pipeline.code_changes(a, b, root=tmp_path) == []
    assert pipeline.code_changes(a, c, root=tmp_path) == ["hlwb/views.py"]
    assert pipeline.code_changes("0" * 40, c, root=tmp_path) is None and pipeline.code_changes(a, None) is None


# --- notebook parameter errors in one line naming the parameter, its value and the valid choices -------------

def test_an_unknown_strategy_names_the_parameter_in_one_line():
    from hlwb import config

    with pytest.raises(config.ConfigError) as e:
        config.from_params(config.PretrainParams, {"strategy": "nonsense"})
    msg = str(e.value)
    assert msg.startswith("strategy='nonsense' is not a view strategy; valid: real, synth,") and "\n" not in msg
    assert "hl_random" in msg and "rcg" in msg and e.value.param == "strategy"


@pytest.mark.slow
def test_notebook_05_strategy_nonsense_fails_in_its_first_cell_with_one_line(tmp_path):
    import papermill as pm

    from hlwb import config

    run = tmp_path / "run"
    with pytest.raises(pm.PapermillExecutionError) as e:
        pm.execute_notebook(config.REPO_ROOT / "notebooks" / "05_contrastive_pretraining.ipynb",
                            tmp_path / "out.ipynb", parameters={"strategy": "nonsense", "run_dir": str(run)},
                            kernel_name="python3", cwd=str(config.REPO_ROOT / "notebooks"), progress_bar=False)
    assert e.value.ename == "ConfigError" and "\n" not in e.value.evalue
    assert e.value.evalue.startswith("strategy='nonsense' is not a view strategy; valid: ")
    assert not run.exists()


@pytest.mark.parametrize("notebook, field, value", [
    ("OodParams", "n_samples", 10**9), ("OodParams", "n_ood", 10**9), ("HLGeneratorParams", "n_anchors", 10**9),
    ("HLGeneratorParams", "grid_anchors", 10**9), ("WalkersParams", "mc_anchors", 10**9),
    ("WalkersParams", "snapshot_anchors", 10**9),
])
def test_sample_counts_a_notebook_holds_are_bounded_by_memory(notebook, field, value, monkeypatch):
    from hlwb import config

    monkeypatch.setenv("HLWB_MEMORY_GB", "16")
    with pytest.raises(config.ConfigError, match=rf"'{field}' = {value} .* must be in \[\d+, \d+\] .* in this machine's memory"):
        config.from_params(getattr(config, notebook), {field: value})
    for profile in ("smoke", "laptop", "gpu"):  # every profile's value fits a 16 GiB machine
        config.from_params(getattr(config, notebook), {}, profile=profile)


def test_publishing_a_run_whose_pretraining_mixed_machines_is_refused(tmp_path, published, caplog):
    """One study's numbers come from one machine: a run whose sweep runs were trained on two CPUs (or in two
    precisions) is refused, naming each machine with its runs; --force publishes it, said in the log."""
    from hlwb import pipeline

    run = _fake_run(tmp_path, "laptop")

    def sweep_run(name, cpu, precision):
        d = run / "05_contrastive_pretraining" / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "results.json").write_text(json.dumps({"machine": {"cpu": cpu}, "precision": precision}))

    sweep_run("simclr-real-s0", "AMD EPYC", "fp32")
    sweep_run("simclr-real-s1", "AMD EPYC", "fp32")
    assert pipeline._mixed_machines(run) == []  # one machine, one precision
    sweep_run("simclr-gaussian-s0", "Intel Xeon", "bf16")
    with pytest.raises(pipeline.PipelineError, match=r"made on 2 machines or precisions \(AMD EPYC, fp32: 2 runs "
                                                     r"\(simclr-real-s0, simclr-real-s1\); Intel Xeon, bf16: 1 run "
                                                     r"\(simclr-gaussian-s0\)\).*--force"):
        pipeline.publish_run(run, *published)
    assert _unchanged(published)
    with caplog.at_level("WARNING", logger="hlwb.pipeline"):
        pipeline.publish_run(run, *published, force=True)
    assert "2 machines or precisions" in " ".join(r.getMessage() for r in caplog.records)
    assert json.loads((published[0] / "published.json").read_text())["forced"] is True


def test_publishing_laptop_side_puts_the_notebooks_only_it_runs_into_notebooks(tmp_path, published):
    from hlwb import config, pipeline

    figs, nbs = published
    run = _fake_run(tmp_path, "laptop_side")
    written = pipeline.publish_run(run, *published)
    only_side = sorted(s for s in config.PROFILES["laptop_side"] if s not in config.PROFILES["laptop"])
    assert only_side == ["03_walkers", "08_ood"]
    assert sorted(p.name for p in nbs.iterdir()) == ["01_hl_generator.ipynb", "03_walkers.ipynb", "08_ood.ipynb"]
    assert (nbs / "01_hl_generator.ipynb").read_text() == "laptop notebook"  # the laptop run's stays
    side = sorted(p.name for p in (figs / "laptop_side" / "notebooks").iterdir())
    assert "05_contrastive_pretraining.ipynb" in side and "03_walkers.ipynb" not in side and "08_ood.ipynb" not in side
    manifest = json.loads((figs / "laptop_side" / "published.json").read_text())
    assert {"notebooks/03_walkers.ipynb", "notebooks/08_ood.ipynb"} <= set(manifest["files"])
    assert nbs / "08_ood.ipynb" in written
