"""Mixed precision (hlwb.amp): bf16 steps stay finite and close to fp32, losses run in fp32,
bf16 is part of a run's identity, and a bf16 run resumes exactly."""

import math

import pytest
import torch

from hlwb import amp, data, generators, ssl, views
from hlwb.pretrain import PretrainConfig, build_method, config_dict, pretrain
from hlwb.ssl import losses

TINY = {"steps": 6, "batch": 16, "width": 4, "blocks": "1,1", "warmup": 2, "ckpt_every": 3, "knn_every": 6,
        "knn_train": 200, "knn_test": 100, "knn_k": 20}


def _source():
    return views.RealViews(data.fashion_mnist("test").float_images()[:256], batch=16, preset="simclr", seed=0)


def test_precision_is_checked_with_a_clear_message():
    assert amp.check("bf16") == "bf16"
    with pytest.raises(ValueError, match="loss scaling"):
        amp.check("fp16")
    with pytest.raises(ValueError, match="valid: fp32, bf16"):
        PretrainConfig(precision="bfloat")
    with pytest.raises(ValueError, match="unknown precision"):
        views.make_source("real", 8, precision="half")


def test_losses_run_in_fp32_under_autocast():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    ref = losses.nt_xent(z1, z2, 0.2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lo1, lo2 = z1.bfloat16(), z2.bfloat16()
        got = losses.nt_xent(lo1, lo2, 0.2)
        sw = losses.swav_loss(lo1, lo2)
    assert got.dtype == torch.float32 and sw.dtype == torch.float32
    # the only difference is the inputs' rounding to bf16, not a bf16 softmax
    assert got.item() == pytest.approx(losses.nt_xent(lo1.float(), lo2.float(), 0.2).item(), abs=1e-6)
    assert got.item() == pytest.approx(ref.item(), rel=2e-2)


@pytest.mark.parametrize("method", list(ssl.METHODS))
def test_every_method_trains_finite_in_bf16_close_to_fp32(method):
    cfg = PretrainConfig(method=method, width=4, blocks="1,1", batch=16, steps=10, warmup=2, precision="bf16")
    x1, x2 = _source().batch_at(0)
    a, b = build_method(cfg), build_method(cfg)
    amp.prepare(b, "bf16")
    la, _ = a(x1, x2)
    with amp.autocast("bf16"):
        lb, _ = b(amp.inputs(x1, "bf16"), amp.inputs(x2, "bf16"))
    assert lb.dtype == torch.float32 and math.isfinite(lb.item())
    assert lb.item() == pytest.approx(la.item(), rel=5e-2, abs=5e-2), (la.item(), lb.item())
    opt = torch.optim.SGD(b.parameters(), lr=0.05, momentum=0.9)
    for i in range(4):
        with amp.autocast("bf16"):
            loss, _ = b(amp.inputs(x1, "bf16"), amp.inputs(x2, "bf16"))
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in b.parameters())
        opt.step()
        b.after_step((i + 1) / 10)
        assert math.isfinite(loss.item())
    assert all(p.dtype == torch.float32 for p in b.parameters())  # master weights stay fp32


def test_bf16_is_part_of_the_run(tmp_path):
    """(Its exact resume: tests/test_pretrain.py::test_pretrain_runs_monitors_and_resumes_identically.)"""
    from hlwb.checkpoint import CheckpointError

    cfg = PretrainConfig(method="simclr", precision="bf16", **TINY)
    assert config_dict(cfg)["precision"] == "bf16"
    assert "precision" not in config_dict(PretrainConfig(**TINY))  # fp32 runs: described as before
    _, rec = pretrain(_source(), cfg, tmp_path / "full")
    assert all(math.isfinite(r["loss"]) for r in rec)
    # an fp32 config never resumes a bf16 checkpoint (nor the reverse): the key is named
    with pytest.raises(CheckpointError, match="1 setting\\(s\\) differ — config.precision: checkpoint 'bf16'"):
        pretrain(_source(), PretrainConfig(method="simclr", **TINY), tmp_path / "full")


