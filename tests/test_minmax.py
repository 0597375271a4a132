import math

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
    walker, critic, rec = minmax.train_walker(gen, [3], cfg, work_dir=tmp_path)
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
    curves = {"a": [0.5, 1.0, 2.0, 3.0], "b": [0.2, 0.4, 0.6, 0.9], "c": [1.0, 2.0, 2.0, 2.0]}
    level, steps = minmax.matched_infonce(curves, [2, 4])
    # highest snapshot values: a 3.0, b 0.9, c 2.0 -> the common level is 0.9
    assert level == 0.9 and steps == {"a": 2, "b": 4, "c": 2}


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
