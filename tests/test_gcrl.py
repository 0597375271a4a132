"""GCRL: the causal head, the loss at alpha = 0, a brief generative fit, sampling, resume."""

import math

import pytest
import torch
import torch.nn.functional as F

from hlwb import data, ssl, views
from hlwb.encoders import ResNetTrunk
from hlwb.latents import row_seed
from hlwb.pretrain import PretrainConfig, build_method, pretrain
from hlwb.ssl.losses import pixel_nll
from hlwb.ssl.pixelcnn import PixelCNNHead, dequantize, quantize


def _head(seed: int = 0, **kw) -> PixelCNNHead:
    torch.manual_seed(seed)
    return PixelCNNHead(cond_dim=6, bins=16, width=8, layers=3, **{"size": 12, **kw})


def test_the_whole_head_is_causal_in_raster_order():
    head, g = _head(), torch.Generator().manual_seed(1)
    q = torch.randint(0, 16, (2, 1, 12, 12), generator=g)
    c = torch.randn(2, 6, generator=g)
    base = head(dequantize(q, 16), c)  # (2, 16, 12, 12)
    for j in range(0, 144, 7):  # perturb pixel j: the distributions of pixels 0..j must not move
        r, col = divmod(j, 12)
        q2 = q.clone()
        q2[:, 0, r, col] = (q2[:, 0, r, col] + 7) % 16
        diff = (head(dequantize(q2, 16), c) - base).abs().amax(1).flatten(1)  # (2, 144) per pixel
        assert torch.all(diff[:, :j + 1] == 0), j
        if j < 143:
            assert diff[:, j + 1:].max() > 0, j  # and later pixels do see it (the check is not vacuous)
    # the same by gradients, in train mode: d logits_i / d x_j = 0 for every j >= i
    x = dequantize(q, 16).requires_grad_()
    logits = head.train()(x, c)
    for i in (0, 5, 40, 77, 143):
        (gx,) = torch.autograd.grad(logits[:, :, i // 12, i % 12].sum(), x, retain_graph=True)
        assert torch.all(gx.flatten(1)[:, i:] == 0), i
        assert i == 0 or gx.flatten(1)[:, :i].abs().sum() > 0


def test_pixel_nll_matches_a_naive_sum_and_quantisation_round_trips():
    g = torch.Generator().manual_seed(0)
    logits, q = torch.randn(2, 4, 3, 3, generator=g), torch.randint(0, 4, (2, 1, 3, 3), generator=g)
    naive = torch.tensor([-sum(math.log(F.softmax(logits[n, :, r, c], 0)[q[n, 0, r, c]].item())
                               for r in range(3) for c in range(3)) for n in range(2)])
    torch.testing.assert_close(pixel_nll(logits, q), naive.float())
    x = torch.linspace(-1, 1, 33).view(1, 1, 3, 11)
    qq = quantize(x, 16)
    assert qq.min() == 0 and qq.max() == 15 and torch.equal(quantize(dequantize(qq, 16), 16), qq)
    assert (dequantize(qq, 16) - x).abs().max() <= 1 / 16 + 1e-6  # within half a bin of width 2/16


def _pair(seed: int = 0, n: int = 16):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
    return x, torch.roll(x, 1, dims=3) + 0.1 * torch.randn(x.shape, generator=g)


def test_alpha_zero_is_exactly_simclr_and_identical_views_are_refused():
    torch.manual_seed(0)
    simclr = ssl.build("simclr", ResNetTrunk(4, (1, 1)))
    gcrl = ssl.build("gcrl", ResNetTrunk(4, (1, 1)), alpha=0.0, beta=1.0)
    gcrl.load_state_dict({**gcrl.state_dict(), **simclr.state_dict()})  # the same trunk and projector
    x1, x2 = _pair()
    a, logs = simclr(x1, x2)
    b, glogs = gcrl(x1, x2)
    assert torch.equal(a, b) and "bits_per_dim" not in glogs
    assert all(torch.equal(t, gcrl.state_dict()[n]) for n, t in simclr.state_dict().items())  # BN stats too
    full = ssl.build("gcrl", ResNetTrunk(4, (1, 1)))
    _, logs = full(x1, x2)
    assert logs["loss"] == pytest.approx(logs["l_con"] + logs["l_gen"], rel=1e-6)
    assert logs["bits_per_dim"] == pytest.approx(logs["l_gen"] / math.log(2)) and logs["uniform_bits_per_dim"] == 4
    with pytest.raises(ValueError, match="identical views"):
        full(x1, x1.clone())
    with pytest.raises(ValueError, match="not both 0"):
        ssl.build("gcrl", ResNetTrunk(4, (1,)), alpha=0.0, beta=0.0)


def test_the_generative_head_reads_the_other_view_only():
    """The conditioning is trunk(x2): changing x1 changes no conditioning bias, changing x2 does."""
    torch.manual_seed(0)
    m = ssl.build("gcrl", ResNetTrunk(4, (1, 1)), beta=0.0, head_width=8, head_layers=2).eval()
    x1, x2 = _pair()
    seen = []
    m.head.cond.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].clone()))
    m(x1, x2)
    m(-x1, x2)
    m(x1, -x2)
    assert torch.equal(seen[0], seen[1]) and not torch.equal(seen[0], seen[2])


