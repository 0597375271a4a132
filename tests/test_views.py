import pytest
import torch

from hlwb import views as V
from hlwb.generators.biggan import BigGANGenerator
from hlwb.walkers import ChunkNoiseWalker, IdentityWalker


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    g = BigGANGenerator(ch=4)
    g.recompute_statistics(seed=0, n_batches=2, batch=32)
    return g


@pytest.mark.parametrize("preset", V.PRESETS)
def test_presets_keep_shape_and_range(preset):
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    y = V.augmentation(preset)(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    if preset == "none":
        assert torch.equal(y, x)
    with pytest.raises(KeyError, match="valid: simclr"):
        V.augmentation("autoaugment")


def test_paper_and_fair_presets():
    assert V.preset_for("hl_random", "paper") == "no_color" and V.preset_for("gaussian", "paper") == "simclr"
    assert V.preset_for("hl_random", "fair") == V.preset_for("real", "fair") == "simclr"
    with pytest.raises(KeyError):
        V.preset_for("hl_random", "unfair")


def test_continuous_sampling_is_addressable_and_one_pass(gen):
    w = ChunkNoiseWalker(gen.chunks, [0, 0.5, 0.5, 1.0])
    a = V.GeneratedViews(gen, w, batch=4, preset="none", seed=3)
    b = V.GeneratedViews(gen, w, batch=8, preset="none", seed=3)
    x1, x2 = a.pair_at(1)
    y1, _ = b.pair_at(0)
    assert torch.allclose(x1, y1[4:], atol=1e-5)  # anchors 4..7 of seed 3, whatever the batch size
    assert not torch.allclose(x1, x2)
    again = a.batch_at(1)
    assert torch.equal(again[0], x1) and torch.equal(again[1], x2)
    # the one pass of 2B gives what separate passes give
    z = gen.sample_latents(4, seed=3, start=4)
    assert torch.allclose(gen.generate(z), x1, atol=1e-5)
    other_rank = V.GeneratedViews(gen, w, batch=4, preset="none", seed=3, rank=1)
    assert not torch.allclose(other_rank.pair_at(1)[0], x1)


def test_identity_walker_views_differ_only_by_augmentation(gen):
    src = V.GeneratedViews(gen, IdentityWalker(gen.chunks), batch=4, preset="none")
    x1, x2 = next(iter(src))
    assert torch.allclose(x1, x2, atol=1e-6)
    s1, s2 = V.GeneratedViews(gen, IdentityWalker(gen.chunks), batch=4, preset="simclr").batch_at(0)
    assert not torch.allclose(s1, s2)


def test_fixed_views_sample_from_the_fixed_set(gen):
    src = V.GeneratedViews(gen, IdentityWalker(gen.chunks), batch=4, preset="none")
    fixed = V.FixedViews(src, n=6)
    assert fixed.x1.shape == (6, 1, 32, 32)
    x1, _ = fixed.batch_at(5)
    assert all(any(torch.equal(r, f) for f in fixed.x1) for r in x1)


def test_real_views():
    imgs = torch.rand(20, 1, 32, 32) * 2 - 1
    rv = V.RealViews(imgs, batch=5, preset="simclr", seed=1)
    a1, a2 = rv.batch_at(2)
    b1, b2 = rv.batch_at(2)
    assert torch.equal(a1, b1) and torch.equal(a2, b2) and not torch.equal(a1, a2)


def test_make_source_by_strategy():
    src = V.make_source("hl_random", batch=4, augment="paper")
    assert isinstance(src, V.GeneratedViews) and src.walker.sigmas == [0.0, 1.0, 1.0, 1.0]
    x1, x2 = src.batch_at(0)
    assert x1.shape == (4, 1, 32, 32) and not torch.allclose(x1, x2)
    assert isinstance(V.make_source("synth", batch=4, sampling="fixed", n_fixed=8), V.FixedViews)
    assert V.make_source("gaussian", batch=4, sigma=0.3).walker.sigmas == [0.3] * 4
    assert isinstance(V.make_source("real", batch=4), V.RealViews)
    with pytest.raises(KeyError, match="needs a trained walker"):
        V.make_source("hl_learned", batch=4)
    with pytest.raises(KeyError, match="sampling"):
        V.make_source("synth", batch=4, sampling="offline")


def test_decode_chunk_gives_the_same_views(gen):
    w = ChunkNoiseWalker(gen.chunks, [0, 0.5, 0.5, 1.0])
    one = V.GeneratedViews(gen, w, batch=6, preset="none", seed=2).pair_at(3)
    chunked = V.GeneratedViews(gen, w, batch=6, preset="none", seed=2, decode_chunk=4).pair_at(3)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(one, chunked))
