"""The study plan: arms, seeds, the fair T_x, selection on the validation split."""

import json

import pytest

from hlwb import config, study, views


def test_laptop_plan_has_the_verdict_and_the_controls_with_their_seeds():
    plan = study.PLANS["laptop"]
    seeds = {a.name: a.seeds for a in plan.arms}
    controls = {"hl_keep1", "hl_keep2", "hl_keep3", "hl_scale0.25", "hl_scale0.5", "hl_scale1.5", "flat_matched0.25",
                "flat_matched0.5", "flat_matched1.5", "gaussian_keep0"}
    assert set(study.CONTROLS) == controls
    assert set(seeds) == {"real", "gaussian", "hl_random_paper", "flat_matched", "rcg", "synth", "hl_random_delta"} \
        | controls
    for name in study.VERDICT:  # the verdict rests on these, and on the best control (brought to 5 seeds)
        assert len(seeds[name]) >= 5
    assert len(plan.best_control_seeds) >= 5 and all(len(seeds[c]) >= 3 for c in controls) and len(seeds["rcg"]) >= 3
    assert plan.arm("hl_random_delta").oracle_calibrated and plan.arm("hl_random_delta").hl_rule == "delta"
    assert plan.arm("hl_random_paper").hl_rule == "paper" and not plan.arm("hl_random_paper").oracle_calibrated
    assert not plan.methods and not plan.contrast and not plan.fixed_seeds and not plan.gcrl  # moved: laptop_side
    assert plan.arm("hl_keep2").params() == {"arm": "hl_keep2", "strategy": "hl_keep", "hl_rule": "paper", "hl_keep": 2}
    assert plan.arm("flat_matched0.5").params()["hl_scale"] == 0.5 and "hl_scale" not in plan.arm("flat_matched").params()
    for a in plan.arms:
        assert a.strategy in views.STRATEGIES
    # hl_keep1..K-1 of the shipped generator (hl_keep0 is the paper rule itself)
    from hlwb import generators as G

    assert study.KEEP_CHUNKS == tuple(range(1, len(G.load("biggan", device="cpu").chunks)))
    curves = {a.name: study.strength_curve(a) for a in plan.arms}
    assert {n for n, c in curves.items() if c == "chunk 0 fixed"} == {"hl_random_paper", "hl_scale0.25", "hl_scale0.5",
                                                                       "hl_scale1.5"}
    assert {n for n, c in curves.items() if c == "all chunks"} == {"flat_matched", "flat_matched0.25",
                                                                    "flat_matched0.5", "flat_matched1.5"}


def test_side_and_deep_plans():
    side = study.PLANS["laptop_side"]
    assert {a.name for a in side.arms} == {"real", "gaussian", "hl_random_paper", "learned_all", "hl_learned"}
    assert {"real", "gaussian", "hl_random_paper"} <= set(side.contrast)
    assert len(side.fixed_seeds) >= 3 and side.fixed_passes >= 10 and side.gcrl == study.GCRL_RUNS
    # every pair the side study compares ran the same seeds (paired intervals): the references, the paper-T_x
    # contrast, the fixed sets and GCRL's mix on real data all at 3 seeds
    for name in ("real", "gaussian", "hl_random_paper"):
        assert side.arm(name).seeds == side.contrast_seeds == side.fixed_seeds == (0, 1, 2)
    mix_on_real = next(g for g in side.gcrl if g.arm == "real" and g.beta > 0)
    assert mix_on_real.seeds == side.arm("real").seeds
    assert set(side.methods) == {"simsiam", "moco", "byol", "swav"}
    deep = study.PLANS["laptop_deep"]
    assert all(len(deep.arm(n).seeds) >= 3 for n in study.VERDICT) and len(deep.best_control_seeds) >= 3
    # one control: the laptop study's best, at the verdict arms' seeds (no follow-up runs needed)
    assert {a.name for a in deep.arms} == set(study.VERDICT) | {study.DEEP_CONTROL}
    assert deep.arm(study.DEEP_CONTROL).seeds == deep.best_control_seeds == study.THREE
    assert study.followup_runs(deep, "hl_random_paper", 2000, 128, best_control=study.DEEP_CONTROL) == []
    smoke_controls = [a for a in study.PLANS["smoke"].arms if a.name in study.CONTROLS]
    assert len(smoke_controls) <= 2 and not study.PLANS["smoke"].best_control_seeds  # the suite's time


