import math

import pytest
import torch

from hlwb import minmax
from hlwb.generators.biggan import BigGANGenerator
from hlwb.walkers import IdentityWalker


def _gen():
    torch.manual_seed(0)
    g = BigGANGenerator(ch=4)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    return g


def test_minmax_trains_walker_and_critic(tmp_path):
    gen = _gen()
    cfg = minmax.MinMaxConfig(steps=12, batch=16, critic_width=4, walker_hidden=32, lr_walker=1e-2,
                              lr_critic=1e-3, ckpt_every=6)
    before = [p.clone() for p in gen.parameters()]
    _walker, _critic, rec = minmax.train_walker(gen, [3], cfg, work_dir=tmp_path)
    assert len(rec) == 12 and {"infonce", "mi_bound", "delta_3", "walker_infonce"} <= set(rec[0])
    assert rec[0]["delta_0"] == 0.0 and rec[-1]["delta_0"] == 0.0  # unselected chunk never moves
    assert rec[-1]["delta_3"] > rec[0]["delta_3"]  # the walker learned to move its chunk
    assert all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))  # generator frozen
    assert (tmp_path / "train_state.pt").exists()


def test_monte_carlo_table_identity_walker():
    gen = _gen()
    from hlwb.encoders import Critic

    out = minmax.monte_carlo(gen, IdentityWalker(gen.chunks), Critic(4), n_anchors=40, batch=16)
    assert out["n_anchors"] == 40 and all(out[f"delta_mean_{k}"] == 0 for k in range(4))
    assert abs(out["mi_bound"] - (math.log(31) - out["infonce"])) < 1e-9