def _fashion16(n: int):
    """n Fashion-MNIST train images, 2x area-downsampled to 16x16 (the whole garment)."""
    return F.avg_pool2d(data.fashion_mnist("train").float_images()[:n], 2)


def test_a_brief_generative_fit_beats_the_uniform_bits_per_dim():
    torch.manual_seed(0)
    m = ssl.build("gcrl", ResNetTrunk(4, (1, 1), size=16), alpha=1.0, beta=0.0, bins=16, head_width=16,
                  head_layers=3)
    imgs = _fashion16(2048)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        x = imgs[torch.randint(len(imgs), (32,), generator=g)]
        loss, _ = m(x, torch.roll(x.flip(3), 1, dims=2))  # x2: another view (flipped, shifted)
        opt.zero_grad()
        loss.backward()
        opt.step()
    held = F.avg_pool2d(data.fashion_mnist("test").float_images()[:256], 2)
    bpd = -m.log_likelihood(held, held.flip(3)).mean().item() / (16 * 16 * math.log(2))
    print(f"held-out bits/dim after 200 steps: {bpd:.3f} (uniform {math.log2(16):.0f})")
    assert bpd < 0.5 * math.log2(16)  # measured 1.35


def test_sampling_is_seeded_addressable_and_follows_the_head():
    torch.manual_seed(0)
    m = ssl.build("gcrl", ResNetTrunk(4, (1, 1)), head_width=8, head_layers=2)
    ctx = _pair(n=3)[0]
    s = m.sample(ctx, seed=5, size=32)
    assert s.shape == (3, 1, 32, 32) and s.min() >= -1 and s.max() <= 1
    assert torch.equal(s, m.sample(ctx, seed=5))
    assert torch.equal(s[2:], m.sample(ctx[2:], seed=5, first=2))  # image 2 alone, by its address
    assert not torch.equal(s, m.sample(ctx, seed=6))
    # teacher forcing on the sample gives back every draw: the banded passes equal the full head
    torch.manual_seed(0)
    m = ssl.build("gcrl", ResNetTrunk(4, (1, 1), size=12), head_width=8, head_layers=2)
    ctx = ctx[:1, :, :12, :12]
    q = m.head.sample(m.condition(ctx), seed=1)  # (1, 1, 12, 12): the spec's size
    assert q.shape == (1, 1, 12, 12)
    logits = m.head(dequantize(q, 16), m.condition(ctx))[0].flatten(1).t()  # (144, bins)
    u = torch.rand(144, generator=torch.Generator().manual_seed(row_seed(1, 0)))
    again = (u[:, None] > F.softmax(logits, 1).cumsum(1)).sum(1).clamp(max=15)
    assert torch.equal(again, q.flatten())


TINY = {"steps": 6, "batch": 16, "width": 4, "blocks": "1,1", "warmup": 2, "ckpt_every": 3, "knn_every": 0}


def _source():
    return views.RealViews(data.fashion_mnist("test").float_images()[:256], batch=16, preset="simclr", seed=0)


