import json
import math

import nbformat
import pytest

from hlwb import parallel, pipeline, planning  # noqa: F401  (planning binds pipeline.stage_params before a test patches it)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke_run")
    summary = pipeline.run_pipeline("smoke", out=out, jobs=2)  # the sweep two runs side by side (CI: 2 cores)
    return out, summary


def test_smoke_pipeline_end_to_end(smoke_run):
    out, summary = smoke_run
    stage = out / "01_hl_generator"
    assert (stage / "01_hl_generator.ipynb").exists()
    assert json.loads((stage / "config.json").read_text())["n_anchors"] == 200  # smoke value
    res = json.loads((stage / "results.json").read_text())
    assert set(res["biggan"]) >= {"fd_oracle", "fd_real_vs_real", "agreement_chunk0", "agreement_chunk3"}
    assert res["biggan"]["fd_oracle"] > 0
    for f in ("biggan_samples.png", "biggan_hierarchy.png", "chunk_agreement.png", "chunk_agreement.html",
              "chunk_agreement.csv"):
        assert (out / "figures" / f).stat().st_size > 0, f
    assert "01_hl_generator" in summary and (out / "summary.md").exists()
    numbers = json.loads((out / "results_smoke.json").read_text())
    assert numbers["budget"]["steps"] == 4 and set(numbers["references"]) == set()  # smoke 06 has no fashion_mnist
    assert set(numbers["walkers"]) == {"chunk0", "chunk1", "chunk2", "chunk3", "hl", "all"}
    s = json.loads((out / "summary.json").read_text())
    assert s["stages"]["01_hl_generator"]["status"] == "ran"
    # GCRL: its runs in the sweep (the whole method saved beside the trunk), notebook 08's OOD table
    sweep = out / "05_contrastive_pretraining"
    for run in ("gcrl_a1_b0-real-s0", "gcrl_a1_b1-real-s0"):
        assert (sweep / run / "gcrl.pt").is_file() and (sweep / run / "encoder.pt").is_file()
    r = json.loads((sweep / "gcrl_a1_b0-real-s0" / "results.json").read_text())
    assert (r["method"], r["gcrl_alpha"], r["gcrl_beta"]) == ("gcrl_a1_b0", 1.0, 0.0) and 0 < r["bits_per_dim"] < 8
    g = numbers["gcrl"]
    assert set(g["encoders"]) == {"gcrl_a0_b1 (simclr)", "gcrl_a1_b0", "gcrl_a1_b1"}
    assert g["encoders"]["gcrl_a0_b1 (simclr)"]["bits_per_dim"] is None and g["encoders"]["gcrl_a1_b1"]["linear"] > 0
    scores = {(o["encoder"], o["score"]) for o in g["ood"]}
    assert ("gcrl_a1_b1", "likelihood_ratio") in scores and ("gcrl_a0_b1 (simclr)", "log_likelihood") not in scores
    assert all(0 <= o["auroc"] <= 1 for o in g["ood"]) and (out / "figures" / "ood_auroc.png").is_file()
    assert s["stages"]["08_ood"]["status"] == "ran"
    # notebook 06 compares the arms stage 05 chose on validation before its follow-up seeds, not a choice made again
    chosen, study_06 = (json.loads(p.read_text()) for p in (sweep / "results.json", out / "06_transfer" / "results.json"))
    assert (study_06["study"]["best_hl_arm"], study_06["study"]["best_control"]) == (chosen["best_hl_arm"],
                                                                                   chosen["best_control"])
    # RCG: the rcg arm's run in the sweep, notebook 07's ablation, representation FD and posterior rows
    r = json.loads((sweep / "simclr-rcg-s0" / "results.json").read_text())
    assert (r["strategy"], r["generator"]) == ("rcg", "rcg") and (sweep / "simclr-rcg-s0" / "encoder.pt").is_file()
    rcg = numbers["rcg"]
    # guidance on the conditioning (rdm_cfg<w>), real representations named so, the same-budget unconditional row
    assert {"unconditional", "unconditional_trained", "clusters_3", "clusters_5", "class_labels", "class_trained", "rdm",
            "rdm_cfg1", "real_reps", "biggan", "real"} <= set(rcg["ablation"])
    assert all(v["fd_oracle"] > 0 and 0 <= v["label_entropy"] <= math.log2(10) + 1e-9 and 0 <= v["min_class_share"] <= 1
               for v in rcg["ablation"].values())
    assert rcg["rep_fd"]["rdm_vs_train"] > 0 and rcg["rep_fd"]["real_train_vs_test"] > 0
    assert len(rcg["posterior"]) == 2 * 2 * 2  # priors x K x T of the smoke profile
    assert all(0 <= row["mi_bits"] <= row["rate_bits"] + 1e-9 <= math.log2(row["K"]) + 2e-9 and 0 <= row["agreement"] <= 1
               for row in rcg["posterior"])
    for f in ("rcg_ablation_grid.png", "rcg_posterior_bits.png", "rcg_posterior_agreement.png"):
        assert (out / "figures" / f).stat().st_size > 0, f
    assert s["stages"]["07_representation_generation"]["status"] == "ran"


def test_unchanged_stage_is_not_run_again(smoke_run):
    out, _ = smoke_run
    pipeline.run_pipeline("smoke", out=out)
    s = json.loads((out / "summary.json").read_text())
    assert s["stages"]["01_hl_generator"]["status"] == "cached"


def test_publish_copies_a_run_into_the_repository_folders(smoke_run, tmp_path):
    out, _ = smoke_run
    figs, nbs = tmp_path / "figures", tmp_path / "notebooks"
    with pytest.raises(pipeline.PipelineError, match="smoke-profile run, but notebooks/ and figures/ hold the laptop"):
        pipeline.publish_run(out, figures=figs, notebooks=nbs)  # the repository's files are the laptop run's
    assert not figs.exists() and not nbs.exists()
    written = pipeline.publish_run(out, figures=figs, notebooks=nbs, profile="smoke")  # a smoke-profile repository
    assert json.loads((figs / "published.json").read_text())["profile"] == "smoke"
    assert (nbs / "01_hl_generator.ipynb").is_file() and (nbs / "06_transfer.ipynb").is_file()
    assert (figs / "results_smoke.json").read_bytes() == (out / "results_smoke.json").read_bytes()
    assert (figs / "chunk_agreement.png").read_bytes() == (out / "figures" / "chunk_agreement.png").read_bytes()
    report = (figs / "report_smoke.md").read_text()
    assert "](chunk_agreement.png)" in report or "](biggan_samples.png)" in report
    assert "](figures/" not in report and set(written) >= {figs / "report_smoke.md"}
    with pytest.raises(pipeline.PipelineError, match="no finished pipeline run"):
        pipeline.publish_run(tmp_path / "empty", figures=figs, notebooks=nbs, profile="smoke")


