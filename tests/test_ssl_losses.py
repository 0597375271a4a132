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