def test_pretrain_gcrl_resumes_bit_identically(tmp_path):
    cfg = PretrainConfig(method="gcrl", gcrl_alpha=0.5, gcrl_beta=2.0, **TINY)
    m = build_method(cfg)
    assert (m.alpha, m.beta) == (0.5, 2.0)
    full, rec = pretrain(_source(), cfg, tmp_path / "full")
    assert all(math.isfinite(r["loss"]) and "bits_per_dim" in r for r in rec)

    class Killed(RuntimeError):
        pass

    class Dies(views.RealViews):
        def batch_at(self, step):
            if step == 3:
                raise Killed
            return super().batch_at(step)

    with pytest.raises(Killed):
        pretrain(Dies(_source().images, batch=16, preset="simclr", seed=0), cfg, tmp_path / "part")
    resumed, _ = pretrain(_source(), cfg, tmp_path / "part")
    for (n, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), n
    # another weighting is another run
    from hlwb.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="gcrl_beta"):
        pretrain(_source(), PretrainConfig(method="gcrl", gcrl_alpha=0.5, gcrl_beta=1.0, **TINY), tmp_path / "part")


def test_other_methods_store_no_gcrl_settings():
    from hlwb.pretrain import config_dict
    from hlwb.ranges import ConfigError

    assert not any(k.startswith("gcrl") for k in config_dict(PretrainConfig(method="simclr")))
    assert config_dict(PretrainConfig(method="gcrl"))["gcrl_alpha"] == 1.0
    with pytest.raises(ConfigError, match="gcrl_beta"):
        PretrainConfig(method="gcrl", gcrl_alpha=0.0, gcrl_beta=0.0)
    with pytest.raises(ConfigError, match="gcrl_alpha"):
        PretrainConfig(method="gcrl", gcrl_alpha=-1.0)


def test_a_gcrl_method_file_round_trips_with_its_head(tmp_path):
    """The whole method (head included: OOD likelihoods and samples need it) reloads to the
    same log-likelihoods; a damaged config is refused naming the file."""
    from hlwb import checkpoint
    from hlwb.pretrain import PretrainConfig, build_method
    from hlwb.ssl.gcrl import load_gcrl, save_gcrl

    m = build_method(PretrainConfig(method="gcrl", width=4, blocks="1,1", gcrl_alpha=1.0, gcrl_beta=0.5)).eval()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    save_gcrl(tmp_path / "g.pt", m, meta={"arm": "real"})
    back = load_gcrl(tmp_path / "g.pt", device="cpu")
    assert back.meta == {"arm": "real"} and back.alpha == 1.0 and back.beta == 0.5
    assert torch.equal(back.log_likelihood(x), m.log_likelihood(x))
    state = checkpoint.load(tmp_path / "g.pt", kind="gcrl")
    state["config"]["head_layers"] = 10**9
    checkpoint.save(tmp_path / "bad.pt", state, kind="gcrl")
    with pytest.raises(checkpoint.CheckpointError, match="bad.pt"):
        load_gcrl(tmp_path / "bad.pt")


def _shifts_and_flips(x: torch.Tensor, shift: int) -> torch.Tensor:
    """Every weak view of one image x (C, S, S): (2 (2 shift + 1)^2, C, S, S), by naive slicing."""
    out = []
    for img in (x, x.flip(-1)):
        pad = torch.full((x.shape[0], x.shape[1] + 2 * shift, x.shape[2] + 2 * shift), -1.0)
        pad[:, shift:shift + x.shape[1], shift:shift + x.shape[2]] = img
        out += [pad[:, dy:dy + x.shape[1], dx:dx + x.shape[2]] for dy in range(2 * shift + 1)
                for dx in range(2 * shift + 1)]
    return torch.stack(out)


@pytest.mark.parametrize("channels", [1, 3])
def test_weak_strong_views_model_a_flip_and_small_shift_of_the_clean_image(channels):
    from hlwb.ssl.gcrl import STRONG, WeakStrongViews

    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(40, channels, 16, 16, generator=g) * 2 - 1
    src = views.RealViews(imgs, batch=8, preset="simclr", seed=3)
    src.spec = {"strategy": "real"}
    aug = src.aug
    w = WeakStrongViews(src)
    assert w.shift == 1 and src.aug is aug  # 16 px: 1 px; the source itself is untouched
    assert w.spec["strategy"] == "real" and w.spec["gcrl_views"]["weak_shift_px"] == 1
    x1, x2 = w.batch_at(2)
    clean, _ = views.RealViews(imgs, batch=8, preset="none", seed=3).batch_at(2)  # the un-augmented images
    for a, x in zip(x1, clean):  # x1: one of the 18 flips / shifts of its clean image, exactly
        assert (_shifts_and_flips(x, 1) == a).flatten(1).all(1).any()
    assert not all(torch.equal(a, x) for a, x in zip(x1, clean))
    with torch.random.fork_rng():  # x2: the source's own (strong) T_x of the same images, seeded per step
        torch.manual_seed(row_seed(3, 2, STRONG))
        torch.testing.assert_close(x2, aug(clean))
    a1, a2 = w.batch_at(2)
    assert torch.equal(a1, x1) and torch.equal(a2, x2) and not torch.equal(w.batch_at(3)[0], x1)
    with pytest.raises(ValueError, match="identity"):
        WeakStrongViews(views.RealViews(imgs, batch=8, preset="none")).batch_at(0)
    with pytest.raises(ValueError, match="shift"):
        WeakStrongViews(src, shift=8)