def test_published_notebook_is_clean(smoke_run, tmp_path):
    out, _ = smoke_run
    dest = pipeline.publish_notebook(out / "01_hl_generator" / "01_hl_generator.ipynb", tmp_path / "nb.ipynb")
    nb = nbformat.read(str(dest), as_version=4)
    assert "papermill" not in nb.metadata
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert all(counts) and counts == sorted(counts)  # executed top to bottom
    for c in nb.cells:
        if c.cell_type == "code" and "keep_output" not in c.metadata.get("tags", []):
            assert c.outputs == []


def test_failing_cell_is_reported_with_partial_notebook(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("run_dir = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('fine')"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, str(tmp_path / "nbs" / "01_hl_generator.ipynb"))
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    monkeypatch.setattr(pipeline, "stage_params", lambda stage, profile, out: {"run_dir": str(out / stage)})
    with pytest.raises(pipeline.PipelineError) as e:
        pipeline.run_pipeline("smoke", out=tmp_path / "run")
    msg = str(e.value)
    assert "01_hl_generator" in msg and "ValueError" in msg and "broken on purpose" in msg and "cell" in msg
    partial = tmp_path / "run" / "01_hl_generator" / "01_hl_generator.ipynb"
    assert partial.exists() and "fine" in partial.read_text()
    assert json.loads((tmp_path / "run" / "01_hl_generator" / "stage.json").read_text())["status"] == "failed"


def test_stage_state_kept_for_a_resume_and_cleared_when_the_stage_changed(tmp_path, monkeypatch):
    src = ("import json, pathlib\n"
           "d = pathlib.Path(run_dir)\n"
           "(d / 'seen.txt').write_text(str((d / 'state.txt').exists()))\n"
           "(d / 'state.txt').write_text('training state')\n"
           "json.dump({}, open(d / 'results.json', 'w'))\n")

    def write(extra: str = "") -> None:
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell("run_dir = ''", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(src + extra)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, str(tmp_path / "nbs" / "01_hl_generator.ipynb"))

    (tmp_path / "nbs").mkdir()
    write()
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    monkeypatch.setattr(pipeline, "stage_params", lambda stage, profile, out: {"run_dir": str(out / stage)})
    stage = tmp_path / "run" / "01_hl_generator"
    pipeline.run_stage("01_hl_generator", "smoke", tmp_path / "run")
    assert (stage / "seen.txt").read_text() == "False"
    marker = json.loads((stage / "stage.json").read_text())
    (stage / "stage.json").write_text(json.dumps({**marker, "status": "failed"}))  # as if killed
    pipeline.run_stage("01_hl_generator", "smoke", tmp_path / "run")
    assert (stage / "seen.txt").read_text() == "True"  # same stage: its state is resumed
    write("# changed\n")
    pipeline.run_stage("01_hl_generator", "smoke", tmp_path / "run")
    assert (stage / "seen.txt").read_text() == "False"  # changed stage: old state cleared


# ---- the pipeline's plumbing, without executing notebooks (fast; the module's slow mark is
# informational: `make test` runs every test in tests/) ----

def test_executed_notebook_of_a_plain_and_of_a_swept_stage(tmp_path):
    assert pipeline.executed_notebook(tmp_path, "05_contrastive_pretraining") == \
        tmp_path / "05_contrastive_pretraining" / "simclr-hl_random_paper-s0" / "05_contrastive_pretraining.ipynb"
    assert pipeline.executed_notebook(tmp_path, "01_hl_generator") == \
        tmp_path / "01_hl_generator" / "01_hl_generator.ipynb"


def test_stage_params_point_at_the_outputs_of_earlier_stages_of_the_same_run(tmp_path):
    p = pipeline.stage_params("05_contrastive_pretraining", "smoke", tmp_path)
    assert p["hl_sigmas_file"] == str(tmp_path / "04_chunk_perturbations" / "hl_sigmas.json")
    assert p["walkers_dir"] == str(tmp_path / "03_walkers" / "walkers")
    assert p["figures_dir"] == ""  # a sweep: every run keeps its figures in its own folder
    assert p["run_dir"] == str(tmp_path / "05_contrastive_pretraining")
    assert p["steps"] == 4 and p["width"] == 4  # the smoke profile's values
    t = pipeline.stage_params("06_transfer", "smoke", tmp_path)
    assert t["pretrain_dir"] == str(tmp_path / "05_contrastive_pretraining")
    assert t["figures_dir"] == str(tmp_path / "figures")
    # every profile writes inside its run folder (the laptop one too: `publish` copies it out)
    assert pipeline.stage_params("06_transfer", "laptop", tmp_path)["figures_dir"] == str(tmp_path / "figures")
    o = pipeline.stage_params("08_ood", "smoke", tmp_path)
    assert (o["pretrain_dir"], o["transfer_dir"]) == (str(tmp_path / "05_contrastive_pretraining"),
                                                      str(tmp_path / "06_transfer"))
    (tmp_path / "06_transfer").mkdir()
    (tmp_path / "06_transfer" / "transfer.csv").write_text("encoder\n")
    assert tmp_path / "06_transfer" / "transfer.csv" in pipeline.upstream_files(o)  # 06 re-scored: 08 re-runs


def test_a_relative_out_is_the_current_directory_s(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(pipeline, "_run_stages", lambda profile, out, *a: seen.setdefault("out", out) and "")
    monkeypatch.chdir(tmp_path)
    pipeline.run_pipeline("smoke", out="here/run")
    assert seen["out"] == tmp_path / "here" / "run" and (tmp_path / "here" / "run").is_dir()


def test_fingerprint_follows_the_upstream_files(tmp_path):
    stage = "05_contrastive_pretraining"
    params = {**pipeline.stage_params(stage, "smoke", tmp_path), "strategy": "hl_random", "hl_rule": "delta"}
    assert pipeline.upstream_files(params) == []
    before = pipeline.fingerprint(stage, params)
    assert pipeline.fingerprint(stage, params) == before  # deterministic
    sigmas = tmp_path / "04_chunk_perturbations" / "hl_sigmas.json"
    sigmas.parent.mkdir(parents=True)
    sigmas.write_text(json.dumps({"biggan": [0.5, 1.0, 2.0]}))
    assert sigmas in pipeline.upstream_files(params)
    first = pipeline.fingerprint(stage, params)
    sigmas.write_text(json.dumps({"biggan": [0.5, 1.0, 2.5]}))
    second = pipeline.fingerprint(stage, params)
    assert len({before, first, second}) == 3
    assert pipeline.fingerprint(stage, {**params, "steps": 5}) != second  # parameters count too
    # the learned walkers written by notebook 03 are inputs of the learned strategy
    learned = {**params, "strategy": "hl_learned"}
    walker = tmp_path / "03_walkers" / "walkers" / "biggan" / "walker.pt"
    walker.parent.mkdir(parents=True)
    walker.write_bytes(b"weights v1")
    assert walker in pipeline.upstream_files(learned)
    w1 = pipeline.fingerprint(stage, learned)
    walker.write_bytes(b"weights v2")
    assert pipeline.fingerprint(stage, learned) != w1


def test_run_sweep_follows_the_study_plan(tmp_path, monkeypatch):
    from hlwb import study

    knn = {"real": 0.95, "synth": 0.40, "hl_random_paper": 0.55, "flat_matched": 0.5, "hl_learned": 0.70,
           "rcg": 0.90, "hl_keep1": 0.80, "hl_scale0.5": 0.45}  # rcg and the controls are never the best HL arm
    calls = []

    def fake_run_stage(stage, profile, out, force=False, variant=None, params=None, eta=None):
        calls.append({"stage": stage, "profile": profile, "out": out, "force": force, "variant": variant,
                      "params": params})
        return pipeline.StageResult(f"{stage}/{variant}", "ran", 1.0,
                                    {"method": params["method"], "arm": params["arm"], "augment": params["augment"],
                                     "sampling": params.get("sampling", "continuous"), "knn_split": "val",
                                     "knn_top1": knn[params["arm"]], "wall_s": 1.0})

    monkeypatch.setattr(pipeline, "run_stage", fake_run_stage)
    stage = "05_contrastive_pretraining"
    plan = study.PLANS["smoke"]
    res = pipeline.run_sweep(stage, "smoke", tmp_path)
    names = [c["variant"] for c in calls]
    base = pipeline.stage_params(stage, "smoke", tmp_path)
    headline = [f"simclr-{a.name}-s{s}" for a in plan.arms for s in a.seeds] + ["simclr-hl_random_paper-paper-s0"]
    # the best HL arm on the validation kNN is hl_learned: byol on real and on it, then its fixed-set run
    assert names == headline + ["simclr-hl_learned-fixed-s0", "byol-real-s0", "byol-hl_learned-s0",
                                "gcrl_a1_b0-real-s0", "gcrl_a1_b1-real-s0"]
    g = next(c["params"] for c in calls if c["variant"] == "gcrl_a1_b0-real-s0")
    assert (g["method"], g["gcrl_alpha"], g["gcrl_beta"], g["augment"]) == ("gcrl", 1.0, 0.0, "fair")
    for c, name in zip(calls, names):
        p = c["params"]
        assert (c["stage"], c["profile"], c["out"], c["force"]) == (stage, "smoke", tmp_path, False)
        assert p["run_dir"] == str(tmp_path / stage / name)
        assert p["augment"] == ("paper" if "-paper-" in name else "fair")
        assert p["strategy"] == plan.arm(p["arm"]).strategy and p["steps"] == base["steps"]
    fixed = next(c["params"] for c in calls if c["variant"].endswith("-fixed-s0"))
    assert fixed["sampling"] == "fixed" and fixed["n_fixed"] == max(base["batch"], base["steps"] * base["batch"] // 2)
    hl_paper = next(c["params"] for c in calls if c["variant"] == "simclr-hl_random_paper-s0")
    assert (hl_paper["strategy"], hl_paper["hl_rule"]) == ("hl_random", "paper")
    saved = json.loads((tmp_path / stage / "results.json").read_text())
    assert saved["best_hl_arm"] == "hl_learned" and "validation" in saved["selected_on"]
    assert saved["best_control"] == "hl_keep1"  # the smoke plan brings it to no more seeds
    assert sorted(saved["runs"]) == sorted(names)
    assert (res.stage, res.status) == (stage, "ran") and res.results == saved
    # the stage's wall-clock time, not the sum of its runs' recorded times (1 s each here; runs overlap under jobs)
    assert 0 < res.wall_s < 1.0 * len(names)


def test_run_sweep_is_cached_when_every_run_was(tmp_path, monkeypatch):
    def fake_run_stage(stage, profile, out, force=False, variant=None, params=None, eta=None):
        return pipeline.StageResult(f"{stage}/{variant}", "cached", 0.0,
                                    {"arm": params["arm"], "augment": params["augment"], "knn_split": "val",
                                     "knn_top1": 0.5})

    monkeypatch.setattr(pipeline, "run_stage", fake_run_stage)
    res = pipeline.run_sweep("05_contrastive_pretraining", "smoke", tmp_path, force=True)
    assert res.status == "cached" and res.results["best_hl_arm"] in ("hl_random_paper", "hl_learned")


def test_write_report_has_every_stage_its_numbers_figures_and_the_date(tmp_path):
    import datetime

    summary = {"profile": "smoke", "wall_s": 12.0, "stages": {
        "01_hl_generator": {"status": "ran", "wall_s": 3.0,
                            "results": {"biggan": {"fd_oracle": 12.5, "agreement_chunk0": 0.8125},
                                        "classes": [1, 2, 3]}},  # lists are not table rows
        "05_contrastive_pretraining": {"status": "cached", "wall_s": 0.0, "results": {
            "best_hl_arm": "hl_learned",
            "runs": {"simclr-hl_learned": {"strategy": "hl_learned", "knn_top1": 0.7123, "wall_s": 5.0},
                     "simclr-real": {"strategy": "real", "knn_top1": 0.65, "wall_s": 4.0,
                                     "precision": "fp32", "machine": {"cpu": "AMD EPYC"}}}}}}}
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "biggan_samples.png").write_bytes(b"png")
    (tmp_path / "figures" / "unrelated.png").write_bytes(b"png")
    day = datetime.date.today().isoformat()
    from hlwb import report

    fig_dirs = {st: tmp_path / "figures" for st in summary["stages"]}
    path = report.write_report(tmp_path, "smoke", summary, fig_dirs, swept=pipeline.SWEEPS)
    assert path == tmp_path / "report.md"
    text = path.read_text()
    assert day in text or datetime.date.today().isoformat() in text
    assert "# hlwb run report — smoke profile" in text
    assert "## 01_hl_generator (ran, 3 s)" in text and "## 05_contrastive_pretraining (cached, 0 s)" in text
    assert "| biggan.fd_oracle | 12.5 |" in text and "| biggan.agreement_chunk0 | 0.8125 |" in text
    assert "classes" not in text
    assert "Chosen on the validation kNN over the headline runs, before the follow-up runs: best HL arm **hl_learned**" in text
    # each run with the precision and CPU it was trained in ("?": a run that recorded none)
    assert "| simclr-hl_learned | 71.23 | ? | ? | 5 |" in text and "| simclr-real | 65.00 | fp32 | AMD EPYC | 4 |" in text
    assert "![biggan_samples](figures/biggan_samples.png)" in text and "unrelated" not in text
    assert text.index("## 01_hl_generator") < text.index("## 05_contrastive_pretraining")


def _threads(_):
    import os

    return os.getpid(), os.environ.get("OMP_NUM_THREADS")


def test_run_parallel_keeps_order_and_gives_each_worker_one_thread():
    assert parallel.run_parallel(abs, [-3, 2, -1], jobs=1) == [3, 2, 1]
    out = parallel.run_parallel(_threads, list(range(4)), jobs=2)
    assert len(out) == 4 and {t for _, t in out} == {"1"}
    assert all(pid != __import__("os").getpid() for pid, _ in out)  # in worker processes


def test_results_file_gathers_budget_references_arms_and_walkers(tmp_path):
    import pandas as pd

    from hlwb import report

    rows = []
    for enc, val in (("ref-pixels", 0.846), ("ref-random", 0.795), ("ref-random-s1", 0.815), ("ref-random-s2", 0.785),
                     ("simclr-real-s0", 0.87), ("simclr-real-s1", 0.88),
                     ("simclr-real-paper-s0", 0.86), ("byol-real-s0", 0.5), ("simclr-hl_learned-fixed-s0", 0.1)):
        for protocol, v in (("linear", val), ("knn_k20", val - 0.03), ("knn_k200", val - 0.01)):
            rows.append({"encoder": enc, "target": "fashion_mnist", "protocol": protocol, "metric": "top1",
                         "value": v, "draw": ""})
        rows.append({"encoder": enc, "target": "digits", "protocol": "linear", "metric": "top1", "value": 0.0,
                     "draw": ""})
    (tmp_path / "06_transfer").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "06_transfer" / "transfer.csv", index=False)
    runs = {"simclr-real-s0": {"method": "simclr", "arm": "real", "strategy": "real", "augment": "fair", "seed": 0},
            "simclr-real-s1": {"method": "simclr", "arm": "real", "strategy": "real", "augment": "fair", "seed": 1,
                               "sampling": ""},  # notebook 05 writes "" for real data (no sampling)
            "simclr-real-paper-s0": {"method": "simclr", "arm": "real", "strategy": "real", "augment": "paper",
                                     "seed": 0},
            "byol-real-s0": {"method": "byol", "arm": "real", "strategy": "real", "augment": "fair", "seed": 0},
            "simclr-hl_learned-fixed-s0": {"method": "simclr", "arm": "hl_learned", "strategy": "hl_learned",
                                           "augment": "fair", "seed": 0, "sampling": "fixed"}}
    (tmp_path / "05_contrastive_pretraining").mkdir()
    (tmp_path / "05_contrastive_pretraining" / "results.json").write_text(json.dumps({"runs": runs}))
    (tmp_path / "03_walkers").mkdir()
    (tmp_path / "03_walkers" / "results.json").write_text(json.dumps({"walkers": {"hl": {
        "rule": "reference", "samples": 5120, "oracle_agreement": 0.685, "mean_delta": 0.88, "triggered": True,
        "nmi": 0.6}}}))
    (tmp_path / "06_transfer" / "results.json").write_text(json.dumps({"study": {"headline": [1]}, "other": 2}))
    res = report.results_file(tmp_path, {"steps": 200, "batch": 128, "width": 16, "blocks": "1,1,1,1"}, 12.0)
    assert res["budget"] == {"steps": 200, "batch": 128, "width": 16, "blocks": "1,1,1,1", "wall_s": 12.0}
    # knn is k = 20, the declared k, even where k = 200 scores higher
    assert res["references"]["pixels"] == {"linear": pytest.approx(84.6), "knn": pytest.approx(81.6),
                                           "knn_k200": pytest.approx(83.6), "n_init_seeds": 1}
    assert res["study"] == {"headline": [1]} and "other" not in res and "calibration" not in res
    # the random trunk: the mean over its three init seeds (79.5, 81.5, 78.5), not seed 0 alone
    assert res["references"]["random_trunk"]["linear"] == pytest.approx(239.5 / 3)
    assert res["references"]["random_trunk"]["n_init_seeds"] == 3
    assert res["references"]["random_trunk"]["knn"] == pytest.approx(230.5 / 3)
    assert set(res["arms"]) == {"real", "real (paper T_x)"}  # byol and the fixed-set run are not headline arms
    real = res["arms"]["real"]
    assert real["seeds"] == [0, 1] and real["linear"] == [pytest.approx(87.0), pytest.approx(88.0)]
    assert real["knn"] == [pytest.approx(84.0), pytest.approx(85.0)] and real["augment"] == "fair"
    assert res["walkers"] == {"hl": {"rule": "reference", "samples": 5120, "oracle_agreement": 0.685,
                                     "mean_delta": 0.88, "triggered": True}}
    assert "machine" not in res  # no precision given: nothing to say about it
    res = report.results_file(tmp_path, {"steps": 200, "batch": 128, "width": 16, "blocks": "1,1,1,1",
                                         "precision": "fp32"}, 12.0)
    m = res["machine"]  # beside every number: the CPU model, the precision, torch and the commit
    assert m["precision"] == "fp32" and m["commit"] == res["provenance"]["commit"] and m["cpu"] and m["torch"]
    assert res["budget"]["precision"] == "fp32"


def test_run_parallel_reports_each_item_as_it_finishes_and_progress_counts():
    seen = []
    assert parallel.run_parallel(abs, [-3, 2], jobs=2, on_done=lambda i, r: seen.append((i, r))) == [3, 2]
    assert sorted(seen) == [(0, 3), (1, 2)]
    lines = []
    p = parallel.Progress(3, "sweep", log=lines.append)
    p("c", "cached", cached=True)
    p("a", "ran in 5 s")
    p("b")
    assert lines[0].startswith("sweep: 1 of 3 done (c, cached); elapsed ") and "ETA unknown" in lines[0]
    assert lines[1].startswith("sweep: 2 of 3 done (a, ran in 5 s); elapsed ") and "ETA 0." in lines[1]
    assert lines[2].startswith("sweep: 3 of 3 done (b); ") and "ETA 0.0 min" in lines[2]


def test_last_run_time_spans_side_by_side_sweep_runs(tmp_path):
    import os

    sweep = tmp_path / "05_contrastive_pretraining"
    for name, wall, end in (("a", 100.0, 1000.0), ("b", 150.0, 1100.0), ("c", 50.0, 1200.0)):
        (sweep / name).mkdir(parents=True)
        m = sweep / name / "stage.json"
        m.write_text(json.dumps({"status": "ok", "wall_s": wall}))
        os.utime(m, (end, end))
    (sweep / "d").mkdir()
    (sweep / "d" / "stage.json").write_text(json.dumps({"status": "failed"}))  # not counted
    t = pipeline.last_run_time(tmp_path, "05_contrastive_pretraining")
    assert t == {"wall_s": pytest.approx(1200 - 900), "run_s": pytest.approx(300), "runs": 3}
    (tmp_path / "04_chunk_perturbations").mkdir()
    assert pipeline.last_run_time(tmp_path, "04_chunk_perturbations") == {}


def test_report_shows_the_study_tables_and_warns_on_smoke(tmp_path):
    from hlwb import intervals, report

    gain = {"arm": "real", "protocol": "linear", "n_seeds": 3, "mean": 85.0, "std": 0.3, "gain_pixels": 0.4,
            "ci_low_pixels": -0.1, "ci_high_pixels": 0.9, "gain_random": 5.5, "ci_low_random": 5.0,
            "ci_high_random": 6.0}
    diff = {"a": "hl_random_paper", "b": "real", "protocol": "linear", "seeds_a": 3, "seeds_b": 3, "diff": -1.2,
            "ci_low": -1.9, "ci_high": -0.5, "resolved": True, "method": "paired_t", "p_value": 0.01,
            "family": "arm differences", "p_holm": 0.06, "resolved_holm": False}
    gain |= {"pretrain_cpu": "AMD EPYC", "precision": "fp32", "eval_cpu": "AMD EPYC"}
    diff |= {"pretrain_cpu": "AMD EPYC | Intel Xeon", "precision": "fp32", "eval_cpu": "AMD EPYC"}
    welch = {**diff, "b": "gaussian", "seeds_b": 2, "method": "welch_t", "p_holm": 0.0123, "resolved_holm": True}
    ctrl = {**diff, "a": "hl_keep2", "b": "hl_random_delta"}
    pos = [{"arm": "flat_matched", "strategy": "flat_matched", "mean_delta": 2.5, "agreement": 0.61,
            "agreement_ci": [0.59, 0.63], "linear": 84.1, "knn_k20": 80.2},
           {"arm": "hl_random_paper", "strategy": "hl_random", "mean_delta": 2.5, "agreement": 0.66,
            "agreement_ci": [0.64, 0.68], "linear": 85.3, "knn_k20": None}]
    summary = {"profile": "smoke", "wall_s": 5.0, "stages": {"06_transfer": {
        "status": "ran", "wall_s": 5.0, "last_wall_s": 5.0,
        "results": {"study": {"method": "simclr", "target": "fashion_mnist", "best_hl_arm": "hl_learned",
                              "best_control": "hl_keep2", "headline": [gain], "differences": [diff, welch, ctrl],
                              "chosen_among": {"best_hl_arm": ["hl_random_paper", "hl_learned"],
                                               "best_control": [f"hl_keep{k}" for k in (1, 2, 3)]},
                              "oracle_calibrated": ["hl_random_delta"],
                              "continuous_vs_fixed": [diff], "paper_vs_fair": [welch],
                              "gcrl_differences": [{**diff, "a": "gcrl_a1_b1 on real", "b": "gcrl_a0_b1 (simclr) on real",
                                                    "family": "GCRL vs SimCLR"}],
                              "positives": pos}}}}}
    text = report.write_report(tmp_path, "smoke", summary, {}).read_text()
    assert "Smoke profile" in text and str(tmp_path) not in text  # a run folder outside the repository: not named
    assert "| real | linear | 3 | 85.00 ± 0.30 | +0.40 [-0.10, +0.90] | +5.50 [+5.00, +6.00] |" in text
    assert "best HL arm hl_learned; best control: hl_keep2" in text
    # the machines behind the numbers, said once (a mix is shown as a mix)
    assert "pretrained on AMD EPYC / Intel Xeon in fp32 and scored on AMD EPYC" in text
    # each difference with its interval method and the Holm verdict beside the unadjusted one
    assert "| hl_random_paper | real | linear | 3 / 3 | -1.20 [-1.90, -0.50] | paired_t | 0.06 | no | yes |" in text
    assert "| hl_random_paper | gaussian | linear | 3 / 2 | -1.20 [-1.90, -0.50] | welch_t | 0.0123 | yes | yes |" in text
    caption = next(line for line in text.splitlines() if line.startswith("**Arm differences**"))
    assert "seed-level paired differences" in caption and "Welch" in caption and "resampled" not in caption
    assert set(report.INTERVAL_WORDS) == set(intervals.METHODS)  # every interval method has its words
    assert 'Holm over the family "arm differences" (3 rows' in caption
    assert "**Continuous − fixed sampling** (equal steps; 95 % intervals: paired_t = a t over the seed-level paired" in text
    assert "**Paper T_x vs fair T_x** (95 % intervals: welch_t = a Welch t" in text
    # arms chosen on validation (winner's curse) and oracle-calibrated ones are marked where they are compared;
    # the paper rule is pre-specified: never marked
    assert "| hl_keep2† | hl_random_delta‡ | linear |" in text and "hl_random_paper†" not in text
    # each further table names its own Holm family (notebook 06 passes one per call)
    assert ('**GCRL − SimCLR** (the same arm and seeds; 95 % intervals: paired_t = a t over the seed-level paired '
            'differences (both sides ran the same seeds); Holm over the family "GCRL vs SimCLR" (1 row:') in text
    assert "† hl_keep2: chosen on the validation kNN among 3 candidates" in text
    assert "‡ hl_random_delta: oracle-calibrated" in text and "† hl_learned" not in text  # not compared: no note
    # the positives beside the accuracy: strength (mean ||z' - z||) and label consistency (oracle agreement)
    assert "| flat_matched | flat_matched | 2.500 | 0.610 [0.590, 0.630] | 84.10 | 80.20 |" in text
    assert "| hl_random_paper | hl_random | 2.500 | 0.660 [0.640, 0.680] | 85.30 | – |" in text
    # a results file of before the Holm columns: the table still renders, the missing values marked
    summary["stages"]["06_transfer"]["results"]["study"]["differences"] = [
        {k: v for k, v in diff.items() if k not in ("method", "p_value", "family", "p_holm", "resolved_holm")}]
    del summary["stages"]["06_transfer"]["results"]["study"]["chosen_among"]
    text = report.write_report(tmp_path, "smoke", summary, {}).read_text()
    assert "| hl_random_paper | real | linear | 3 / 3 | -1.20 [-1.90, -0.50] | ? | – | – | yes |" in text
    assert "no Holm adjustment recorded" in text and "Holm over" not in text.split("**Arm differences**")[1].split("\n")[0]


def test_a_changed_stage_starts_clean_but_keeps_self_checking_caches(tmp_path, monkeypatch):
    import papermill

    def fake_execute(src, dst, parameters, **kw):
        (tmp_path / "06_transfer" / "results.json").write_text("{}")

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    stage = "06_transfer"
    params = {**pipeline.stage_params(stage, "smoke", tmp_path), "run_dir": str(tmp_path / stage)}
    d = tmp_path / stage
    (d / "rows").mkdir(parents=True)
    (d / "rows" / "enc.csv").write_text("kept")
    (d / "figures").mkdir()
    (d / "figures" / "old.png").write_text("stale")
    (d / "stage.json").write_text(json.dumps({"fingerprint": "other code", "status": "ok"}))
    pipeline.run_stage(stage, "smoke", tmp_path, params=params)
    assert (d / "rows" / "enc.csv").read_text() == "kept" and not (d / "figures").exists()
    assert json.loads((d / "stage.json").read_text())["status"] == "ok"


def test_collect_covers_stages_of_earlier_invocations_and_a_partial_sweep(tmp_path):
    (tmp_path / "04_chunk_perturbations").mkdir()
    (tmp_path / "04_chunk_perturbations" / "results.json").write_text(json.dumps({"x": 1}))
    (tmp_path / "04_chunk_perturbations" / "stage.json").write_text(json.dumps({"status": "ok", "wall_s": 3.0}))
    (tmp_path / "03_walkers").mkdir()  # failed last time: not reported as a result
    (tmp_path / "03_walkers" / "results.json").write_text(json.dumps({"y": 1}))
    (tmp_path / "03_walkers" / "stage.json").write_text(json.dumps({"status": "failed"}))
    run = tmp_path / "05_contrastive_pretraining" / "simclr-hl_learned-s0"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({"method": "simclr", "arm": "hl_learned", "augment": "fair",
                                                  "knn_split": "val", "knn_top1": 0.5, "wall_s": 1.0}))
    found = {r.stage: r for r in pipeline.earlier_stages(tmp_path, skip=["06_transfer"])}
    assert set(found) == {"04_chunk_perturbations", "05_contrastive_pretraining"}
    sweep = found["05_contrastive_pretraining"]
    assert sweep.status == "partial" and sweep.results["best_hl_arm"] == "hl_learned"
    assert sweep.results["complete"] is False and list(sweep.results["runs"]) == ["simclr-hl_learned-s0"]
    assert found["04_chunk_perturbations"].status == "earlier"