def test_headline_runs_share_one_t_x_and_the_contrast_uses_the_papers():
    runs = dict(study.headline_runs(study.PLANS["laptop_side"]))
    fair = {n: p for n, p in runs.items() if p["augment"] == "fair"}
    assert {views.preset_for(p["strategy"], p["augment"]) for p in fair.values()} == {views.FAIR_PRESET}
    paper = {n: p for n, p in runs.items() if p["augment"] == "paper"}
    # real and GenRep get SimCLR's T_x in both settings: not trained twice; the HL arm's T_x changes
    assert set(paper) == {f"simclr-hl_random_paper-paper-s{s}" for s in (0, 1, 2)}
    assert views.preset_for("hl_random", "paper") != views.preset_for("real", "paper")  # the confound, shown
    assert len(runs) == sum(len(a.seeds) for a in study.PLANS["laptop_side"].arms) + 3
    rows = study.paper_setting(study.PLANS["laptop_side"])
    assert rows["real"] == ["simclr-real-s0", "simclr-real-s1", "simclr-real-s2"]  # the fair runs, same T_x
    assert rows["hl_random_paper"] == sorted(paper)
    assert all(set(v) <= set(runs) for v in rows.values())


def _res(arm, knn, split="val", augment="fair", sampling="continuous"):
    return {"arm": arm, "knn_top1": knn, "knn_split": split, "augment": augment, "sampling": sampling}


def test_best_hl_arm_is_chosen_on_validation_means():
    results = {"a": _res("real", 0.99), "b": _res("hl_random_paper", 0.70), "c": _res("hl_random_paper", 0.40),
               "d": _res("hl_learned", 0.58), "e": _res("hl_learned", 0.58),
               "f": _res("hl_random_paper", 0.99, augment="paper"), "g": _res("hl_learned", 0.0, sampling="fixed")}
    assert study.best_hl_arm(results) == "hl_learned"  # mean 0.58 > 0.55; real, paper T_x, fixed runs ignored
    results["c"]["knn_top1"] = 0.52
    assert study.best_hl_arm(results) == "hl_random_paper"
    with pytest.raises(ValueError, match="never chosen on the test set"):
        study.best_hl_arm({**results, "h": _res("hl_learned", 0.9, split="test")})
    with pytest.raises(ValueError, match="no HL arm"):
        study.best_hl_arm({"a": _res("real", 0.9)})


def test_the_best_control_is_chosen_on_validation_and_gets_the_verdict_seeds():
    results = {"a": _res("hl_keep1", 0.70), "b": _res("hl_keep1", 0.60), "c": _res("gaussian_keep0", 0.66),
               "d": _res("hl_random_paper", 0.99), "e": _res("hl_keep2", 0.99, augment="paper")}
    assert study.best_control(results) == "gaussian_keep0"  # 0.66 > 0.65; the HL arm and paper T_x ignored
    assert study.best_control({"d": _res("hl_random_paper", 0.9)}) is None  # a sweep without controls
    with pytest.raises(ValueError, match="best control is never chosen on the test set"):
        study.best_control({"a": _res("hl_keep1", 0.7, split="test")})
    plan = study.PLANS["laptop"]
    runs = study.followup_runs(plan, "hl_random_paper", steps=500, batch=128, best_control="gaussian_keep0")
    assert [n for n, _ in runs] == ["simclr-gaussian_keep0-s3", "simclr-gaussian_keep0-s4"]
    assert runs[0][1] == {"arm": "gaussian_keep0", "strategy": "gaussian_keep0", "hl_rule": "paper", "method": "simclr",
                          "augment": "fair", "seed": 3}
    assert study.followup_runs(plan, "hl_random_paper", steps=500, batch=128) == []  # no control chosen: none


