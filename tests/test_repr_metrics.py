"""Representation metrics against naive formulas written with numpy loops."""

import math

import numpy as np
import pytest
import torch

from hlwb.metrics import alignment, effective_rank, infonce_mi_bound, uniformity


def _unit(v: np.ndarray) -> np.ndarray:
    return v / math.sqrt(sum(float(c) ** 2 for c in v))


def _feats(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_alignment_matches_a_loop():
    x, y = _feats(15, 4, 0), _feats(15, 4, 1)
    for alpha in (1.0, 2.0):
        naive = np.mean([np.linalg.norm(_unit(a) - _unit(b)) ** alpha for a, b in zip(x.numpy(), y.numpy())])
        assert alignment(x, y, alpha) == pytest.approx(naive, rel=1e-6)
    assert alignment(x, 3 * x) == pytest.approx(0.0, abs=1e-12)  # scale does not matter
    assert alignment(x, -x) == pytest.approx(4.0)


def test_uniformity_matches_a_loop_over_distinct_pairs():
    x = _feats(12, 3, 2).numpy()
    terms = [math.exp(-2.0 * float(np.sum((_unit(x[i]) - _unit(x[j])) ** 2)))
             for i in range(len(x)) for j in range(i + 1, len(x))]
    assert uniformity(torch.from_numpy(x)) == pytest.approx(math.log(sum(terms) / len(terms)), rel=1e-6)
    # collapse gives the maximum 0; two antipodal points the minimum -4t
    assert uniformity(torch.ones(5, 3)) == pytest.approx(0.0, abs=1e-12)
    assert uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), t=2.0) == pytest.approx(-8.0)


def test_effective_rank_matches_numpy_svd_and_counts_equal_directions():
    x = _feats(40, 6, 3) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1, 0.01])
    s = np.linalg.svd(x.double().numpy(), compute_uv=False)
    p = [float(v) / float(s.sum()) + 1e-7 for v in s]
    assert effective_rank(x) == pytest.approx(math.exp(-sum(q * math.log(q) for q in p)), rel=1e-6)
    # k orthogonal directions of equal energy: effective rank k
    q, _ = torch.linalg.qr(_feats(50, 50, 4).double())
    assert effective_rank(q[:, :7] @ q[:, :7].T) == pytest.approx(7.0, rel=1e-4)
    assert effective_rank(torch.ones(10, 4)) == pytest.approx(1.0, rel=1e-4)


def _naive_nt_xent(z1: np.ndarray, z2: np.ndarray, tau: float) -> float:
    z = [_unit(v) for v in np.concatenate([z1, z2])]
    b, total = len(z1), 0.0
    for i in range(2 * b):
        j = (i + b) % (2 * b)
        denom = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(2 * b) if k != i)
        total += -(float(z[i] @ z[j]) / tau - math.log(denom))
    return total / (2 * b)


def test_infonce_mi_bound_is_log_of_2b_minus_1_minus_the_loss():
    z1, z2 = _feats(6, 5, 5), _feats(6, 5, 6)
    expected = math.log(2 * 6 - 1) - _naive_nt_xent(z1.numpy(), z2.numpy(), 0.2)
    assert infonce_mi_bound(z1, z2, tau=0.2) == pytest.approx(expected, rel=1e-5)
    # identical, well-separated pairs at a low temperature approach the ceiling log(2B - 1)
    e = torch.eye(6)
    assert infonce_mi_bound(e, e, tau=0.01) == pytest.approx(math.log(11), abs=1e-3)