def test_an_older_schemes_marker_that_still_matches_is_migrated_not_rerun(tmp_path, monkeypatch):
    import papermill

    def fake_execute(*a, **k):
        raise AssertionError("ran although its inputs are unchanged")

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    stage = "04_chunk_perturbations"
    params = {**pipeline.stage_params(stage, "smoke", tmp_path), "run_dir": str(tmp_path / stage)}
    d = tmp_path / stage
    d.mkdir()
    (d / "results.json").write_text(json.dumps({"r": 1}))
    old = pipeline.fingerprint(stage, params, legacy=True)
    assert old != pipeline.fingerprint(stage, params)
    (d / "stage.json").write_text(json.dumps({"fingerprint": old, "status": "ok", "params": params, "wall_s": 9.0}))
    res = pipeline.run_stage(stage, "smoke", tmp_path, params=params)
    assert res.status == "cached" and res.results == {"r": 1}
    rec = json.loads((d / "stage.json").read_text())
    assert rec["fingerprint"] == pipeline.fingerprint(stage, params) and rec["wall_s"] == 9.0 and "finished_at" in rec
    # a marker matching neither scheme is a changed stage: it runs
    (d / "stage.json").write_text(json.dumps({"fingerprint": "stale", "status": "ok", "params": params}))
    with pytest.raises(AssertionError, match="unchanged"):
        pipeline.run_stage(stage, "smoke", tmp_path, params=params)


