import math

import numpy as np
import pytest
import torch

from hlwb import checkpoint, rcg
from hlwb import latents as L
from hlwb.generators.biggan import BigGANGenerator
from hlwb.rcg.rdm import TIMESTEPS, IndexedBatches, ResBlock
from hlwb.train import read_log


class Killed(RuntimeError):
    pass


def _randomise(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Overwrite every parameter with seeded noise (zero-initialised layers would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g))


# --- the representation space ---

def test_standardize_zero_mean_and_norm_sqrt_d_minus_1():
    r = torch.randn(5, 9, generator=torch.Generator().manual_seed(0)) * 3 + 1
    s = rcg.standardize(r)
    assert torch.allclose(s.mean(1), torch.zeros(5), atol=1e-6)
    assert torch.allclose(s.norm(dim=1), torch.full((5,), math.sqrt(8)), atol=1e-5)
    with pytest.raises(ValueError, match="constant"):
        rcg.standardize(torch.ones(2, 4))


def test_sphere_prior_unit_norm_and_addressable():
    a, b = rcg.sphere_prior(8, 16, seed=3), rcg.sphere_prior(4, 16, seed=3)
    assert torch.allclose(a.norm(dim=1), torch.ones(8))
    assert torch.equal(a[:4], b) and torch.equal(a[4:], rcg.sphere_prior(4, 16, seed=3, start=4))
    assert not torch.equal(a, rcg.sphere_prior(8, 16, seed=4))
    assert rcg.sphere_prior(4000, 3, seed=0).mean(0).abs().max() < 0.05  # no preferred direction


def test_representation_fd():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 6, generator=g), torch.randn(400, 6, generator=g) + 2 * torch.arange(6.0)
    assert rcg.representation_fd(a, 3 * a + 1) == pytest.approx(0.0, abs=1e-6)  # standardisation removes it
    assert rcg.representation_fd(a, b) > 1.0
    assert 0.0 <= rcg.reference_fd(a, 100, seed=0) < rcg.representation_fd(a, b)


def test_reference_fd_compares_disjoint_subsets():
    a = torch.randn(300, 6, generator=torch.Generator().manual_seed(1))
    held, rest = rcg.disjoint_split(a, 100, seed=2)
    assert held.shape == (100, 6) and rest.shape == (200, 6)
    rows = {tuple(r.tolist()) for r in held}
    assert rows.isdisjoint(tuple(r.tolist()) for r in rest)  # no row on both sides
    assert torch.equal(torch.cat([held, rest]).sort(0).values, a.sort(0).values)  # together: every row once
    assert rcg.reference_fd(a, 100, seed=2) == rcg.representation_fd(held, rest)
    assert rcg.reference_fd(a, 100, seed=2) > rcg.representation_fd(held, a)  # a set inside the other looks closer
    with pytest.raises(ValueError, match=r"n must be in \[2, 150\].*300 representations.*got 151"):
        rcg.reference_fd(a, 151, seed=0)


# --- the RDM ---

def test_schedule_endpoints():
    b = rcg.scaled_linear_betas()
    assert len(b) == TIMESTEPS == 1000
    assert float(b[0]) == pytest.approx(0.0015, rel=1e-12) and float(b[-1]) == pytest.approx(0.0195, rel=1e-12)
    assert torch.allclose(b.sqrt().diff().diff(), torch.zeros(998, dtype=torch.float64), atol=1e-15)  # sqrt linear
    ab = rcg.RepresentationDiffusion(4, 16, 1).alphas_cumprod
    assert torch.allclose(ab, torch.tensor(np.cumprod(1 - b.numpy())))


def test_zero_init_heads_predict_exactly_zero():
    rdm = rcg.RepresentationDiffusion(8, 32, 3)
    g = torch.Generator().manual_seed(0)
    z, t = torch.randn(6, 8, generator=g), torch.randint(0, TIMESTEPS, (6,), generator=g)
    assert torch.equal(rdm.net(z, t), torch.zeros(6, 8)) and torch.equal(rdm.ema(z, t), torch.zeros(6, 8))
    block, x, emb = ResBlock(32), torch.randn(6, 32, generator=g), torch.randn(6, 32, generator=g)
    assert torch.equal(block(x, emb), x)  # each residual block starts as the identity
    _randomise(block, 1)
    assert not torch.equal(block(x, emb), x)


