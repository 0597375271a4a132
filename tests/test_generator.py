import pytest
import torch

from hlwb import generators
from hlwb import latents as L
from hlwb.generators.biggan import BigGANGenerator, Discriminator


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    g = BigGANGenerator(ch=8)
    # give batch-norm non-trivial running statistics, then freeze them
    with torch.no_grad():
        g.train()
        for _ in range(3):
            g(g.sample_latents(32))
    return g.eval()


def test_layout_and_shapes(gen):
    assert [c.level for c in gen.chunks] == [0, 1, 2, 3]
    assert [c.dim for c in gen.chunks] == [20] * 4
    x = gen.generate(gen.sample_latents(5, seed=0))
    assert x.shape == (5, 1, 32, 32)
    assert x.min() >= -1 and x.max() <= 1
    assert Discriminator(8)(x).shape == (5,)


def test_same_seed_same_image(gen):
    a = gen.generate(gen.sample_latents(4, seed=7))
    b = gen.generate(gen.sample_latents(4, seed=7))
    c = gen.generate(gen.sample_latents(4, seed=8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_image_does_not_depend_on_its_batch(gen):
    z = gen.sample_latents(16, seed=1)
    alone = gen.generate([t[:1] for t in z])
    together = gen.generate(z)[:1]
    assert torch.allclose(alone, together, atol=1e-5)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_changing_chunk_k_changes_output_only_through_k(gen, k):
    z = gen.sample_latents(6, seed=2)
    before = [t.clone() for t in z]
    z2 = L.resample_chunk(gen.chunks, z, k, seed=99)
    x, x2 = gen.generate(z), gen.generate(z2)
    assert (x - x2).abs().mean() > 1e-4
    for j in range(4):
        assert torch.equal(z[j], before[j])  # the input code is untouched
        if j != k:
            assert z2[j] is z[j]


def test_registry_and_unknown_family():
    assert {"biggan", "stylegan"} <= set(generators.GENERATORS)
    with pytest.raises(KeyError, match="valid: biggan, stylegan"):
        generators.build("stylegan9")
    with pytest.raises(FileNotFoundError, match="neither a shipped generator"):
        generators.load("/no/such/file.pt")


def test_save_load_roundtrip(gen, tmp_path):
    p = tmp_path / "g.pt"
    generators.save(p, gen, meta={"note": "test"})
    g2 = generators.load(p)
    z = gen.sample_latents(3, seed=4)
    assert torch.equal(gen.generate(z), g2.generate(z))
    assert g2.meta == {"note": "test"} and not g2.training


@pytest.mark.parametrize("name", ["biggan", "stylegan"])
def test_shipped_generator_loads(name):
    assert set(generators.SHIPPED) == {"biggan", "stylegan"}
    g = generators.load(name)
    assert g.family == name and len(g.chunks) == 4 and not g.training
    z = g.sample_latents(16, seed=0)
    x = g.generate(z)
    assert x.shape == (16, 1, 32, 32)
    assert x.std(0).mean() > 0.05  # a trained generator: samples differ with z
    assert torch.equal(x, g.generate(g.sample_latents(16, seed=0)))  # same seed, same image
    assert (generators.shipped_path(name).with_suffix(".json")).exists()


def test_standing_statistics_set_batchnorm_buffers():
    g = BigGANGenerator(ch=4)
    bn = g.out_bn
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    g.recompute_statistics(seed=0, n_batches=3, batch=32)
    assert not g.training and bn.running_mean.abs().sum() > 0 and bn.momentum == 0.1
    # the stats are the average over the fresh batches, so they do not depend on call order
    g2 = BigGANGenerator(ch=4)
    g2.load_state_dict(g.state_dict())
    g2.recompute_statistics(seed=0, n_batches=3, batch=32)
    assert torch.allclose(g2.out_bn.running_var, bn.running_var)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_shared_prefix_gives_the_same_images(gen, level):
    z = gen.sample_latents(4, seed=0)
    zp = L.perturb(gen.chunks, z, [0.0 if k < level else 0.7 for k in range(4)], seed=1)
    with torch.no_grad():
        h = gen.prefix(z, level)  # computed once for anchor and positive
        both = gen.from_prefix(torch.cat([h, h]), [torch.cat([a, b]) for a, b in zip(z, zp)], level)
        ref = gen([torch.cat([a, b]) for a, b in zip(z, zp)])
    assert torch.allclose(both, ref, atol=1e-5)


def test_train_generator_records_the_digest_of_what_it_wrote(tmp_path):
    import hashlib
    import json

    from hlwb.checkpoint import CheckpointError
    from hlwb.generators.training import GANConfig, train_gan

    out = tmp_path / "g.pt"
    train_gan(GANConfig(steps=2, batch=4, g_ch=4, d_ch=4, ema_start=1, ckpt_every=2, threads=1), out,
              tmp_path / "work")
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() and side["config"]["g_ch"] == 4
    generators.load(out)
    raw = bytearray(out.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one byte changed after the sidecar was written
    out.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="SHA-256"):
        generators.load(out)