def test_report_shows_the_delta_table_and_the_selected_walkers(tmp_path):
    from hlwb import report

    r04 = {"generators": {"biggan": {
        "delta": [0.06, 0.33], "ci_low": [0.05, 0.26], "ci_high": [0.07, 0.39], "censored": [False, True],
        "diffs": [{"pair": [0, 1], "diff": 0.27, "ci_low": 0.21, "ci_high": 0.33, "lower_bound_only": True}],
        "hierarchy": "holds"}}}
    r03 = {"generator": "biggan", "select": "reference", "mc_anchors": 10000, "walkers": {"hl": {
        "triggered": True, "samples": 5120, "mc_infonce": 1.8585, "mean_delta": 0.8777, "oracle_agreement": 0.6851}}}
    summary = {"profile": "laptop", "wall_s": 1.0, "stages": {
        "03_walkers": {"status": "earlier", "wall_s": 0.0, "results": r03},
        "04_chunk_perturbations": {"status": "earlier", "wall_s": 0.0, "results": r04}}}
    text = report.write_report(tmp_path, "laptop", summary, {}).read_text()
    assert "| biggan | 0 | 0.060 [0.050, 0.070] |  |" in text
    assert "| biggan | 1 | ≥ 0.330 (censored) | ≥ +0.270 (lower bound) |" in text and "biggan: **holds**" in text
    assert "| hl | yes | 5120 | 1.859 | 0.88 | 0.685 |" in text and "Smoke profile" not in text