def _random_rdm(seed: int = 0) -> rcg.RepresentationDiffusion:
    rdm = rcg.RepresentationDiffusion(6, 24, 2)
    _randomise(rdm.net, seed)
    rdm.ema.load_state_dict(rdm.net.state_dict())
    return rdm.eval()


def _noise(n: int, dim: int, seed: int) -> torch.Tensor:
    return L.sample((L.Chunk("x", dim, 0),), n, seed=seed, truncation=None, stream=L.NOISE)[0]


def test_ddim_one_step_is_one_x0_prediction_from_noise():
    rdm = _random_rdm()
    x = _noise(5, 6, seed=7)
    one = rdm.sample(5, seed=7, steps=1)
    assert torch.equal(one, rdm.ema(x, torch.full((5,), TIMESTEPS - 1)))
    assert not torch.allclose(one, rdm.sample(5, seed=7, steps=2))


def test_ddim_matches_a_reference_written_in_the_eps_form():
    """Three DDIM (eta = 0) steps at t = 999, 500, 0, the update written as RCG's code does:
    eps from the x0 prediction, then x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev) eps."""
    rdm = _random_rdm(1)
    ab = rdm.alphas_cumprod.tolist()
    x = _noise(4, 6, seed=2).double()
    for t, t_prev in [(999, 500), (500, 0)]:
        x0 = rdm.ema(x.float(), torch.full((4,), t)).double()
        eps = (x / math.sqrt(ab[t]) - x0) / math.sqrt(1 / ab[t] - 1)
        x = math.sqrt(ab[t_prev]) * x0 + math.sqrt(1 - ab[t_prev]) * eps
    ref = rdm.ema(x.float(), torch.zeros(4, dtype=torch.long))
    assert torch.allclose(rdm.sample(4, seed=2, steps=3), ref, atol=1e-4)


def test_rdm_sampling_is_addressable_and_uses_the_ema_weights():
    rdm = _random_rdm(2)
    eight = rdm.sample(8, seed=5, steps=4)
    assert torch.allclose(eight[:4], rdm.sample(4, seed=5, steps=4), atol=1e-6)
    assert torch.allclose(eight[4:], rdm.sample(4, seed=5, steps=4, start=4), atol=1e-6)
    assert torch.allclose(eight, rdm.sample(8, seed=5, steps=4, batch_size=3), atol=1e-6)
    assert not torch.allclose(eight, rdm.sample(8, seed=6, steps=4))
    _randomise(rdm.net, 99)  # the trained weights change, the EMA does not: samples stay
    assert torch.equal(eight, rdm.sample(8, seed=5, steps=4))
    _randomise(rdm.ema, 99)
    assert not torch.allclose(eight, rdm.sample(8, seed=5, steps=4))


def _mixture(n: int = 512, seed: int = 0) -> torch.Tensor:
    """A 2-D mixture of 4 Gaussians embedded linearly in 8 dimensions."""
    fixed, g = torch.Generator().manual_seed(0), torch.Generator().manual_seed(seed)
    embed = torch.linalg.qr(torch.randn(8, 8, generator=fixed))[0][:, :2]  # (8, 2) orthonormal columns
    offset = torch.randn(8, generator=fixed)  # so that standardisation has work to do
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    x = centres[torch.randint(0, 4, (n,), generator=g)] + 0.2 * torch.randn(n, 2, generator=g)
    return x @ embed.T + offset


def _heldout_loss(rdm: rcg.RepresentationDiffusion, z0: torch.Tensor) -> float:
    g = torch.Generator().manual_seed(123)
    t, eps = torch.randint(0, TIMESTEPS, (len(z0),), generator=g), torch.randn(z0.shape, generator=g)
    with torch.no_grad():
        return float(rcg.diffusion_loss(rdm.ema, z0, t, eps, rdm.alphas_cumprod))


TINY_RDM = {"dim": 8, "width": 32, "blocks": 2, "lr": 2e-3, "batch": 64, "ema": 0.9, "ckpt_every": 100}


