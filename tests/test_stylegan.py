import pytest
import torch

from hlwb import generators
from hlwb import latents as L
from hlwb.generators.stylegan import StyleGANGenerator


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    g = StyleGANGenerator(chunk_dim=16, w_dim=32, ch=16)
    with torch.no_grad():  # non-trivial noise strengths and mean w, as after training
        for conv in g.convs:
            conv.noise_strength.fill_(0.3)
        g.w_avg.normal_()
    return g.eval()


def test_shapes_and_layout(gen):
    assert [c.level for c in gen.chunks] == [0, 1, 2, 3]
    # the 1x32x32 layout and names hlwb shipped first (walker files and notebook outputs store the names)
    assert [c.name for c in gen.chunks] == ["coarse_4-8px", "middle_8-16px", "fine_16-32px", "finest_32px_gray"]
    assert gen.layer_res == (4, 8, 8, 16, 16, 32, 32, 32) and gen.groups == ((0, 1), (2, 3), (4, 5), (6, 7))
    z = gen.sample_latents(5, seed=0)
    assert [t.shape for t in z] == [(5, 16)] * 4
    assert all(torch.equal(z[0], t) for t in z)  # an anchor: the same z in every group
    assert gen.styles(z).shape == (5, gen.n_layers, 32)
    x = gen.generate(z)
    assert x.shape == (5, 1, 32, 32) and x.abs().max() <= 1


def test_same_seed_same_image_and_batch_independence(gen):
    z = gen.sample_latents(6, seed=3)
    a, b = gen.generate(z), gen.generate(gen.sample_latents(6, seed=3))
    assert torch.equal(a, b)
    assert torch.allclose(gen.generate([t[:1] for t in z]), a[:1], atol=1e-5)


@pytest.mark.parametrize("k", range(4))
def test_style_mixing_touches_only_the_chosen_group(gen, k):
    z = gen.sample_latents(4, seed=1)
    z2 = L.add_noise(z, k, 0.5, seed=7)
    ws, ws2 = gen.styles(z), gen.styles(z2)
    for j, layers in enumerate(gen.groups):
        same = torch.equal(ws[:, list(layers)], ws2[:, list(layers)])
        assert same == (j != k), (j, k)
    assert (gen.generate(z) - gen.generate(z2)).abs().mean() > 1e-4


def test_truncation_in_w(gen):
    z = gen.sample_latents(3, seed=2)
    ws = gen.styles(z, psi=0.0)
    assert torch.allclose(ws, gen.w_avg.expand_as(ws))
    assert not torch.allclose(gen.styles(z, psi=1.0), ws)


def test_save_load_roundtrip(gen, tmp_path):
    generators.save(tmp_path / "s.pt", gen)
    g2 = generators.load(tmp_path / "s.pt")
    z = gen.sample_latents(2, seed=5)
    assert g2.family == "stylegan" and torch.equal(gen.generate(z), g2.generate(z))


def test_mixing_regularisation_latents(gen):
    z = gen.training_latents(200, seed=4, mixing_prob=1.0)
    z2 = L.sample((L.Chunk("z", 16, 0),), 200, seed=4, truncation=2.0, stream=L.EXTRA)[0]  # the second z
    assert torch.equal(z[0], gen.sample_latents(200, seed=4)[0])
    # every sample switches to the second z at one crossover group and keeps it after
    switched = torch.tensor([torch.equal(a, b) for k in range(1, 4) for a, b in zip(z[k], z2)]).view(3, 200)
    assert switched[-1].all() and (switched[:-1].int() <= switched[1:].int()).all()
    assert switched[0].any() and not switched[0].all()
    z_none = gen.training_latents(50, seed=4, mixing_prob=0.0)
    assert all(torch.equal(z_none[0], t) for t in z_none)


def test_w_avg_recomputed_from_mapping(gen):
    g = StyleGANGenerator(chunk_dim=16, w_dim=32, ch=16)
    g.recompute_statistics(seed=0, n_batches=4, batch=64)
    expected = g.mapping(g.sample_latents(256, seed=0)[0]).mean(0)
    assert g.w_avg.norm() > 0 and (g.w_avg - expected).norm() < 0.5 * expected.norm()


def test_modconv_equals_the_per_sample_modulated_convolution(gen):
    """The batched (non-fused) modulated conv equals a grouped conv with each sample's own
    modulated, demodulated weight — written the other way, one sample at a time."""
    import torch.nn.functional as F

    conv = gen.convs[3]
    x = torch.randn(3, conv.weight.shape[1], 16, 16, generator=torch.Generator().manual_seed(1))
    w = torch.randn(3, gen.w_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = conv(x, w)
        weight = conv.modulated_weight(w)
        for i in range(3):
            y = F.conv2d(x[i:i + 1], weight[i], padding=1) + conv.noise_strength * conv.const_noise
            want = F.leaky_relu(y + conv.bias[None, :, None, None], 0.2) * 2 ** 0.5
            torch.testing.assert_close(got[i:i + 1], want, rtol=1e-4, atol=1e-5)
        # demodulation: every output filter of every sample has unit norm
        torch.testing.assert_close(weight.pow(2).sum(dim=(2, 3, 4)), torch.ones(3, weight.shape[1]),
                                   rtol=1e-4, atol=1e-4)


def test_fresh_generator_depends_on_z_and_mapping_learns_slower():
    """StyleGAN2 init: styles vary O(1) with w from the start (a default-initialised affine
    gave ~0.03 and a generator that ignored z); the mapping net gets 0.01 x the lr."""
    torch.manual_seed(0)
    g = StyleGANGenerator(chunk_dim=16, w_dim=32, ch=8).eval()
    z = g.sample_latents(64, seed=0)
    with torch.no_grad():
        s = g.convs[0].affine(g.mapping(z[0]))
        x = g(z)
    assert s.std(0).mean() > 0.2 and x.std(0).mean() > 0.05
    groups = g.optim_groups(1e-3)
    mapping = {id(p) for p in g.mapping.parameters()}
    assert [gr["lr"] for gr in groups] == [1e-3, pytest.approx(1e-5)]
    assert {id(p) for p in groups[1]["params"]} == mapping
    assert sum(len(gr["params"]) for gr in groups) == len(list(g.parameters()))