def test_report_stage_times_agree_it_names_no_machine_path_and_has_notebook_07(tmp_path):
    from hlwb import report

    rcg = {"n_samples": 64, "n_test": 500,
           "ablation": {"oracle": {"fd_oracle": 15.7, "label_entropy": 3.17, "min_class_share": 0.031},
                        "rdm": {"fd_oracle": 17.5, "label_entropy": 3.13, "min_class_share": 0.031}},
           "rep_fd": {"n": 200, "rdm_steps": 5, "rdm_vs_train": 2.88, "rdm_vs_test": 2.89, "real_train_vs_test": 1.73},
           "posterior": [{"prior": "rdm", "K": 8, "T": 0.1, "rate_bits": 2.22, "mi_bits": 1.72, "agreement": 0.406}]}
    summary = {"profile": "laptop", "wall_s": 7962.0, "stages": {
        "05_contrastive_pretraining": {"status": "ran", "wall_s": 8784.2, "last_wall_s": 4549.8, "last_run_s": 8784.2,
                                       "last_runs": 27, "results": {"best_hl_arm": "hl_learned", "runs": {}}},
        "07_representation_generation": {"status": "ran", "wall_s": 301.0, "last_wall_s": 301.0, "results": {"rcg": rcg}}}}
    text = report.write_report(tmp_path, "laptop", summary, {}, swept=pipeline.SWEEPS).read_text()
    assert "| 05_contrastive_pretraining | ran | 4550 |" in text and "## 05_contrastive_pretraining (ran, 4550 s)" in text
    assert "8784 s summed over runs" in text and "(ran, 8784 s)" not in text  # one number for the stage, the sum named
    assert str(tmp_path) not in text and "/tmp" not in text  # no path of this machine
    assert "## 07_representation_generation (ran, 301 s)" in text and "**Conditioning ablation**" in text
    assert "| oracle | representations of real train images (RCG's oracle row) | 15.70 | 3.17 | 3.1 % |" in text
    assert "| rdm | 8 | 0.1 | 2.22 | 1.72 | 40.6 % |" in text and "RDM vs train 2.880" in text
    assert "rcg.ablation" not in text  # its tables, not the flat key/value rows