def test_followup_runs_methods_and_fixed_sets():
    plan = study.PLANS["laptop_side"]
    runs = dict(study.followup_runs(plan, "hl_learned", steps=1000, batch=128))
    assert {n for n in runs if not n.startswith(("simclr", "gcrl"))} == {
        f"{m}-{a}-s0" for m in plan.methods for a in ("real", "gaussian", "hl_learned")}
    fixed = [p for n, p in runs.items() if p.get("sampling") == "fixed"]
    # the fixed sets at the best HL arm's own seeds (hl_learned: 2), so continuous - fixed is paired seed by seed
    assert [p["seed"] for p in fixed] == [0, 1] and all(p["n_fixed"] == 12_800 for p in fixed)  # 10 passes
    fixed = [p for p in dict(study.followup_runs(plan, "hl_random_paper", 1000, 128)).values() if p.get("sampling") == "fixed"]
    assert [p["seed"] for p in fixed] == [0, 1, 2] == list(plan.arm("hl_random_paper").seeds)
    assert study.variant("simclr", "real", 2, augment="paper", sampling="fixed") == "simclr-real-paper-fixed-s2"


def test_comparisons_pit_each_hl_arm_against_the_baselines_and_the_matched_control():
    plan = study.PLANS["gpu"]  # every arm and every control
    pairs = study.comparisons(plan, "hl_learned")
    for b in ("real", "gaussian", "flat_matched"):
        assert ("hl_random_paper", b) in pairs and ("hl_learned", b) in pairs
    assert ("hl_random_delta", "hl_random_paper") in pairs and ("gaussian", "real") in pairs
    assert "rcg" not in study.HL_ARMS  # RCG views are compared, never chosen as the best HL arm
    assert len(pairs) == len(set(pairs)) and all(a != b for a, b in pairs)
    names = {a.name for a in plan.arms}
    assert all(a in names and b in names for a, b in pairs)
    assert len(study.comparisons(plan, "hl_random_paper")) == len(pairs) - 3  # best == the paper arm: no repeats
    laptop = study.comparisons(study.PLANS["laptop"], "hl_random_paper", best_control="hl_keep2")
    assert {("rcg", "real"), ("rcg", "gaussian"), ("rcg", "hl_random_paper")} <= set(laptop)
    # the controls' family: each against the paper rule, the rule vs flat at each strength, GenRep keep0 vs GenRep
    assert {(f"hl_keep{k}", "hl_random_paper") for k in (1, 2, 3)} <= set(laptop)
    assert {(f"hl_scale{s}", f"flat_matched{s}") for s in ("0.25", "0.5", "1.5")} <= set(laptop)
    assert ("hl_random_paper", "flat_matched") in laptop and ("gaussian_keep0", "gaussian") in laptop
    assert {("hl_keep2", "real"), ("hl_keep2", "gaussian"), ("hl_keep2", "flat_matched")} <= set(laptop)
    assert len(laptop) == len(set(laptop)) and ("flat_matched", "hl_random_paper") not in laptop