def test_snapshots_reload_to_the_trained_walker(tmp_path):
    gen = _gen()
    cfg = minmax.MinMaxConfig(steps=6, batch=8, critic_width=4, walker_hidden=16, lr_walker=1e-2,
                              snapshot_every=3)
    walker, critic, _ = minmax.train_walker(gen, [1, 2], cfg, work_dir=tmp_path)
    snaps = sorted((tmp_path / "snapshots").glob("*.pt"))
    assert [p.name for p in snaps] == ["step_0000003.pt", "step_0000006.pt"]
    w6, c6 = minmax.load_snapshot(snaps[-1], gen, [1, 2], cfg)
    assert all(torch.equal(a, b) for a, b in zip(w6.state_dict().values(), walker.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(c6.state_dict().values(), critic.state_dict().values()))
    w3, _ = minmax.load_snapshot(snaps[0], gen, [1, 2], cfg)
    assert not all(torch.equal(a, b) for a, b in zip(w3.state_dict().values(), walker.state_dict().values()))


def test_snapshots_need_a_work_dir():
    import pytest

    with pytest.raises(ValueError, match="work_dir"):
        minmax.train_walker(_gen(), [1], minmax.MinMaxConfig(steps=1, batch=4, snapshot_every=1))


def test_smoothed_and_matched_infonce():
    recs = [{"infonce": v} for v in [1.0, 3.0, 5.0, 7.0]]
    assert minmax.smoothed(recs, window=2) == [1.0, 2.0, 4.0, 6.0]
    curves = {"a": {2: 1.0, 4: 3.0}, "b": {2: 0.4, 4: 0.9}, "c": {2: 2.0, 4: 2.0}}
    # b never reaches the ceiling 1.75: the level is its highest value, 0.9
    level, steps = minmax.matched_infonce(curves, ceiling=1.75)
    assert level == 0.9 and steps == {"a": 2, "b": 4, "c": 2}
    level, steps = minmax.matched_infonce({"a": {2: 1.0, 4: 3.0}, "c": {2: 1.7, 4: 2.0}}, ceiling=1.75)
    assert level == 1.75 and steps == {"a": 2, "c": 2}  # never above the reference's stopping level
    # an early snapshot (untrained critic: high InfoNCE) is not a match once the walkers' start is given
    early = {"a": {1: 1.0, 2: 0.1, 3: 0.3, 4: 0.6}, "b": {1: 1.0, 2: 0.05, 3: 0.2, 4: 0.25}}
    assert minmax.matched_infonce(early, ceiling=1.75) == (1.0, {"a": 1, "b": 1})
    assert minmax.matched_infonce(early, ceiling=1.75, start={"a": 2, "b": 2}) == (0.25, {"a": 3, "b": 4})


def _rows():
    # a constructed snapshot log: the walker moves further, InfoNCE rises, agreement falls
    inf = [0.5, 1.2, 1.6, 1.9, 2.6, 3.0]
    return [{"step": 10 * (i + 1), "samples": 640 * (i + 1), "infonce": v,
             "infonce_scaled": minmax.scaled(v, 0.1), "train_infonce": [2.0, 1.1, 0.9, 1.3, 2.2, 2.9][i],
             "shift_std": 0.05 * (i + 1), "oracle_agreement": [0.99, 0.97, 0.93, 0.91, 0.8, 0.6][i]}
            for i, v in enumerate(inf)]


def test_selection_rules_pick_the_snapshot_they_state():
    rows = _rows()
    assert minmax.scaled(1.75, 0.1) == pytest.approx(2.5)  # the reference's 2.5 is 1.75 plain
    ref = minmax.select_snapshot(rows, "reference", threshold_scaled=2.5)
    assert ref["step"] == 40 and ref["triggered"] and not ref["oracle_guided"]  # first InfoNCE > 1.75 plain
    late = minmax.select_snapshot(rows, "reference", threshold_scaled=2.5, after=3000)
    assert late["step"] == 50  # only snapshots past `after` samples count
    never = minmax.select_snapshot(rows, "reference", threshold_scaled=10.0)
    assert never["step"] == 60 and not never["triggered"]  # never reached: the last snapshot
    assert minmax.select_snapshot(rows, "critic_min")["step"] == 30
    assert minmax.select_snapshot(rows, "genrep_sigma", sigma=0.2)["step"] == 40
    orc = minmax.select_snapshot(rows, "oracle", level=0.9)
    assert orc["step"] == 40 and orc["oracle_guided"] and orc["triggered"]
    first_low = [dict(r, oracle_agreement=0.5) for r in rows]
    assert not minmax.select_snapshot(first_low, "oracle")["triggered"]
    with pytest.raises(KeyError, match="valid: reference, critic_min, genrep_sigma, oracle"):
        minmax.select_snapshot(rows, "best")


def test_early_stop_compares_in_the_reference_units(tmp_path):
    gen = _gen()
    base = {"steps": 4, "batch": 8, "critic_width": 4, "walker_hidden": 16}
    _, _, rec = minmax.train_walker(gen, [1], minmax.MinMaxConfig(**base))
    first = rec[0]["infonce"]
    assert rec[0]["infonce_scaled"] == pytest.approx(first / 0.7)
    # a threshold between the plain (L) and the scaled (L / 0.7) first loss: only scaled units stop at step 1
    cfg = minmax.MinMaxConfig(**base, early_stop=True, early_stop_after=0, early_stop_loss=1.2 * first)
    _, _, stopped = minmax.train_walker(gen, [1], cfg, work_dir=tmp_path)
    assert len(stopped) == 1
    cfg = minmax.MinMaxConfig(**base, early_stop=True, early_stop_after=0, early_stop_loss=1.5 * first)
    _, _, kept = minmax.train_walker(gen, [1], cfg, work_dir=tmp_path / "b")
    assert len(kept) == 4 or kept[-1]["infonce_scaled"] > 1.5 * first


def test_evaluate_snapshots_logs_every_rule_quantity(tmp_path):
    from hlwb.oracle import Oracle, OracleNet

    gen = _gen()
    cfg = minmax.MinMaxConfig(steps=4, batch=8, critic_width=4, walker_hidden=0, lr_walker=1e-2, snapshot_every=2)
    minmax.train_walker(gen, [2, 3], cfg, work_dir=tmp_path)
    torch.manual_seed(0)
    oracle = Oracle(OracleNet(width=4).eval())
    anchors = minmax.anchor_batches(gen, 16, 8, seed=5, oracle=oracle)
    rows = minmax.evaluate_snapshots(gen, tmp_path, [2, 3], cfg, anchors, oracle, smooth=2)
    assert [r["step"] for r in rows] == [2, 4] and [r["samples"] for r in rows] == [16, 32]
    for key in ("infonce", "infonce_scaled", "nmi", "shift_std", "shift_mean", "support_dist", "oracle_agreement",
                "train_infonce", "delta_moved"):
        assert all(math.isfinite(r[key]) for r in rows), key
    r = rows[-1]
    assert r["nmi"] == pytest.approx(1 - r["infonce"] / math.log(15))
    assert r["shift_std_0"] == 0 and r["shift_std_2"] > 0  # chunks 0, 1 never move
    assert r["delta_moved"] == pytest.approx((r["delta_mean_2"] + r["delta_mean_3"]) / 2)


def test_support_distance_is_zero_inside_the_truncation_cube():
    gen = _gen()
    z = gen.sample_latents(6, seed=0)
    assert torch.equal(minmax.support_distance(gen, z), torch.zeros(6))
    far = [t.clone() for t in z]
    far[1][:, 0] = 5.0  # one coordinate at 5, the cube ends at 2: distance 3
    assert torch.allclose(minmax.support_distance(gen, far), torch.full((6,), 3.0))


def test_monte_carlo_with_shared_anchors_matches_fresh_decoding():
    gen = _gen()
    from hlwb.encoders import Critic
    from hlwb.walkers import ChunkNoiseWalker

    w = ChunkNoiseWalker(gen.chunks, [0, 0, 0.5, 0])
    critic = Critic(4)
    a = minmax.anchor_batches(gen, n_anchors=40, batch=16)
    assert [len(b["x"]) for b in a] == [16, 16, 8]
    fresh = minmax.monte_carlo(gen, w, critic, n_anchors=40, batch=16)
    shared = minmax.monte_carlo(gen, w, critic, n_anchors=40, batch=16, anchors=a)
    assert fresh == shared and shared["delta_mean_2"] > 0 and shared["delta_mean_1"] == 0


def test_read_log_returns_every_step_even_after_the_run_finished(tmp_path):
    gen = _gen()
    cfg = minmax.MinMaxConfig(steps=4, batch=8, critic_width=4, walker_hidden=16)
    _, _, rec = minmax.train_walker(gen, [0], cfg, work_dir=tmp_path)
    _, _, again = minmax.train_walker(gen, [0], cfg, work_dir=tmp_path)  # finished: nothing new
    log = minmax.read_log(tmp_path)
    assert again == [] and len(log) == 4 and [r["infonce"] for r in log] == [r["infonce"] for r in rec]
