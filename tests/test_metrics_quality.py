import numpy as np
import pytest
import torch

from hlwb import hierarchy, quality
from hlwb.metrics import frechet_distance
from hlwb.spec import ImageSpec


def test_frechet_distance_against_closed_form():
    # diagonal Gaussians: FD = |mu1-mu2|^2 + sum (s1 + s2 - 2 sqrt(s1 s2))
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g) * torch.tensor([1.0, 2.0, 0.5])
    b = torch.randn(20000, 3, generator=g) * torch.tensor([2.0, 1.0, 0.5]) + torch.tensor([1.0, 0, 0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 0.25])
    expected = 1.0 + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a, b[:, :2])


class _FakeOracle:
    """Labels an image by the sign of its mean pixel: two classes."""

    spec = ImageSpec(1, 32, ("dark", "bright"))

    def probs(self, x):
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([(m < 0).float(), (m >= 0).float()], 1)

    def predict(self, x):
        return self.probs(x).argmax(1)


def test_chunk_agreement_and_histogram():
    from hlwb.generators.biggan import BigGANGenerator

    torch.manual_seed(0)
    gen = BigGANGenerator(ch=4).eval()
    rows = hierarchy.chunk_agreement(gen, _FakeOracle(), n_anchors=64, seed=0)
    assert [r["chunk"] for r in rows] == [0, 1, 2, 3]
    assert all(0 <= r["agreement"] <= 1 and r["kl"] >= 0 and r["pixel_rms"] > 0 for r in rows)
    hist = quality.class_histogram(_FakeOracle(), quality.sample_images(gen, 32, seed=1))
    assert sum(hist) == pytest.approx(1.0) and len(hist) == 2  # one share per class of the oracle
    assert hierarchy.rises_global_to_fine([{"agreement": a} for a in (0.2, 0.5, 0.5, 0.9)])
    assert not hierarchy.rises_global_to_fine([{"agreement": a} for a in (0.2, 0.6, 0.5)])
    grid, titles = hierarchy.resample_grid(gen, n_anchors=3, per_chunk=2, seed=0)
    assert grid.shape == (3, 9, 1, 32, 32) and titles[0] == "anchor" and len(titles) == 9
    # resampling chunk 0 changes the image
    assert not torch.equal(grid[:, 0], grid[:, 1])


def test_wilson_interval():
    lo, hi = hierarchy.wilson(1.0, 200)
    assert hi == pytest.approx(1.0) and 0.97 < lo < 0.99  # not a zero-width interval at p = 1
    lo, hi = hierarchy.wilson(0.5, 100)
    assert lo == pytest.approx(0.404, abs=2e-3) and hi == pytest.approx(0.596, abs=2e-3)