def test_rdm_loss_falls_on_a_mixture_of_gaussians():
    reps = _mixture()
    z0 = rcg.standardize(_mixture(256, seed=1))
    rdm, rec = rcg.train_rdm(reps, rcg.RDMConfig(steps=300, **TINY_RDM))
    init = _heldout_loss(rcg.RepresentationDiffusion(8, 32, 2), z0)
    assert init == pytest.approx(7 / 8, rel=1e-5)  # predicting 0: mean z0^2 = (d - 1) / d
    assert _heldout_loss(rdm, z0) < 0.6 * init
    assert np.mean([r["loss"] for r in rec[-5:]]) < np.mean([r["loss"] for r in rec[:3]])
    samples = rdm.sample(256, seed=0, steps=20)  # and DDIM samples land near the data
    assert rcg.representation_fd(samples, z0) < 0.1 * rcg.representation_fd(rcg.sphere_prior(256, 8, seed=0), z0)


def test_train_rdm_resumes_bit_identically_and_refuses_another_run(tmp_path):
    reps = rcg.standardize(_mixture(64))
    cfg = rcg.RDMConfig(steps=8, **{**TINY_RDM, "batch": 16, "ckpt_every": 3})
    full, _ = rcg.train_rdm(IndexedBatches(reps, batch=16, seed=0), cfg, tmp_path / "full")

    class Dies(IndexedBatches):
        def batch_at(self, step):
            if step == 4:
                raise Killed
            return super().batch_at(step)

    with pytest.raises(Killed):
        rcg.train_rdm(Dies(reps, batch=16, seed=0), cfg, tmp_path / "part")
    resumed, rec = rcg.train_rdm(IndexedBatches(reps, batch=16, seed=0), cfg, tmp_path / "part")
    assert [r["step"] for r in rec] == [7]  # it resumed from the checkpoint at step 3 (not from 0)
    assert read_log(tmp_path / "part" / "log.jsonl") == read_log(tmp_path / "full" / "log.jsonl")
    for (n, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n
    with pytest.raises(checkpoint.CheckpointError, match="belongs to another run"):
        rcg.train_rdm(IndexedBatches(reps, batch=16, seed=0), rcg.RDMConfig(**{**cfg.__dict__, "lr": 1e-3}),
                      tmp_path / "part")
    with pytest.raises(checkpoint.CheckpointError, match="belongs to another run"):  # other data
        rcg.train_rdm(IndexedBatches(reps.flip(0), batch=16, seed=0), cfg, tmp_path / "part")


def test_save_and_load_rdm(tmp_path):
    rdm = _random_rdm(3)
    rcg.save_rdm(tmp_path / "rdm.pt", rdm, meta={"note": "test"})
    back = rcg.load_rdm(tmp_path / "rdm.pt")
    assert back.meta == {"note": "test"} and back.config() == rdm.config()
    assert torch.equal(back.sample(3, seed=0, steps=2), rdm.sample(3, seed=0, steps=2))
    with pytest.raises(checkpoint.CheckpointError, match="kind 'generator'"):
        checkpoint.load(tmp_path / "rdm.pt", kind="generator")



def test_sampler_only_rdm_file_samples_as_the_full_model(tmp_path):
    rdm = _random_rdm(4)
    full, small, half = tmp_path / "full.pt", tmp_path / "sampler.pt", tmp_path / "half.pt"
    rcg.save_rdm(full, rdm, meta={})
    rcg.save_rdm(small, rdm, meta={}, sampler_only=True)
    rcg.save_rdm(half, rdm, meta={}, sampler_only=True, dtype=torch.float16)
    keys = torch.load(small, weights_only=True)["state_dict"].keys()
    assert keys and not any(k.startswith("net.") for k in keys)  # the trained net is not stored
    assert half.stat().st_size < small.stat().st_size < full.stat().st_size
    ref = rdm.sample(6, seed=1, steps=3)
    back = rcg.load_rdm(small)
    assert torch.equal(back.sample(6, seed=1, steps=3), ref)
    assert all(torch.equal(a, b) for a, b in zip(back.net.parameters(), back.ema.parameters()))
    h = rcg.load_rdm(half)
    assert next(h.ema.parameters()).dtype == torch.float32
    assert (h.sample(6, seed=1, steps=3) - ref).abs().max() < 5e-2
    with pytest.raises(ValueError, match="sampler_only"):
        rcg.save_rdm(tmp_path / "x.pt", rdm, dtype=torch.float16)


# --- the representation-conditioned generator ---

def _rep_gen(seed: int = 0) -> rcg.RepConditionedGenerator:
    torch.manual_seed(seed)
    G = rcg.RepConditionedGenerator(ch=4, chunk_dim=6, rep_dim=5)
    with torch.no_grad():
        G.train()
        G(G.sample_latents(16, seed=0), torch.randn(16, 5))  # non-trivial running statistics
    _randomise(G.rep_proj, seed + 1)
    return G.eval()


def test_zero_init_projection_is_the_unconditional_biggan():
    torch.manual_seed(0)
    base = BigGANGenerator(ch=4, chunk_dim=6).eval()
    G = rcg.RepConditionedGenerator(ch=4, chunk_dim=6, rep_dim=5)
    G.load_state_dict(base.state_dict(), strict=False)
    z, rep = G.sample_latents(3, seed=1), torch.randn(3, 5)
    # the same function; bit equality is not promised (z + 0 reaches other kernels: 1 ulp on AMD oneDNN)
    torch.testing.assert_close(G.generate(z, rep), base.generate(z), rtol=0, atol=1e-6)
    torch.testing.assert_close(G.generate(z), base.generate(z), rtol=0, atol=1e-6)


def test_guidance_zero_is_conditional_and_no_rep_is_the_null_path():
    G = _rep_gen()
    z, rep = G.sample_latents(4, seed=2), rcg.standardize(torch.randn(4, 5))
    with torch.no_grad():
        cond, uncond = G(z, rep), G(z, G.null.expand(4, -1))
        a_c, a_u = G.activation(z, rep), G.activation(z, G.null.expand(4, -1))
    assert not torch.allclose(cond, uncond)  # the representation matters
    assert torch.equal(G.generate(z, rep, guidance=0.0), cond)
    assert torch.equal(G.generate(z, rep, guidance=0.0, guide="output"), cond)
    assert torch.equal(G.generate(z, None, guidance=3.0), uncond)
    out_x = G.generate(z, rep, guidance=2.0, guide="output")  # the output extrapolation, named so
    assert torch.allclose(out_x, torch.tanh(3 * a_c - 2 * a_u), atol=1e-6)
    assert not torch.allclose(out_x, cond) and out_x.abs().max() <= 1
    assert torch.allclose(G.generate(z, rep, guidance=2.0, batch_size=3, guide="output"), out_x, atol=1e-6)
    with pytest.raises(ValueError, match=r"guide must be one of \('condition', 'output'\), got 'logits'"):
        G.generate(z, rep, guidance=1.0, guide="logits")


def test_guidance_acts_on_the_conditioning_not_the_output():
    G = _rep_gen().eval()  # its projection randomised (_randomise), as a trained one is not zero
    z, rep = G.sample_latents(4, seed=2), rcg.standardize(torch.randn(4, 5))
    w = 2.0
    guided = G.generate(z, rep, guidance=w)  # default: guidance on the conditioning
    # the embedding is linear in rep: guiding it is conditioning on null + (1 + w) (rep - null), in one pass
    with torch.no_grad():
        extrapolated_rep = G.null + (1 + w) * (rep - G.null)
        c = G.rep_proj(rep)
        c_null = G.rep_proj(G.null.expand(4, -1))
        by_hand = [t + ck for t, ck in zip(z, (c_null + (1 + w) * (c - c_null)).split(G.chunk_dim, dim=1))]
        want = torch.tanh(G.out_conv(torch.relu(G.out_bn(G.prefix(by_hand, len(G.chunks))))))
    torch.testing.assert_close(guided, want, rtol=0, atol=1e-5)
    torch.testing.assert_close(guided, G.generate(z, extrapolated_rep), rtol=0, atol=1e-5)
    assert not torch.allclose(guided, G.generate(z, rep, guidance=w, guide="output"), atol=1e-3)
    assert not torch.allclose(guided, G.generate(z, rep), atol=1e-3) and guided.abs().max() <= 1
    torch.testing.assert_close(G.generate(z, rep, guidance=w, batch_size=3), guided, rtol=0, atol=1e-6)


def test_with_null_replaces_only_the_dropped_rows():
    G = _rep_gen()
    rep, drop = torch.randn(4, 5), torch.tensor([True, False, False, True])
    out = G.with_null(rep, drop)
    assert torch.equal(out[1:3], rep[1:3]) and torch.equal(out[0], G.null) and torch.equal(out[3], G.null)
    assert G.with_null(rep, None) is rep


def test_projection_discriminator_zero_rep_is_unconditional():
    torch.manual_seed(0)
    D = rcg.RepDiscriminator(ch=4, rep_dim=5).eval()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    assert torch.equal(D(x, torch.zeros(3, 5)), D(x))
    assert not torch.allclose(D(x, torch.randn(3, 5)), D(x))


TINY_GAN = {"rep_dim": 5, "steps": 4, "batch": 4, "g_ch": 4, "d_ch": 4, "chunk_dim": 6, "ema_start": 1,
            "stat_batches": 1, "ckpt_every": 2, "p_uncond": 0.5}


def _pairs():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 1, 32, 32), generator=g, dtype=torch.uint8)
    return images.float().div(127.5).sub(1.0), rcg.standardize(torch.randn(16, 5, generator=g))


