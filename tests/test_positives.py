"""Per-arm positives statistics: mean ||z' - z|| and the oracle agreement of g(z') with g(z)."""

import pytest
import torch

from hlwb import minmax, positives
from hlwb.generators.biggan import BigGANGenerator
from hlwb.walkers import ChunkNoiseWalker, GaussianWalker, IdentityWalker


class _ProjectionOracle:
    """A fixed random linear classifier of the pixels: its label moves when the image moves."""

    def __init__(self, seed: int = 0):
        self.w = torch.randn(10, 32 * 32, generator=torch.Generator().manual_seed(seed))

    def predict(self, x):
        return (x.flatten(1) @ self.w.T).argmax(1)


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    g = BigGANGenerator(ch=4)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    return g.eval()


def test_identity_positives_agree_everywhere_and_move_nothing(gen):
    r = positives.stats(gen, IdentityWalker(gen.chunks), _ProjectionOracle(), n=32, batch=32, device="cpu")
    assert r["mean_delta"] == 0 and r["delta_chunks"] == [0.0] * 4 and r["agreement"] == 1.0
    assert r["agreement_ci"][1] == pytest.approx(1.0) and r["agreement_ci"][0] < 1


def test_the_rule_moves_chunks_1_on_and_stronger_noise_agrees_less(gen):
    oracle = _ProjectionOracle()
    anchors = minmax.anchor_batches(gen, 64, 32, seed=3, oracle=oracle, device="cpu")
    rule = positives.stats(gen, ChunkNoiseWalker(gen.chunks, [0, 1, 1, 1]), oracle, n=64, seed=3, batch=32,
                           device="cpu", anchors=anchors)
    # TN(0, 1, +-2) noise on 60 dims: E||eps|| ~ sqrt(60 x 0.774) = 6.8 (the rule's 6.79 on the shipped biggan)
    assert rule["delta_chunks"][0] == 0 and rule["mean_delta"] == pytest.approx(6.8, rel=0.05)
    weak = positives.stats(gen, GaussianWalker(gen.chunks, 0.05), oracle, n=64, seed=3, batch=32, device="cpu",
                           anchors=anchors)
    assert weak["mean_delta"] < rule["mean_delta"] and weak["agreement"] > rule["agreement"]
    alone = positives.stats(gen, ChunkNoiseWalker(gen.chunks, [0, 1, 1, 1]), oracle, n=64, seed=3, batch=32,
                            device="cpu")
    assert alone == rule  # shared anchors give the numbers the walker gets alone
    with pytest.raises(ValueError, match="anchors hold 64 anchors, expected n=32"):
        positives.stats(gen, IdentityWalker(gen.chunks), oracle, n=32, seed=3, batch=32, anchors=anchors)


def test_one_definition_with_the_walker_table_of_notebook_03(gen):
    from hlwb.encoders import Critic

    oracle, walker = _ProjectionOracle(1), ChunkNoiseWalker(gen.chunks, [0, 0.5, 0.5, 0.5])
    mc = minmax.monte_carlo(gen, walker, Critic(width=4), oracle, n_anchors=64, batch=32, seed=9, device="cpu")
    r = positives.stats(gen, walker, oracle, n=64, seed=9, batch=32, device="cpu")
    assert r["agreement"] == pytest.approx(mc["oracle_agreement"])
    assert r["delta_chunks"] == pytest.approx([mc[f"delta_mean_{k}"] for k in range(4)])


def test_table_builds_each_arms_walker_and_skips_arms_without_one():
    rows = positives.table({"real": {"strategy": "real"}, "gaussian_keep0": {"strategy": "gaussian_keep0"},
                            "hl_keep2": {"strategy": "hl_keep", "hl_keep": 2}}, _ProjectionOracle(), n=16,
                           device="cpu")
    assert [r["arm"] for r in rows] == ["gaussian_keep0", "hl_keep2"]  # real: no walker, no row
    assert rows[0]["delta_chunks"][0] == 0 and rows[0]["delta_chunks"][1] > 0
    assert rows[1]["delta_chunks"][2] == 0 and min(rows[1]["delta_chunks"][k] for k in (0, 1, 3)) > 0


def test_figure_rows_join_accuracy_and_positives_with_a_seed_t_interval():
    acc = [{"arm": "a", "protocol": "linear", "mean": 85.0, "std": 1.0, "n_seeds": 5},
           {"arm": "a", "protocol": "fewshot", "mean": 50.0, "std": 1.0, "n_seeds": 5},
           {"arm": "b", "protocol": "knn_k20", "mean": 80.0, "std": float("nan"), "n_seeds": 1},
           {"arm": "real", "protocol": "linear", "mean": 84.0, "std": 0.5, "n_seeds": 5}]
    rows = positives.figure_rows(acc, [{"arm": "a", "mean_delta": 6.8}, {"arm": "b", "mean_delta": 1.6}],
                                 {"a": "chunk 0 fixed"})
    assert [(r["arm"], r["protocol"]) for r in rows] == [("a", "linear"), ("b", "knn")]  # real: no positives
    a, b = rows
    assert a["ci_high"] - a["mean"] == pytest.approx(2.776 * 1.0 / 5 ** 0.5, rel=1e-3)  # t(0.975, 4)
    assert a["curve"] == "chunk 0 fixed" and a["mean_delta"] == 6.8
    assert b["ci_low"] == b["ci_high"] == 80.0 and b["curve"] is None  # one seed: no interval