def test_report_names_a_run_folder_inside_the_repository_relative_to_it():
    from hlwb import report
    from hlwb.config import REPO_ROOT

    assert report.shown(REPO_ROOT / "runs" / "laptop" / "report.md") == "runs/laptop/report.md"
    assert report.shown("/elsewhere/run") == "/elsewhere/run"  # outside: as given (and not written into a report)


def test_eta_scales_by_the_stages_so_far_and_names_those_without_an_estimate():
    from hlwb.progress import Eta, minutes

    eta = Eta({"a": 100.0, "b": 50.0, "c": None})
    assert eta.text().endswith("ETA >= 2.5 min (no estimate for c)")
    eta.begin("a")
    eta.end("a", 200.0)  # twice as slow as estimated: what is left takes twice as long
    left, unknown = eta.left()
    assert abs(left - 100.0) < 1e-6 and unknown == ["c"]
    eta.end("c", 0.0, cached=True)  # found unchanged: done, and not in the rate
    assert eta.text().endswith("ETA 1.7 min") and minutes(5400) == "1.5 h"


def test_stage_estimates_come_from_this_folder_then_measured_times_then_the_plan(tmp_path):
    import time

    (tmp_path / "03_walkers").mkdir()
    (tmp_path / "03_walkers" / "stage.json").write_text(json.dumps({"status": "ok", "wall_s": 42.0,
                                                                     "finished_at": time.time()}))
    est = pipeline.stage_estimates("laptop_side", tmp_path, ["03_walkers", "01_hl_generator", "99_nothing"])
    assert est["03_walkers"] == (42.0, "its last run here")
    assert est["01_hl_generator"][1] == "the plan (--plan)" and est["01_hl_generator"][0] > 0
    assert est["99_nothing"] == (None, "unknown")
    smoke = pipeline.stage_estimates("smoke", tmp_path / "fresh", list(pipeline.profile_stages("smoke")))
    assert all(src == "the reference machine" and sec > 0 for sec, src in smoke.values())  # a first smoke run has an ETA