def test_a_gcrl_run_gets_weak_strong_views_and_simclr_its_own(monkeypatch):
    from hlwb import pretrain
    from hlwb.config import PretrainParams
    from hlwb.ssl.gcrl import WeakStrongViews

    def small(strategy, batch, **kw):  # make_source's real views of a few images (loading all of train is slow)
        src = views.RealViews(data.fashion_mnist("test").float_images()[:32], batch, preset="simclr", seed=kw["seed"])
        src.spec = {"strategy": strategy, "preset": "simclr"}
        return src

    monkeypatch.setattr(pretrain, "make_source", small)
    src = pretrain.run_source(PretrainParams(method="gcrl", strategy="real", batch=4, precision="fp32"), "cpu")
    assert isinstance(src, WeakStrongViews) and src.spec["preset"] == "simclr" and "gcrl_views" in src.spec
    assert src.batch_at(0)[0].shape == (4, 1, 32, 32)
    plain = pretrain.run_source(PretrainParams(method="simclr", strategy="real", batch=4, precision="fp32"), "cpu")
    assert isinstance(plain, views.RealViews) and "gcrl_views" not in plain.spec


def test_bits_per_dim_in_8bit_units_add_log2_of_the_levels_per_bin():
    """A uniform head scores log2(bins) per value: 16 bins: 4, in 8-bit units 4 + 4 = 8 = log2 256; 8
    bins: 3 + 5. With 3 bins (85, 85, 86 uint8 levels) an image in the top bin costs log2 3 + log2 86."""
    from hlwb.ssl.pixelcnn import dequantization_bits, levels_per_bin

    assert levels_per_bin(16).tolist() == [16] * 16 and levels_per_bin(3).tolist() == [85, 85, 86]
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for bins, want, want8 in ((16, 4.0, 8.0), (8, 3.0, 8.0)):
        m = ssl.build("gcrl", ResNetTrunk(4, (1, 1)), bins=bins, head_width=8, head_layers=1)
        last = m.head.out[-1]
        torch.nn.init.zeros_(last.weight)  # logits 0: the uniform model
        torch.nn.init.zeros_(last.bias)
        _, logs = m(x, x.flip(3))
        assert logs["bits_per_dim"] == pytest.approx(want) and logs["bits_per_dim_8bit"] == pytest.approx(want8)
    top = torch.ones(2, 1, 4, 4)
    assert dequantization_bits(quantize(top, 3), 3).tolist() == pytest.approx([16 * math.log2(86)] * 2)


def test_weak_strong_views_of_a_generated_arm_use_its_anchor_and_positive():
    """Generated views: x1 a flip / shift of the anchor g(z), x2 the strong T_x of the positive g(T_z(z))."""
    from hlwb.generators.biggan import BigGANGenerator
    from hlwb.ssl.gcrl import STRONG, WeakStrongViews
    from hlwb.walkers import ChunkNoiseWalker

    torch.manual_seed(0)
    gen = BigGANGenerator(ch=4).eval()
    src = views.GeneratedViews(gen, ChunkNoiseWalker(gen.chunks, [0, 0.5, 0.5, 1.0]), batch=3, preset="no_color",
                               seed=5)
    x1, x2 = WeakStrongViews(src).batch_at(1)
    anchor, positive = src.pair_at(1)
    for a, x in zip(x1, anchor):
        assert (_shifts_and_flips(x, 2) - a).abs().flatten(1).amax(1).min() < 1e-6
    with torch.random.fork_rng():
        torch.manual_seed(row_seed(5, 1, STRONG))
        torch.testing.assert_close(x2, src.aug(positive))
