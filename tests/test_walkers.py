import pytest
import torch

from hlwb import latents as L
from hlwb import walkers as W

CHUNKS = tuple(L.Chunk(f"c{k}", 20, k) for k in range(4))


@pytest.fixture
def z():
    return L.sample(CHUNKS, 256, seed=0, truncation=2.0)


def test_identity(z):
    out = W.IdentityWalker(CHUNKS)(z)
    assert all(a is b for a, b in zip(out, z))


def test_fresh_learned_walker_is_near_identity(z):
    torch.manual_seed(0)
    w = W.LearnedWalker(CHUNKS)
    out = w(z)
    rel = (torch.cat(out, 1) - torch.cat(z, 1)).norm() / torch.cat(z, 1).norm()
    assert rel < 1e-2


def test_learned_walker_moves_only_selected_chunks(z):
    w = W.LearnedWalker(CHUNKS, selected=[2])
    with torch.no_grad():
        w.net[2].bias.fill_(1.0)  # make it move
    out = w(z)
    assert out[0] is z[0] and out[1] is z[1] and out[3] is z[3]
    assert torch.allclose(W.delta(z, out)[:, 2], torch.full((256,), 20 ** 0.5), atol=0.1)
    with pytest.raises(ValueError):
        W.LearnedWalker(CHUNKS, selected=[4])


def test_learned_walker_is_trainable(z):
    w = W.LearnedWalker(CHUNKS, selected=[1, 3])
    loss = -W.delta(z, w(z)).sum()
    loss.backward()
    assert w.net[0].weight.grad is not None and w.net[0].weight.grad.abs().sum() > 0


def test_chunk_noise_add_and_resample(z):
    w = W.ChunkNoiseWalker(CHUNKS, [0.0, 0.5, 0.0, 2.0])
    a, b = w(z, seed=3), w(z, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))  # same seed, same output
    assert not torch.equal(w(z, seed=4)[1], a[1])
    assert a[0] is z[0] and a[2] is z[2]
    d = W.delta(z, a)
    assert d[:, 3].mean() > 3 * d[:, 1].mean()
    assert ((a[1] - z[1]).abs() <= 1.0 + 1e-6).all()  # truncated at 2 sigma
    r = W.ChunkNoiseWalker(CHUNKS, [0, 1, 0, 0], mode="resample")(z, seed=1)
    assert r[0] is z[0] and not torch.equal(r[1], z[1]) and r[1].abs().max() <= 2.0
    # independent noise per chunk: the chunk-1 and chunk-3 draws are not the same numbers
    eps1, eps3 = (a[1] - z[1]) / 0.5, (a[3] - z[3]) / 2.0
    assert not torch.allclose(eps1, eps3)


def test_gaussian_walker_moves_every_chunk(z):
    out = W.GaussianWalker(CHUNKS, sigma=0.2)(z, seed=0)
    d = W.delta(z, out)
    assert (d > 0).all() and d.mean() == pytest.approx(0.2 * 20 ** 0.5, rel=0.15)


def test_registry_and_bad_arguments():
    assert isinstance(W.build("gaussian", CHUNKS, sigma=0.1), W.GaussianWalker)
    with pytest.raises(KeyError, match="valid: identity, gaussian, chunk_noise, learned"):
        W.build("cop", CHUNKS)
    with pytest.raises(ValueError, match="expected 4 sigmas"):
        W.ChunkNoiseWalker(CHUNKS, [0.1])
    with pytest.raises(ValueError, match="mode"):
        W.ChunkNoiseWalker(CHUNKS, [0.1] * 4, mode="mix")


def test_learned_walker_save_load_roundtrip(tmp_path):
    from hlwb.walkers import LearnedWalker, load_learned, save_learned

    chunks = tuple(L.Chunk(f"c{k}", 6, k) for k in range(3))
    w = LearnedWalker(chunks, [0, 2], hidden=8)
    with torch.no_grad():
        w.net[0].weight.normal_()
    save_learned(tmp_path / "w.pt", w, meta={"generator": "x"})
    w2 = load_learned(tmp_path / "w.pt", chunks)
    z = L.sample(chunks, 5, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(w(z), w2(z))) and w2.meta == {"generator": "x"}
    other = tuple(L.Chunk(f"c{k}", 4, k) for k in range(3))
    with pytest.raises(ValueError, match="chunks"):
        load_learned(tmp_path / "w.pt", other)


def test_tied_learned_walker_moves_one_z_into_every_selected_chunk(tmp_path):
    from hlwb.walkers import LearnedWalker, load_learned, save_learned

    chunks = tuple(L.Chunk(f"c{k}", 6, k) for k in range(4))
    z0 = L.sample(chunks[:1], 5, seed=0)[0]
    z = [z0.clone() for _ in chunks]  # a tied-z anchor (StyleGAN): one z in every chunk
    w = LearnedWalker(chunks, [1, 2, 3], hidden=0, tied=True)
    assert w.net[0].in_features == 6 and w.net[0].out_features == 6  # hidden 0: input width
    with torch.no_grad():
        w.net[2].bias.fill_(0.3)
    out = w(z)
    assert out[0] is z[0] and all(torch.equal(out[k], out[1]) for k in (2, 3))
    assert torch.allclose(out[1], z0 + 0.3, atol=1e-3)
    save_learned(tmp_path / "w.pt", w)
    w2 = load_learned(tmp_path / "w.pt", chunks)
    assert w2.tied and all(torch.equal(a, b) for a, b in zip(w(z), w2(z)))
    with pytest.raises(ValueError, match="one width"):
        LearnedWalker((L.Chunk("a", 4, 0), L.Chunk("b", 6, 1)), None, tied=True)
    untied = LearnedWalker(chunks, [1, 2, 3], hidden=0)
    assert untied.net[0].in_features == 18  # untied: the concatenated chunks, hidden = input width