def test_a_running_notebook_sends_a_heartbeat_and_the_kernel_log_stays_quiet(tmp_path, monkeypatch, caplog, capfd):
    import logging

    from hlwb.progress import Eta

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("run_dir = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import json, pathlib, time\ntime.sleep(2.5)\n"
                                  "pathlib.Path(run_dir, 'results.json').write_text(json.dumps({'ok': 1}))"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, str(tmp_path / "nbs" / "02_latent_explorer.ipynb"))
    monkeypatch.setattr(pipeline, "NOTEBOOK_DIR", tmp_path / "nbs")
    monkeypatch.setenv("HLWB_HEARTBEAT_S", "0.5")
    caplog.set_level(logging.INFO, logger="hlwb.pipeline")
    eta = Eta({"02_latent_explorer": 60.0})
    eta.begin("02_latent_explorer")
    r = pipeline.run_stage("02_latent_explorer", "smoke", tmp_path / "run", params={"run_dir": str(tmp_path / "run" /
                                                                                              "02_latent_explorer")},
                           eta=eta)
    assert r.status == "ran" and r.results == {"ok": 1}
    beats = [m for m in caplog.messages if "running for" in m]
    assert beats and any("cell 3 of 3" in m for m in beats) and all("pipeline elapsed" in m for m in beats), caplog.messages
    assert "KeyboardInterrupt" not in capfd.readouterr().err and pipeline.KERNEL_ARGS == ["--IPKernelApp.log_level=CRITICAL"]