def test_bf16_views_are_float32_close_to_fp32_and_named_in_the_spec():
    v32 = views.make_source("hl_random", 8, augment="fair", seed=3)
    v16 = views.make_source("hl_random", 8, augment="fair", seed=3, precision="bf16")
    assert "precision" not in v32.spec and v16.spec["precision"] == "bf16"
    a32, p32 = v32.pair_at(2)
    a16, p16 = v16.pair_at(2)
    assert a16.dtype == torch.float32 and a16.shape == a32.shape
    assert (a16 - a32).abs().mean() < 0.03 and (p16 - p32).abs().mean() < 0.03
    assert (a16 - a32).abs().max() > 0  # really another numeric path
    b1, b2 = v16.batch_at(2)
    c1, c2 = v16.batch_at(2)
    assert torch.equal(b1, c1) and torch.equal(b2, c2)  # still addressable by step
    assert generators.load("biggan").device.type == "cpu"


def test_features_give_the_encoder_its_layout_back():
    from hlwb.evaluate import features, random_encoder

    x = data.fashion_mnist("test").float_images()[:64]
    enc = random_encoder(width=4, blocks=(1, 1))
    before = features(enc, x)
    assert all(p.is_contiguous() for p in enc.parameters())  # an fp32 run trains on as before
    amp.prepare(enc, "bf16")
    after = features(enc, x)
    w = [p for p in enc.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in w)
    assert any(not p.is_contiguous() for p in w)
    assert after.dtype == torch.float32 and torch.allclose(before, after, atol=1e-5)


def test_a_bf16_walker_trains_finite_resumes_exactly_and_keeps_fp32_shifts(tmp_path):
    from hlwb import minmax
    from hlwb.generators.biggan import BigGANGenerator

    def gen():
        with torch.random.fork_rng():
            torch.manual_seed(0)
            g = BigGANGenerator(ch=4)
            g.recompute_statistics(seed=0, n_batches=2, batch=32)
            return g

    cfg = minmax.MinMaxConfig(steps=4, batch=8, critic_width=4, walker_hidden=8, lr_walker=1e-2, ckpt_every=2,
                              precision="bf16")
    assert minmax.config_meta(cfg)["precision"] == "bf16"
    assert "precision" not in minmax.config_meta(minmax.MinMaxConfig())  # fp32 runs described as before
    w, c, rec = minmax.train_walker(gen(), [1], cfg, work_dir=tmp_path / "full", device="cpu")
    assert len(rec) == 4 and all(math.isfinite(r["infonce"]) and math.isfinite(r["delta_1"]) for r in rec)
    assert all(p.dtype == torch.float32 for p in (*w.parameters(), *c.parameters()))

    class Killed(RuntimeError):
        pass

    g2 = gen()
    real_sample = g2.sample_latents

    def dies(n, seed=None, **kw):
        if seed == 3:  # step 3 (seed = cfg.seed * 1_000_003 + i), after the checkpoint of step 2
            raise Killed
        return real_sample(n, seed=seed, **kw)

    g2.sample_latents = dies
    with pytest.raises(Killed):
        minmax.train_walker(g2, [1], cfg, work_dir=tmp_path / "part", device="cpu")
    w2, c2, _ = minmax.train_walker(gen(), [1], cfg, work_dir=tmp_path / "part", device="cpu")
    for a, b in zip((*w.state_dict().values(), *c.state_dict().values()),
                    (*w2.state_dict().values(), *c2.state_dict().values())):
        assert torch.equal(a, b)


def test_auto_precision_is_bf16_only_where_it_is_native(monkeypatch):
    monkeypatch.setattr(amp, "native_bf16", lambda device="cpu": False)
    assert amp.resolve("auto") == "fp32"
    monkeypatch.setattr(amp, "native_bf16", lambda device="cpu": True)
    assert amp.resolve("auto") == "bf16" and amp.resolve("fp32") == "fp32"
    with pytest.raises(ValueError, match="unknown precision"):
        amp.resolve("half")


def test_swav_scores_stay_fp32_under_autocast():
    from hlwb.ssl.swav import _scores

    g = torch.Generator().manual_seed(0)
    z1, z2, c = (torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s1, s2 = _scores(z1.bfloat16(), z2, c)
    assert s1.dtype == s2.dtype == torch.float32
    assert torch.equal(s2, z2 @ c.t()) or torch.allclose(s2, z2 @ c.t(), atol=1e-6)


def test_bf16_on_hardware_without_it_is_warned_about(monkeypatch):
    monkeypatch.setattr(amp, "native_bf16", lambda device="cpu": False)
    monkeypatch.setattr(amp, "_WARNED", set())
    with pytest.warns(UserWarning, match="no native bf16: it is emulated"):
        amp.prepare(torch.nn.Conv2d(1, 2, 3), "bf16")
