import math

import numpy as np
import pytest
import torch

from hlwb import perturbation as P
from hlwb.generators.biggan import BigGANGenerator
from hlwb.oracle import Oracle, OracleNet


@pytest.fixture(scope="module")
def gen_oracle():
    torch.manual_seed(0)
    g = BigGANGenerator(ch=4)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    torch.manual_seed(1)
    return g.eval(), Oracle(OracleNet(width=4).eval())


def test_delta_interpolates_the_first_crossing():
    s = [0.0, 1.0, 2.0, 3.0]
    assert P.delta_at(s, [1.0, 0.95, 0.85, 0.95]) == (pytest.approx(1.5), False)  # first crossing, not the last
    assert P.delta_at(s, [1.0, 0.99, 0.95, 0.91]) == (3.0, True)    # never below: censored
    assert P.delta_at(s, [0.5, 0.4, 0.3, 0.2]) == (0.0, False)
    with pytest.raises(ValueError, match="increase"):
        P.delta_at([0.0, 2.0, 1.0], [1, 1, 1])


def test_bootstrap_interval_brackets_the_point_estimate():
    rng = np.random.default_rng(0)
    s = [0.0, 0.5, 1.0, 1.5, 2.0]
    p = np.array([1.0, 0.97, 0.92, 0.85, 0.6])
    agree = (rng.random((5, 400)) < p[:, None]).astype(float)
    b = P.bootstrap_delta(s, agree, n_boot=300, seed=1)
    assert b["ci_low"] <= b["delta"] <= b["ci_high"] and b["ci_high"] - b["ci_low"] > 0
    assert 1.0 <= b["delta"] <= 1.5
    assert P.bootstrap_delta(s, agree, n_boot=300, seed=1) == b  # seeded


def test_spearman_matches_a_direct_formula():
    a = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0]
    b = [2.0, 7.0, 1.0, 8.0, 2.5, 0.5]
    n = len(a)
    ra = [sorted(a).index(v) + 1 for v in a]  # no ties: rank = position in sorted order
    rb = [sorted(b).index(v) + 1 for v in b]
    d2 = sum((x - y) ** 2 for x, y in zip(ra, rb))
    assert math.isclose(P.spearman(a, b), 1 - 6 * d2 / (n * (n * n - 1)), rel_tol=1e-12)
    assert P.spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)  # ties
    assert math.isnan(P.spearman([1, 1, 1], [1, 2, 3]))


def test_sweep_sigma_zero_is_the_anchor_and_only_the_chunk_moves(gen_oracle):
    gen, oracle = gen_oracle
    a = P.anchors(gen, oracle, n=24, seed=0, batch=10)
    r = P.sweep(gen, oracle, a, chunk=2, sigmas=[0.0, 1.0, 3.0], seed=5, batch=10, keep_images=3)
    assert r["agree"].shape == (3, 24) and r["images"].shape == (3, 3, 1, 32, 32)
    assert r["agree"][0].all() and np.allclose(r["kl"][0], 0, atol=1e-6) and np.allclose(r["pixel_rms"][0], 0)
    assert r["pixel_rms"][2].mean() > r["pixel_rms"][1].mean() > 0
    assert r["feat_dist"][2].mean() > 0
    again = P.sweep(gen, oracle, a, chunk=2, sigmas=[0.0, 1.0, 3.0], seed=5, batch=7)
    np.testing.assert_allclose(again["pixel_rms"], r["pixel_rms"], atol=1e-5)  # seeded, any batch size


def test_proxy_infonce_lower_for_near_copies_than_for_unrelated_pairs():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(192, 1, 32, 32, generator=g) * 2 - 1
    near = P.proxy_infonce(x, x + 0.01 * torch.randn(x.shape, generator=g), n_train=128, steps=15, batch=32)
    far = P.proxy_infonce(x, torch.rand(192, 1, 32, 32, generator=g) * 2 - 1, n_train=128, steps=15, batch=32)
    assert near["infonce"] < far["infonce"]
    assert math.isclose(near["mi_bound"], math.log(63) - near["infonce"])
    with pytest.raises(ValueError, match="pairs"):
        P.proxy_infonce(x[:40], x[:40], n_train=32, steps=1, batch=32)


def test_level_correlation_of_an_agreement_table():
    from hlwb.hierarchy import level_correlation

    rows = [{"level": k, "agreement": a} for k, a in enumerate([0.1, 0.6, 0.7, 0.9])]
    assert level_correlation(rows) == pytest.approx(1.0)
    rows[1]["agreement"] = 0.8  # one inversion
    assert 0 < level_correlation(rows) < 1