def test_a_gpu_run_gets_no_cpu_minutes_as_its_estimate(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    est = pipeline.stage_estimates("laptop_side", tmp_path, ["01_hl_generator"])
    assert est["01_hl_generator"] == (None, "unknown")


def test_report_shows_the_gcrl_and_ood_tables(tmp_path):
    """Notebook 08's results as two tables (no flat dump): the GCRL encoders with bits/dim in the head's
    bins and in 8-bit units, and AUROC per encoder, score and OOD set."""
    from hlwb import report

    enc = {"gcrl_a0_b1 (simclr)": {"alpha": 0.0, "beta": 1.0, "bits_per_dim": None, "bits_per_dim_8bit": None,
                                   "knn": 80.0, "linear": 84.0, "run": "simclr-real-s0"},
           "gcrl_a1_b1": {"alpha": 1.0, "beta": 1.0, "bits_per_dim": 1.5, "bits_per_dim_8bit": 5.5, "knn": 79.0,
                          "linear": 83.5, "run": "gcrl_a1_b1-real-s0"}}
    ood = [{"encoder": e, "score": sc, "ood_set": t, "auroc": a, "fpr95": 0.5, "n_in": 1000, "n_out": 500}
           for e, sc, t, a in (("gcrl_a1_b1", "likelihood_ratio", "digits", 0.912), ("gcrl_a1_b1", "likelihood_ratio", "vflip", 0.5),
                               ("gcrl_a0_b1 (simclr)", "knn_k3", "digits", 0.8))]
    res = {"arm": "real", "run_seed": 0, "background": {"rate": 0.2, "weight_decay": 0.02},
           "gcrl": {"encoders": enc, "ood": ood}, "samples": {"n": 64, "sampler": "gcrl_a1_b1",
                                                              "fd_oracle": {"gcrl_head": 30.5, "real_vs_real": 2.25}}}
    summary = {"profile": "laptop_side", "wall_s": 5.0, "stages": {"08_ood": {"status": "ran", "wall_s": 5.0,
                                                                              "results": res}}}
    text = report.write_report(tmp_path, "laptop_side", summary, {}).read_text()
    assert "in the head's 16 bins and in 8-bit units" in text and "+ log2(256 / 16) = 4 bits" in text
    assert "| gcrl_a1_b1 | 1 | 1 | 83.50 | 79.00 | 1.500 | 5.500 | gcrl_a1_b1-real-s0 |" in text
    assert "| gcrl_a0_b1 (simclr) | 0 | 1 | 84.00 | 80.00 | – | – | simclr-real-s0 |" in text
    assert "| encoder | score | digits | vflip |" in text and "mutation rate 0.2, L2 weight 0.02" in text
    assert "| gcrl_a1_b1 | likelihood_ratio | 0.912 | 0.500 |" in text
    assert "| gcrl_a0_b1 (simclr) | knn_k3 | 0.800 | – |" in text  # a score not run on a set: marked, not 0
    assert "| result | value |" not in text  # the tables say all
    assert "FD_oracle gcrl_head 30.50, real_vs_real 2.25" in text
    res["bins"] = 32  # recorded by notebook 08: said as recorded
    text = report.write_report(tmp_path, "laptop_side", summary, {}).read_text()
    assert "in the head's 32 bins" in text


def test_the_controls_are_grouped_by_the_question_each_answers():
    from hlwb import report

    def row(a, b, d, holm, protocol="linear"):
        return {"a": a, "b": b, "protocol": protocol, "diff": d, "ci_low": d - 1, "ci_high": d + 1, "resolved_holm": holm}

    rows = [row("hl_keep1", "hl_random_paper", -2.0, True), row("hl_keep2", "hl_random_paper", -0.5, False),
            row("hl_random_paper", "flat_matched", 1.5, True), row("hl_scale0.5", "flat_matched0.5", 0.8, False),
            row("hl_scale0.5", "flat_matched", 3.0, True),  # the best control against flat at s = 1: not "matched"
            row("hl_scale0.5", "hl_random_paper", -1.0, False), row("gaussian_keep0", "gaussian", 2.0, True),
            row("gaussian_keep0", "real", 5.0, True),  # gaussian_keep0 as the best control: not the GenRep question
            row("hl_random_paper", "real", 1.0, True)]  # not a control question
    text = "\n".join(report.controls_markdown(rows))
    assert "*Which chunk stays fixed" in text and "resolved after Holm: 0 of 2 with a > b, 1 with a < b" in text
    assert "| hl_keep1 − hl_random_paper | -2.00 [-3.00, -1.00] ✓ |" in text
    matched = text.split("*Chunk 0 fixed against all chunks moved")[1].split("*Strength")[0]
    assert "hl_scale0.5 − flat_matched0.5" in matched and "hl_scale0.5 − flat_matched |" not in matched
    assert "1 of 2 with a > b, 0 with a < b" in matched
    assert "| gaussian_keep0 − gaussian | +2.00 [+1.00, +3.00] ✓ |" in text and "− real" not in text
    assert "*GenRep's σ with chunk 0 fixed, against GenRep and the rule* — resolved after Holm: 1 of 1" in text
    unadjusted = [{k: v for k, v in r.items() if k != "resolved_holm"} for r in rows]
    assert "no Holm adjustment recorded" in "\n".join(report.controls_markdown(unadjusted))
    assert report.controls_markdown([row("hl_random_paper", "real", 1.0, True)]) == []  # no controls: no section