def test_gcrl_runs_alpha_only_and_the_mix_with_simclr_as_the_beta_only_row():
    """GCRL runs on real data and the best HL arm (>= 3 seeds of the mix on real data); their
    beta-only row is the headline's SimCLR runs of the same arm and seeds, not trained again."""
    plan = study.PLANS["laptop_side"]
    runs = {n: p for n, p in study.followup_runs(plan, "hl_learned", steps=500, batch=128) if p["method"] == "gcrl"}
    assert set(runs) == {"gcrl_a1_b0-real-s0", "gcrl_a1_b1-real-s0", "gcrl_a1_b1-real-s1", "gcrl_a1_b1-real-s2",
                         "gcrl_a1_b0-hl_learned-s0", "gcrl_a1_b1-hl_learned-s0"}
    r = runs["gcrl_a1_b0-real-s0"]
    assert (r["gcrl_alpha"], r["gcrl_beta"], r["strategy"]) == (1.0, 0.0, "real")
    assert all(p["augment"] == "fair" for p in runs.values())  # the headline's T_x
    rows = study.gcrl_rows(plan, "hl_learned")
    assert rows["real"] == {"gcrl_a0_b1 (simclr)": ["simclr-real-s0", "simclr-real-s1", "simclr-real-s2"],
                            "gcrl_a1_b0": ["gcrl_a1_b0-real-s0"],
                            "gcrl_a1_b1": ["gcrl_a1_b1-real-s0", "gcrl_a1_b1-real-s1", "gcrl_a1_b1-real-s2"]}
    assert rows["hl_learned"]["gcrl_a0_b1 (simclr)"] == ["simclr-hl_learned-s0"]  # seeds matched to the mix's
    headline = dict(study.headline_runs(plan))
    assert all(v in headline for r in rows.values() for v in r["gcrl_a0_b1 (simclr)"])  # trained by the headline
    need = dict(study.gcrl_runs(plan, "hl_learned", "real"))
    assert set(need) == {v for vs in rows["real"].values() for v in vs}
    assert need["simclr-real-s1"] == headline["simclr-real-s1"] and need["gcrl_a1_b1-real-s2"] == runs["gcrl_a1_b1-real-s2"]
    assert study.gcrl_label(0.5, 2.0) == "gcrl_a0p5_b2" and study.gcrl_runs(plan, "hl_learned", "gaussian") == []


def test_sweep_choices_reads_the_sweeps_own_choice_else_chooses(tmp_path):
    """Notebooks 06 and 08 take stage 05's choice (made before its follow-up seeds); a sweep folder without
    the sweep's results.json (runs made by hand) is chosen from its runs, the same way."""
    import json

    for name, r in {"simclr-hl_random_paper-s0": _res("hl_random_paper", 0.70), "simclr-hl_keep1-s0": _res("hl_keep1", 0.8),
                    "simclr-hl_keep2-s0": _res("hl_keep2", 0.7), "byol-hl_learned-s0": _res("hl_learned", 0.9)}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({**r, "method": name.split("-")[0]}))
    assert study.sweep_choices(tmp_path) == ("hl_random_paper", "hl_keep1")  # byol's run is not simclr's choice
    # the follow-ups brought hl_keep2 to more seeds, better ones: the sweep's own choice still stands
    (tmp_path / "simclr-hl_keep2-s3").mkdir()
    (tmp_path / "simclr-hl_keep2-s3" / "results.json").write_text(json.dumps({**_res("hl_keep2", 0.95), "method": "simclr"}))
    (tmp_path / "results.json").write_text(json.dumps({"best_hl_arm": "hl_random_paper", "best_control": "hl_keep1"}))
    assert study.sweep_choices(tmp_path) == ("hl_random_paper", "hl_keep1")
    (tmp_path / "results.json").write_text(json.dumps({"best_hl_arm": "hl_random_paper", "best_control": None}))
    assert study.sweep_choices(tmp_path) == ("hl_random_paper", None)  # a plan without controls
    (tmp_path / "results.json").unlink()
    assert study.sweep_choices(tmp_path) == ("hl_random_paper", "hl_keep2")  # chosen here: (0.7 + 0.95) / 2 > 0.8


def test_the_deep_plans_control_is_the_published_laptop_studys_best_control():
    """laptop_deep runs one control: the one the published laptop study chose on the validation kNN
    (``figures/results_laptop.json``). A new laptop run that chooses another must move ``DEEP_CONTROL``."""
    published = json.loads((config.REPO_ROOT / "figures" / "results_laptop.json").read_text())
    chosen = published["study"]["best_control"]
    assert chosen in study.CONTROLS and chosen in published["study"]["chosen_among"]["best_control"]
    assert chosen == study.DEEP_CONTROL
