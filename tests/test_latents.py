import pytest
import torch

from hlwb import latents as L

CHUNKS = (L.Chunk("a", 3, 0), L.Chunk("b", 4, 1), L.Chunk("c", 5, 2))


def test_sample_shapes_seed_and_truncation():
    z = L.sample(CHUNKS, 200, seed=3, truncation=1.0)
    assert [t.shape for t in z] == [(200, 3), (200, 4), (200, 5)]
    assert max(t.abs().max().item() for t in z) <= 1.0
    z2 = L.sample(CHUNKS, 200, seed=3, truncation=1.0)
    assert all(torch.equal(a, b) for a, b in zip(z, z2))
    z3 = L.sample(CHUNKS, 200, seed=4, truncation=1.0)
    assert not torch.equal(z[0], z3[0])


def test_sample_i_does_not_depend_on_batch_size():
    small, big = L.sample(CHUNKS, 5, seed=9, truncation=1.5), L.sample(CHUNKS, 50, seed=9, truncation=1.5)
    assert all(torch.equal(a, b[:5]) for a, b in zip(small, big))
    tail = L.sample(CHUNKS, 10, seed=9, truncation=1.5, start=40)  # addressable by (seed, index)
    assert all(torch.equal(a, b[40:]) for a, b in zip(tail, big))


def test_truncated_normal_is_not_clipping():
    g = L.make_generator(0)
    x = L.truncated_normal((100_000,), 0.5, g)
    assert (x.abs() <= 0.5).all()
    assert (x.abs() > 0.49).float().mean() < 0.05  # clipping would pile mass at the bound
    with pytest.raises(ValueError):
        L.truncated_normal((3,), 0.0, g)


def test_chunk_edits_leave_other_chunks_identical():
    z = L.sample(CHUNKS, 8, seed=1)
    for edit in (lambda: L.resample_chunk(CHUNKS, z, 1, seed=5),
                 lambda: L.add_noise(z, 1, 0.5, seed=5, truncation=2.0),
                 lambda: L.replace_chunk(z, 1, torch.zeros(8, 4))):
        z2 = edit()
        assert z2[0] is z[0] and z2[2] is z[2]
        assert not torch.equal(z2[1], z[1])
    assert torch.equal(L.add_noise(z, 2, 0.0, seed=1)[2], z[2])


def test_check_and_concat_split():
    z = L.sample(CHUNKS, 4, seed=0)
    assert L.check(CHUNKS, z) == 4
    assert all(torch.equal(a, b) for a, b in zip(L.split(L.concat(z), CHUNKS), z))
    with pytest.raises(ValueError, match="expected 3 latent chunks"):
        L.check(CHUNKS, z[:2])
    with pytest.raises(ValueError, match="chunk 'b'"):
        L.check(CHUNKS, [z[0], torch.zeros(4, 9), z[2]])


def test_perturb_per_chunk_sigma():
    z = L.sample(CHUNKS, 64, seed=0)
    p = L.perturb(CHUNKS, z, [0.0, 0.5, 2.0], seed=3, truncation=2.0)
    assert p[0] is z[0]
    d1, d2 = (p[1] - z[1]).abs(), (p[2] - z[2]).abs()
    assert d1.max() <= 1.0 + 1e-6 and d2.max() <= 4.0 + 1e-6  # truncated at 2 sigma
    assert d2.mean() > 3 * d1.mean()
    again = L.perturb(CHUNKS, z, [0.0, 0.5, 2.0], seed=3, truncation=2.0)
    assert all(torch.equal(a, b) for a, b in zip(p, again))
    assert all(a is b for a, b in zip(L.perturb(CHUNKS, z, [0, 0, 0], seed=1), z))
    with pytest.raises(ValueError, match="expected 3 sigmas"):
        L.perturb(CHUNKS, z, [0.1], seed=0)


def test_noise_and_resample_streams_are_not_the_anchors():
    z = L.sample(CHUNKS, 16, seed=0, truncation=2.0)
    p = L.perturb(CHUNKS, z, [1.0, 1.0, 1.0], seed=0, truncation=2.0)
    assert not torch.allclose(p[1], 2 * z[1])  # the noise of seed 0 is not the anchor of seed 0
    r = L.resample_chunk(CHUNKS, z, 1, seed=0, truncation=2.0)
    assert not torch.equal(r[1], z[1])
    # per-sample draws: the first 4 rows do not depend on the batch size
    r4 = L.resample_chunk(CHUNKS, [t[:4] for t in z], 1, seed=0, truncation=2.0)
    assert torch.equal(r4[1], r[1][:4])
    n4 = L.add_noise([t[:4] for t in z], 2, 0.5, seed=3)
    assert torch.equal(n4[2], L.add_noise(z, 2, 0.5, seed=3)[2][:4])
