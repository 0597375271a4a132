"""The study plan: arms, seeds, the fair T_x, selection on the validation split."""

import pytest

from hlwb import study, views


def test_laptop_plan_has_every_arm_with_its_seeds():
    plan = study.PLANS["laptop"]
    seeds = {a.name: a.seeds for a in plan.arms}
    assert set(seeds) == {"real", "gaussian", "hl_random_paper", "flat_matched", "synth", "learned_all",
                          "hl_learned", "hl_random_delta", "rcg"}
    for name in ("real", "gaussian", "hl_random_paper", "flat_matched", "rcg"):  # the verdict rests on these
        assert len(seeds[name]) >= 3
    assert all(len(s) >= 2 for s in seeds.values())
    assert plan.arm("hl_random_delta").oracle_calibrated and plan.arm("hl_random_delta").hl_rule == "delta"
    assert plan.arm("hl_random_paper").hl_rule == "paper" and not plan.arm("hl_random_paper").oracle_calibrated
    assert {"real", "gaussian", "hl_random_paper"} <= set(plan.contrast)
    assert len(plan.fixed_seeds) >= 3 and plan.fixed_passes >= 10
    assert set(plan.methods) == {"simsiam", "moco", "byol", "swav"}
    for a in plan.arms:
        assert a.strategy in views.STRATEGIES


def test_headline_runs_share_one_t_x_and_the_contrast_uses_the_papers():
    runs = dict(study.headline_runs(study.PLANS["laptop"]))
    fair = {n: p for n, p in runs.items() if p["augment"] == "fair"}
    assert {views.preset_for(p["strategy"], p["augment"]) for p in fair.values()} == {views.FAIR_PRESET}
    paper = {n: p for n, p in runs.items() if p["augment"] == "paper"}
    # real and GenRep get SimCLR's T_x in both settings: not trained twice; the HL arm's T_x changes
    assert set(paper) == {"simclr-hl_random_paper-paper-s0", "simclr-hl_random_paper-paper-s1"}
    assert views.preset_for("hl_random", "paper") != views.preset_for("real", "paper")  # the confound, shown
    assert len(runs) == sum(len(a.seeds) for a in study.PLANS["laptop"].arms) + 2
    rows = study.paper_setting(study.PLANS["laptop"])
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


def test_followup_runs_methods_and_fixed_sets():
    plan = study.PLANS["laptop"]
    runs = dict(study.followup_runs(plan, "hl_learned", steps=1000, batch=128))
    assert {n for n in runs if not n.startswith(("simclr", "gcrl"))} == {
        f"{m}-{a}-s0" for m in plan.methods for a in ("real", "gaussian", "hl_learned")}
    fixed = [p for n, p in runs.items() if p.get("sampling") == "fixed"]
    assert [p["seed"] for p in fixed] == [0, 1, 2] and all(p["n_fixed"] == 12_800 for p in fixed)  # 10 passes
    assert study.variant("simclr", "real", 2, augment="paper", sampling="fixed") == "simclr-real-paper-fixed-s2"


def test_comparisons_pit_each_hl_arm_against_the_baselines_and_the_matched_control():
    plan = study.PLANS["laptop"]
    pairs = study.comparisons(plan, "hl_learned")
    for b in ("real", "gaussian", "flat_matched"):
        assert ("hl_random_paper", b) in pairs and ("hl_learned", b) in pairs
    assert ("hl_random_delta", "hl_random_paper") in pairs and ("gaussian", "real") in pairs
    assert {("rcg", "real"), ("rcg", "gaussian"), ("rcg", "hl_random_paper")} <= set(pairs)
    assert "rcg" not in study.HL_ARMS  # RCG views are compared, never chosen as the best HL arm
    assert len(pairs) == len(set(pairs)) and all(a != b for a, b in pairs)
    names = {a.name for a in plan.arms}
    assert all(a in names and b in names for a, b in pairs)
    assert len(study.comparisons(plan, "hl_random_paper")) == len(pairs) - 3  # best == the paper arm: no repeats


def test_gcrl_runs_alpha_only_and_the_mix_with_simclr_as_the_beta_only_row():
    """GCRL runs on real data and the best HL arm (>= 3 seeds of the mix on real data); their
    beta-only row is the headline's SimCLR runs of the same arm and seeds, not trained again."""
    plan = study.PLANS["laptop"]
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
