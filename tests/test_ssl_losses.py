import math

import pytest
import torch

from hlwb.ssl.losses import mi_lower_bound, nt_xent


def naive_nt_xent(z1, z2, tau):
    """Loop over the 2B anchors, written from the SimCLR paper's formula."""
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    n, b = len(z), len(z1)
    total = 0.0
    for i in range(n):
        j = (i + b) % n
        num = math.exp(float(z[i] @ z[j]) / tau)
        den = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(n) if k != i)
        total += -math.log(num / den)
    return total / n


@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_nt_xent_matches_naive_loop(tau):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    assert nt_xent(z1, z2, tau).item() == pytest.approx(naive_nt_xent(z1, z2, tau), rel=1e-5)


def test_nt_xent_perfect_pairs_and_bound():
    z = torch.eye(8)  # orthogonal, each paired with itself
    loss = nt_xent(z, z, tau=0.05)
    assert loss.item() < 1e-3
    assert mi_lower_bound(loss, 8) == pytest.approx(math.log(15), abs=1e-3)
    with pytest.raises(ValueError):
        nt_xent(torch.zeros(3, 4), torch.zeros(2, 4))


from hlwb.ssl.losses import byol_loss, moco_infonce, negative_cosine, sinkhorn, swav_loss


def _cos(a, b):
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


def test_negative_cosine_and_byol_match_loops():
    g = torch.Generator().manual_seed(1)
    p, z = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    cos = [_cos(p[i], z[i]) for i in range(5)]
    assert negative_cosine(p, z).item() == pytest.approx(-sum(cos) / 5, rel=1e-5)
    assert byol_loss(p, z).item() == pytest.approx(sum(2 - 2 * c for c in cos) / 5, rel=1e-5)
    z.requires_grad_(True)
    negative_cosine(p.requires_grad_(True), z).backward()
    assert z.grad is None  # stop-gradient on the target


def test_moco_infonce_matches_loop():
    g = torch.Generator().manual_seed(2)
    q, k, queue = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g), torch.randn(10, 6, generator=g)
    tau = 0.2
    total = 0.0
    for i in range(4):
        pos = math.exp(_cos(q[i], k[i]) / tau)
        negs = sum(math.exp(_cos(q[i], queue[j]) / tau) for j in range(10))
        total += -math.log(pos / (pos + negs))
    assert moco_infonce(q, k, queue, tau).item() == pytest.approx(total / 4, rel=1e-5)


def test_sinkhorn_equal_partition_and_swav_loop():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(32, 8, generator=g) * 0.1
    q = sinkhorn(scores, eps=0.05, iters=50)
    assert torch.allclose(q.sum(1), torch.ones(32), atol=1e-4)
    assert torch.allclose(q.sum(0), torch.full((8,), 32 / 8), atol=1e-2)  # prototypes used equally
    s1, s2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    q1, q2 = sinkhorn(s1), sinkhorn(s2)
    tau, total = 0.1, 0.0
    for i in range(6):
        for k in range(4):
            lse2 = math.log(sum(math.exp(float(s2[i, j]) / tau) for j in range(4)))
            lse1 = math.log(sum(math.exp(float(s1[i, j]) / tau) for j in range(4)))
            total += float(q1[i, k]) * (float(s2[i, k]) / tau - lse2) + float(q2[i, k]) * (float(s1[i, k]) / tau - lse1)
    assert swav_loss(s1, s2, tau=tau).item() == pytest.approx(-0.5 * total / 6, rel=1e-4)
