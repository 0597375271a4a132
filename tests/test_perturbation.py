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
    b = P.paired_bootstrap(s, [agree], n_boot=300, seed=1)["chunks"][0]
    assert b["ci_low"] <= b["delta"] <= b["ci_high"] and b["ci_high"] - b["ci_low"] > 0
    assert 1.0 <= b["delta"] <= 1.5 and not b["censored"] and not b["below_grid"]
    assert P.paired_bootstrap(s, [agree], n_boot=300, seed=1)["chunks"][0] == b  # seeded


def _table(rng, p, n=600):
    return (rng.random((len(p), n)) < np.asarray(p)[:, None]).astype(float)


def test_paired_bootstrap_and_the_hierarchy_verdict():
    rng = np.random.default_rng(0)
    s = P.log_grid(0.02, 3.0, 12)
    assert s[0] == 0.0 and s[1] == 0.02 and s[-1] == 3.0 and np.all(np.diff(s) > 0)
    sig = np.asarray(s)
    # agreement falls at sigma ~0.05, ~0.4, ~1.2; the finest chunk never drops (censored)
    curves = [np.where(sig < c, 0.99, 0.5) for c in (0.05, 0.4, 1.2)] + [np.full(len(s), 0.99)]
    tabs = [_table(rng, c) for c in curves]
    out = P.paired_bootstrap(s, tabs, n_boot=200, seed=0)
    assert [c["censored"] for c in out["chunks"]] == [False, False, False, True]
    assert out["chunks"][3]["delta"] == 3.0 and out["diffs"][2]["lower_bound_only"]
    assert all(d["ci_low"] > 0 for d in out["diffs"]) and P.hierarchy_verdict(out["diffs"]) == "holds"
    # two chunks with the same curve: their paired difference interval contains 0 -> unresolved
    same = P.paired_bootstrap(s, [tabs[1], _table(rng, curves[1])], n_boot=200, seed=0)
    assert same["diffs"][0]["ci_low"] <= 0 <= same["diffs"][0]["ci_high"]
    assert P.hierarchy_verdict(same["diffs"]) == "unresolved"
    assert P.hierarchy_verdict(P.paired_bootstrap(s, [tabs[2], tabs[0]], n_boot=200)["diffs"]) == "violated"
    # a crossing inside the first cell (0, sigma_1] is flagged, not reported as resolved
    low = P.paired_bootstrap(s, [_table(rng, np.where(sig == 0, 1.0, 0.5))], n_boot=50)["chunks"][0]
    assert low["below_grid"] and low["delta"] <= s[1]
    with pytest.raises(ValueError, match="shared"):
        P.paired_bootstrap(s, [tabs[0], tabs[0][:, :10]])


def test_proxy_mi_bound_is_never_negative():
    torch.manual_seed(0)
    x = torch.rand(192, 1, 32, 32) * 2 - 1
    unrelated = torch.rand(192, 1, 32, 32) * 2 - 1
    r = P.proxy_infonce(x, unrelated, n_train=128, steps=1, batch=32, width=4)
    assert r["mi_bound"] >= 0 and r["mi_clipped"] == (math.log(63) - r["infonce"] < 0)
    if r["mi_clipped"]:
        assert r["mi_bound"] == 0.0


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
