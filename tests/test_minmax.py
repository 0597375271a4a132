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