def test_train_rep_gan_resumes_bit_identically(tmp_path):
    cfg = rcg.RepGANConfig(**TINY_GAN)
    full, rec = rcg.train_rep_gan(IndexedBatches(*_pairs(), batch=4, seed=0), cfg, tmp_path / "full")
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in rec)

    class Dies(IndexedBatches):
        def batch_at(self, step):
            if step == 3:
                raise Killed
            return super().batch_at(step)

    with pytest.raises(Killed):
        rcg.train_rep_gan(Dies(*_pairs(), batch=4, seed=0), cfg, tmp_path / "part")
    resumed, _ = rcg.train_rep_gan(IndexedBatches(*_pairs(), batch=4, seed=0), cfg, tmp_path / "part")
    for (n, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n
    rcg.save_rep_generator(tmp_path / "g.pt", resumed)
    back = rcg.load_rep_generator(tmp_path / "g.pt")
    z, rep = back.sample_latents(2, seed=0), _pairs()[1][:2]
    assert torch.equal(back.generate(z, rep, guidance=1.0), resumed.generate(z, rep, guidance=1.0))


def test_train_rep_gan_from_an_unconditional_init():
    torch.manual_seed(0)
    base = BigGANGenerator(ch=4, chunk_dim=6)
    G, _ = rcg.train_rep_gan(_pairs(), rcg.RepGANConfig(**{**TINY_GAN, "steps": 1}), init=base)
    assert G.run_meta["init"]["config"] == base.config()
    with pytest.raises(ValueError, match="does not match"):
        rcg.train_rep_gan(_pairs(), rcg.RepGANConfig(**{**TINY_GAN, "steps": 1}), init=BigGANGenerator(ch=8))


def test_train_rep_gan_unconditional_never_sees_a_representation():
    images, reps = _pairs()
    other = rcg.standardize(torch.randn(16, 5, generator=torch.Generator().manual_seed(9)))
    cfg = rcg.RepGANConfig(**{**TINY_GAN, "steps": 1})
    a, _ = rcg.train_rep_gan((images, reps), cfg, unconditional=True)
    b, _ = rcg.train_rep_gan((images, other), cfg, unconditional=True)
    assert a.run_meta["unconditional"] is True
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # the representations changed, the generator did not


# --- the contrastive-softmax posterior ---

def _naive_rate_and_mi(emb, dictionary, T):
    """The bits, computed row by row with numpy (another implementation)."""
    e, r = emb.double().numpy(), dictionary.double().numpy()
    e, r = e / np.linalg.norm(e, axis=1, keepdims=True), r / np.linalg.norm(r, axis=1, keepdims=True)
    rows = []
    for x in e:
        s = (r @ x) / T
        p = np.exp(s - s.max())
        rows.append(p / p.sum())
    q = np.array(rows)

    def h(p):
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    mean_h = np.mean([h(p) for p in q])
    return math.log2(len(r)) - mean_h, h(q.mean(0)) - mean_h


@pytest.mark.parametrize("k", [1, 2, 7, 64])
@pytest.mark.parametrize("temperature", [1e-3, 0.05, 1.0, 100.0])
def test_rate_bounded_by_log_k_and_mi_by_rate(k, temperature):
    for trial in range(5):
        g = torch.Generator().manual_seed(1000 * k + trial)
        d, n = [3, 16][trial % 2], [40, 40, 1, 40, 7][trial]
        emb, dictionary = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
        logq = rcg.log_selection_probs(emb, dictionary, temperature)
        assert torch.allclose(logq.exp().sum(1), torch.ones(n, dtype=torch.float64))
        rate, mi = rcg.rate_bits(logq), rcg.plugin_mi_bits(logq)
        assert 0.0 <= mi <= rate + 1e-9 <= math.log2(k) + 2e-9
        assert mi <= math.log2(n) + 1e-9
        ref_rate, ref_mi = _naive_rate_and_mi(emb, dictionary, temperature)
        assert rate == pytest.approx(ref_rate, abs=1e-6) and mi == pytest.approx(max(ref_mi, 0.0), abs=1e-6)


def test_temperature_limits():
    g = torch.Generator().manual_seed(0)
    emb, dictionary = torch.randn(200, 8, generator=g), torch.randn(32, 8, generator=g)
    cos = torch.nn.functional.normalize(emb.double(), dim=1) @ torch.nn.functional.normalize(dictionary.double(), dim=1).T
    top2 = cos.topk(2, dim=1).values
    gap = float((top2[:, 0] - top2[:, 1]).min())  # > 0: each x has a unique nearest r
    assert gap > 0
    rates = [rcg.rate_bits(rcg.log_selection_probs(emb, dictionary, gap / c)) for c in (1, 5, 50)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(5.0, abs=1e-9)  # T -> 0: rate -> log2 K
    cold = rcg.log_selection_probs(emb, dictionary, gap / 50)
    nearest = cos.argmax(1)
    freq = torch.bincount(nearest, minlength=32).double() / 200
    h_nearest = float(-(freq[freq > 0] * freq[freq > 0].log2()).sum())
    assert rcg.plugin_mi_bits(cold) == pytest.approx(h_nearest, abs=1e-6)
    hot = rcg.log_selection_probs(emb, dictionary, 1e6)
    assert rcg.rate_bits(hot) == pytest.approx(0.0, abs=1e-9) and rcg.plugin_mi_bits(hot) == pytest.approx(0, abs=1e-9)
    assert rcg.rate_bits(rcg.log_selection_probs(emb, dictionary, 0.01)) > rcg.rate_bits(
        rcg.log_selection_probs(emb, dictionary, 0.5))


def test_selection_sampling_is_seeded_addressable_and_follows_q():
    g = torch.Generator().manual_seed(0)
    emb, dictionary = torch.randn(8, 6, generator=g), torch.randn(5, 6, generator=g)
    i8, r8 = rcg.select(emb, dictionary, 0.2, seed=3)
    i4, _ = rcg.select(emb[:4], dictionary, 0.2, seed=3)
    assert torch.equal(i8[:4], i4) and torch.equal(r8, dictionary[i8])
    assert torch.equal(i8[4:], rcg.select(emb[4:], dictionary, 0.2, seed=3, start=4)[0])
    logq = rcg.log_selection_probs(emb[:1].expand(6000, -1), dictionary, 0.3)  # one x, many draws
    freq = torch.bincount(rcg.sample_selection(logq, seed=1), minlength=5).double() / 6000
    assert torch.allclose(freq, logq[0].exp(), atol=0.025)
    cold = rcg.log_selection_probs(emb, dictionary, 1e-6)
    assert torch.equal(rcg.sample_selection(cold, seed=0), cold.argmax(1))
