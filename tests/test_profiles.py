"""Profiles on another dataset (gpu: CIFAR-10, smoke_color: the offline colour set) and ``--plan``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hlwb import config, pipeline, study
from hlwb.ranges import ConfigError


def test_every_notebook_takes_the_dataset_and_refuses_an_unknown_one_naming_the_parameter():
    for name, cls in config.NOTEBOOKS.items():
        assert config.from_params(cls, {}).dataset == "fashion_mnist", name
        with pytest.raises(ConfigError, match="dataset='imagenet'") as e:
            config.from_params(cls, {"dataset": "imagenet"})
        assert e.value.param == "dataset" and "cifar10" in str(e.value)  # the valid names are listed
    with pytest.raises(ConfigError, match="image_size"):
        config.from_params(config.HLGeneratorParams, {"image_size": 4})


def test_profiles_on_another_dataset_run_its_stages_on_it():
    for profile, dataset in (("gpu", "cifar10"), ("smoke_color", "fashion_mnist_color")):
        stages = pipeline.profile_stages(profile)
        assert stages == config.DATASET_STAGES  # 07 / 08 use models shipped for Fashion-MNIST
        for st in stages:
            assert config.from_params(config.NOTEBOOKS[st], {}, profile=profile).dataset == dataset
        assert all(a.strategy != "rcg" for a in study.PLANS[profile].arms)
    # the three laptop profiles together run every stage (hlwb.study says what moved where and why)
    laptop = {st for pr in ("laptop", "laptop_side", "laptop_deep") for st in pipeline.profile_stages(pr)}
    assert laptop == set(pipeline.STAGES)
    assert pipeline.profile_stages("laptop_deep") == ("05_contrastive_pretraining", "06_transfer")


@pytest.mark.parametrize("profile", ["laptop", "laptop_side", "laptop_deep"])
def test_laptop_profiles_print_their_minutes_within_the_budget(profile, tmp_path):
    from hlwb import planning

    text = planning.describe(profile, tmp_path / "run")
    total = next(ln for ln in text.splitlines() if ln.startswith("total:"))
    minutes = float(total.split("~")[1].split(" min")[0])
    assert 30 < minutes <= planning.BUDGET_MIN and "within the 150-min" in total
    for name, _ in study.headline_runs(study.PLANS[profile]):
        assert name in text
    assert not (tmp_path / "run").exists()


def test_the_deep_budget_is_the_calibrated_one_where_real_data_clears_pixels():
    import json

    cal = json.loads((config.REPO_ROOT / "figures" / "calibration_laptop.json").read_text())
    deep = config.from_params(config.PretrainParams, {}, profile="laptop_deep")
    run = next(r for r in cal["runs"].values() if r["pretrain"]["steps"] == deep.steps
               and r["pretrain"]["width"] == deep.width and r["pretrain"]["batch"] == deep.batch
               and r["pretrain"]["blocks"] == deep.blocks and r["pretrain"]["strategy"] == "real")
    assert run["margins"]["linear_vs_pixels"] >= 2.5 and run["pretrain"]["warmup"] == deep.warmup
    assert config.from_params(config.TransferParams, {}, profile="laptop_deep").study_profile == "laptop_deep"


def test_later_stages_take_the_models_stage_01_trains(tmp_path):
    p3 = pipeline.stage_params("03_walkers", "smoke_color", tmp_path)
    assert p3["generator"] == str(tmp_path / "01_hl_generator" / "biggan.pt")
    assert p3["oracle"] == str(tmp_path / "01_hl_generator" / "oracle.pt")
    p4 = pipeline.stage_params("04_chunk_perturbations", "gpu", tmp_path)
    assert p4["generators"].split(",") == [str(tmp_path / "01_hl_generator" / f"{g}.pt") for g in ("biggan", "stylegan")]
    assert pipeline.stage_params("03_walkers", "smoke", tmp_path)["generator"] == "biggan"  # shipped ones otherwise


def test_plan_lists_every_stage_and_run_with_a_cost_and_trains_nothing(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "hlwb", "pipeline", "--profile", "gpu", "--plan", "--out", str(out)],
                       check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "cifar10 (3x32x32" in text and "nothing was trained" in text
    for st in config.DATASET_STAGES:
        assert st in text
    plan = study.PLANS["gpu"]
    for name, _ in study.headline_runs(plan):
        assert name in text
    assert "train the oracle" in text and "train biggan" in text and "CPU hours" in text
    assert "published references (solo-learn" in text and "simclr 90.7 %" in text
    assert not out.exists()  # nothing written


def test_the_plan_measures_this_machines_pace_from_its_own_runs_only(tmp_path):
    """``--plan`` scales the sweep by this machine's measured / planned seconds per run kind: runs of another
    CPU, another precision or a smoke-sized budget (start-up, not pace) are left out."""
    import json

    from hlwb import amp, fingerprint, planning

    here, prec = fingerprint.machine(), amp.resolve("auto")
    p = {"steps": 500, "batch": 128, "width": 16, "blocks": "1,1,1,1", "dataset": "fashion_mnist", "image_size": 0,
         "method": "simclr"}

    def run(name, strategy, factor, machine=here, precision=prec, **over):
        d = tmp_path / "runs" / "laptop" / "05_contrastive_pretraining" / name
        d.mkdir(parents=True)
        cfg = {**p, "strategy": strategy, **over}
        (d / "config.json").write_text(json.dumps(cfg))
        wall = factor * planning.run_seconds(cfg, 32)
        (d / "results.json").write_text(json.dumps({"wall_s": wall, "precision": precision, "machine": machine}))

    assert planning.measured_here(runs=tmp_path / "runs") is None  # nothing measured yet
    run("simclr-real-s0", "real", 3.0)
    run("simclr-real-s1", "real", 4.0)
    run("simclr-real-s2", "real", 5.0)
    run("simclr-gaussian-s0", "gaussian", 2.0)
    run("simclr-gaussian-s1", "gaussian", 100.0, machine={**here, "cpu": "another CPU"})  # another machine
    run("simclr-gaussian-s2", "gaussian", 100.0, precision="bf16" if prec == "fp32" else "fp32")  # another precision
    run("simclr-gaussian-s3", "gaussian", 500.0, steps=4, batch=16)  # smoke-sized: start-up dominates
    m = planning.measured_here(runs=tmp_path / "runs")
    assert m["n"] == 4 and m["precision"] == prec and m["cpu"] == here["cpu"]
    assert m["kinds"]["real"] == (pytest.approx(4.0), 3) and m["kinds"]["generated"] == (pytest.approx(2.0), 1)
    assert m["all"] == pytest.approx(3.5)  # median of 2, 3, 4, 5


def test_the_plan_prints_this_machines_minutes_beside_the_reference_cpus(tmp_path, monkeypatch):
    from hlwb import planning

    monkeypatch.setattr(planning, "measured_here", lambda precision="auto", runs=None: None)  # nothing run here
    ref = planning.stage_seconds("laptop_deep", tmp_path / "run")
    monkeypatch.setattr(planning, "measured_here", lambda precision="auto", runs=None: {
        "cpu": "Test CPU", "precision": "fp32", "n": 2, "all": 3.0, "kinds": {"real": (2.0, 1), "generated": (3.0, 1)}})
    text = planning.describe("laptop_deep", tmp_path / "run")
    line = next(ln for ln in text.splitlines() if ln.startswith("this machine:"))
    minutes = float(line.split("~")[1].split(" min")[0])
    sweep = planning.stage_seconds("laptop_deep", tmp_path / "run")["05_contrastive_pretraining"]
    # real runs at 2x, generated at 3x the reference: between the two factors of the reference sweep
    assert 2.0 * ref["05_contrastive_pretraining"] < sweep < 3.0 * ref["05_contrastive_pretraining"]
    assert minutes == pytest.approx((sweep + ref["06_transfer"]) / 60, abs=0.6) and "OVER the 150-min" in line
    assert "on this machine (Test CPU, fp32)" in text and "real x2.00 (1), generated x3.00 (1)" in text


def test_a_stage_off_the_measured_settings_scales_its_measured_time_by_its_passes(tmp_path, monkeypatch):
    from hlwb import planning

    measured = planning._published_stage_s()
    assert {"03_walkers", "04_chunk_perturbations"} <= set(measured)
    # the laptop_side settings, the walkers' min-max twice as long and the perturbation grid on twice the anchors
    p03 = pipeline.stage_params("03_walkers", "laptop_side", tmp_path)
    p04 = pipeline.stage_params("04_chunk_perturbations", "laptop_side", tmp_path)
    twice = {**config.PROFILES["laptop_side"], "03_walkers": {"steps": 2 * p03["steps"]},
             "04_chunk_perturbations": {"n_anchors": 2 * p04["n_anchors"]}}
    monkeypatch.setitem(config.PROFILES, "laptop_twice", twice)
    monkeypatch.setitem(study.PLANS, "laptop_twice", study.PLANS["laptop_side"])
    same = planning.stage_seconds("laptop_side", tmp_path / "a")
    longer = planning.stage_seconds("laptop_twice", tmp_path / "b")
    assert same["03_walkers"] == pytest.approx(measured["03_walkers"][0])  # measured: its time as it is
    assert longer["03_walkers"] == pytest.approx(2 * measured["03_walkers"][0], rel=1e-6)  # passes x 2, same price
    grid_share = planning._stage_costs("04_chunk_perturbations", p04, 32, 60_000)
    share = grid_share[0][2] / sum(c[2] for c in grid_share)  # the grid doubles; the critics do not
    assert longer["04_chunk_perturbations"] == pytest.approx(measured["04_chunk_perturbations"][0] * (1 + share))
    text = planning.describe("laptop_twice", tmp_path / "b")
    assert "03_walkers: ~" in text and "the pass model x" in text and measured["03_walkers"][1] in text
