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
    with pytest.raises(ValueError, match="walkers_dir"):
        V.make_source("hl_learned", batch=4)
    with pytest.raises(KeyError, match="valid: real"):
        V.make_source("hl_magic", batch=4)
    with pytest.raises(KeyError, match="sampling"):
        V.make_source("synth", batch=4, sampling="offline")


def test_decode_chunk_gives_the_same_views(gen):
    w = ChunkNoiseWalker(gen.chunks, [0, 0.5, 0.5, 1.0])
    one = V.GeneratedViews(gen, w, batch=6, preset="none", seed=2).pair_at(3)
    chunked = V.GeneratedViews(gen, w, batch=6, preset="none", seed=2, decode_chunk=4).pair_at(3)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(one, chunked))


def test_learned_strategies_load_the_walkers_of_notebook_03(tmp_path):
    from hlwb import generators as G
    from hlwb.walkers import LearnedWalker, save_learned

    chunks = G.load("biggan").chunks
    with pytest.raises(FileNotFoundError, match="hl/walker.pt"):
        V.make_source("hl_learned", batch=4, walkers_dir=tmp_path)
    w = LearnedWalker(chunks, [1, 2, 3], hidden=8)
    with torch.no_grad():
        w.net[2].weight.zero_()
        w.net[2].bias.fill_(0.5)  # a walker that moves chunks 1..3 by +0.5
    save_learned(tmp_path / "hl" / "walker.pt", w)
    save_learned(tmp_path / "all" / "walker.pt", LearnedWalker(chunks, None, hidden=8))
    hl = V.make_source("hl_learned", batch=4, walkers_dir=tmp_path)
    z = hl.gen.sample_latents(3, seed=0)
    moved = hl.walker(z)
    assert moved[0] is z[0]  # the global chunk stays fixed (mi_ml_gen's chunks_learned)
    assert all(torch.allclose(m, t + 0.5) for m, t in zip(moved[1:], z[1:]))
    assert V.make_source("learned_all", batch=4, walkers_dir=tmp_path).walker.selected == [0, 1, 2, 3]
    save_learned(tmp_path / "hl" / "walker.pt", LearnedWalker(chunks, [3], hidden=8))  # the wrong walker
    with pytest.raises(ValueError, match="moves chunks \\[3\\]"):
        V.make_source("hl_learned", batch=4, walkers_dir=tmp_path)


def test_stylegan_genrep_moves_the_one_z():
    from hlwb.generators.stylegan import StyleGANGenerator

    gen = StyleGANGenerator(chunk_dim=8, w_dim=8, ch=4)
    z = gen.sample_latents(5, seed=1)
    moved = V.genrep_walker(gen)(z, seed=3)
    assert V.genrep_walker(gen).sigmas[0] == 0.25
    assert all(torch.equal(m, moved[0]) for m in moved[1:])  # one z + eps in every chunk: one w
    assert not torch.equal(moved[0], z[0])
    eps = moved[0] - z[0]
    assert eps.abs().max() <= 2 * 0.25 + 1e-6  # truncated at 2 sigma
    # BigGAN (untied chunks): GenRep draws independent noise per chunk
    from hlwb.generators.biggan import BigGANGenerator

    big = BigGANGenerator(ch=4)
    zb = big.sample_latents(5, seed=1)
    mb = V.genrep_walker(big)(zb, seed=3)
    assert not torch.allclose(mb[1] - zb[1], mb[2] - zb[2])


def test_paper_rule_per_family():
    from hlwb.generators.stylegan import StyleGANGenerator

    assert V.paper_rule(StyleGANGenerator(chunk_dim=8, w_dim=8, ch=4)) == ([0.2, 0.1, 0.8, 0.8], 1.0)


def test_load_hl_sigmas(tmp_path):
    import json

    with pytest.raises(FileNotFoundError, match="04_chunk_perturbations"):
        V.load_hl_sigmas(tmp_path / "none.json", "biggan")
    (tmp_path / "s.json").write_text(json.dumps({"biggan": {"sigmas": [0.1, 0.4, 0.4, 1.0]},
                                                 "big2": {"sigmas": [0.1, 0.4, 0.4, 3.0],
                                                          "censored": [False, False, False, True]}}))
    assert V.load_hl_sigmas(tmp_path / "s.json", "biggan") == [0.1, 0.4, 0.4, 1.0]
    with pytest.raises(ValueError, match="censored for chunk\\(s\\) 3 .*>= 3"):  # a lower bound is never a sigma
        V.load_hl_sigmas(tmp_path / "s.json", "big2")
    with pytest.raises(KeyError, match="not for generator 'stylegan'"):
        V.load_hl_sigmas(tmp_path / "s.json", "stylegan")


def test_flat_control_matches_the_paper_rule_mean_delta():
    from hlwb.generators.biggan import BigGANGenerator
    from hlwb.walkers import ChunkNoiseWalker, delta

    gen = BigGANGenerator(ch=4)
    flat = V.flat_matched_walker(gen, n=4000)
    # TN(0, 1, +-2) noise on chunks 1..3 (60 dims) vs one sigma on all 80: sigma ~ sqrt(60 / 80)
    assert flat.sigmas == [pytest.approx(flat.sigmas[0])] * 4 and flat.sigmas[0] == pytest.approx(0.866, abs=0.01)
    z = gen.sample_latents(3000, seed=11)  # fresh anchors and noise: the means agree
    sig, trunc = V.paper_rule(gen)
    paper = delta(z, ChunkNoiseWalker(gen.chunks, sig, truncation=trunc)(z, seed=5)).pow(2).sum(1).sqrt().mean()
    moved = flat(z, seed=6)
    flat_d = delta(z, moved).pow(2).sum(1).sqrt().mean()
    assert float(flat_d) == pytest.approx(float(paper), rel=0.01)
    assert (delta(z, moved) > 0).all()  # every chunk moves, the global one included
    assert V.preset_for("flat_matched", "paper") == V.preset_for("hl_random", "paper")


# --- T_x by image spec ---

def _reference_gray(preset):
    """Today's one-channel presets, written out op by op (the pipeline before image specs)."""
    import kornia.augmentation as K

    crop = K.RandomResizedCrop((32, 32), scale=(0.2, 1.0))
    ops = {"crop": [crop], "no_color": [crop, K.RandomHorizontalFlip()],
           "simclr": [crop, K.RandomHorizontalFlip(), K.ColorJitter(0.4, 0.4, p=0.8),
                      K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=0.5)]}[preset]
    return V._Unit(K.AugmentationSequential(*ops))


@pytest.mark.parametrize("preset", ["simclr", "no_color", "crop"])
def test_one_channel_presets_are_bit_identical_to_todays(preset):
    x = torch.rand(16, 1, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    got = V.augment_pair(V.augmentation(preset), x, x.flip(0), seed=7)
    want = V.augment_pair(_reference_gray(preset), x, x.flip(0), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert not torch.equal(got[0], x)


def test_colour_simclr_is_simclrs_full_t_x():
    import kornia.augmentation as K

    from hlwb.spec import ImageSpec

    def ops(spec):
        return list(V.augmentation("simclr", spec).aug.children())

    small = ops(ImageSpec(3, 32))
    jitter = next(o for o in small if isinstance(o, K.ColorJitter))
    assert jitter.p == 0.8 and (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue) == (0.4, 0.4, 0.4, 0.1)
    assert [o.p for o in small if isinstance(o, K.RandomGrayscale)] == [0.2]
    assert not any(isinstance(o, K.RandomGaussianBlur) for o in small)  # SimCLR's CIFAR recipe: no blur
    for size, k in ((96, 9), (128, 13)):
        blur = [o for o in ops(ImageSpec(3, size)) if isinstance(o, K.RandomGaussianBlur)]
        assert len(blur) == 1 and blur[0].flags["kernel_size"] == (k, k) and blur[0].p == 0.5
    gray = ops(ImageSpec(1, 64))  # one channel at another size: today's ops, cropped to 64
    assert [type(o).__name__ for o in gray] == ["RandomResizedCrop", "RandomHorizontalFlip", "ColorJitter",
                                                "RandomGaussianBlur"]
    assert not [o for o in V.augmentation("no_color", ImageSpec(3, 32)).aug.children()
                if isinstance(o, (K.ColorJitter, K.RandomGrayscale))]


@pytest.mark.parametrize("preset", V.PRESETS)
def test_colour_presets_keep_shape_and_range(preset):
    from hlwb.spec import ImageSpec

    x = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    a, b = V.augment_pair(V.augmentation(preset, ImageSpec(3, 64)), x, x, seed=3)
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) == (preset == "none")
    if preset == "simclr":  # random grayscale (p 0.2): some of 32 colour images come out grey, most do not
        c = torch.rand(32, 3, 64, 64, generator=torch.Generator().manual_seed(4)) * 2 - 1
        y, _ = V.augment_pair(V.augmentation(preset, ImageSpec(3, 64)), c, c, seed=3)
        grey = [bool(torch.allclose(im[0], im[1], atol=1e-5) and torch.allclose(im[1], im[2], atol=1e-5)) for im in y]
        assert 0 < sum(grey) < 16


def test_real_views_follow_the_images_spec():
    imgs = torch.rand(10, 3, 64, 64) * 2 - 1
    rv = V.RealViews(imgs, batch=4, preset="simclr", seed=0)
    x1, x2 = rv.batch_at(0)
    assert rv.image_spec.shape == (3, 64, 64) and x1.shape == x2.shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="channels must be one of"):
        V.RealViews(torch.zeros(4, 2, 32, 32), batch=2)


# --- the registry of view strategies ---

def test_every_strategy_is_one_registry_entry():
    import hlwb.rcg  # noqa: F401  (registers rcg)

    assert list(V.STRATEGIES)[:7] == ["real", "synth", "gaussian", "learned_all", "hl_random", "hl_learned",
                                      "flat_matched"] and "rcg" in V.STRATEGIES
    for name, s in V.STRATEGIES.items():
        assert s.name == name and s.help and s.paper_preset in V.PRESETS and callable(s.build)
        assert V.preset_for(name, "paper") == s.paper_preset and V.preset_for(name, "fair") == V.FAIR_PRESET
    assert {n for n, s in V.STRATEGIES.items() if s.paper_preset == "no_color"} == {
        "hl_random", "hl_learned", "flat_matched", "hl_keep", "hl_scaled", "gaussian_keep0", "rcg"}
    assert {n for n, s in V.STRATEGIES.items() if "walkers_dir" in s.needs} == {"learned_all", "hl_learned"}
    with pytest.raises(KeyError, match="already registered"):
        V.register(V.STRATEGIES["real"])
    with pytest.raises(KeyError, match="paper_preset 'colour'"):
        V.Strategy("x", V.STRATEGIES["real"].build, (), "help", "colour")


def test_make_source_builds_through_the_registry(monkeypatch):
    seen = []

    def build(req):
        seen.append(req)
        src = V.RealViews(torch.zeros(4, 1, 32, 32), req.batch, preset=req.preset, seed=req.stream_seed)
        src.spec = req.record
        return src

    monkeypatch.setitem(V.STRATEGIES, "mine", V.Strategy("mine", build, (), "a test strategy", "crop",
                                                          needs=("walkers_dir",)))
    with pytest.raises(ValueError, match="needs walkers_dir"):
        V.make_source("mine", batch=2, device="cpu")
    src = V.make_source("mine", batch=2, augment="paper", seed=4, rank=1, walkers_dir="w", device="cpu")
    req = seen[-1]
    assert req.preset == "crop" and req.walkers_dir == "w" and req.stream_seed != 4 and req.device.type == "cpu"
    assert src.spec == {"strategy": "mine", "augment": "paper", "preset": "crop", "batch": 2, "seed": 4}


def test_views_never_imports_rcg_and_rcg_uses_no_private_name():
    import ast
    from pathlib import Path

    root = Path(V.__file__).parent
    for node in ast.walk(ast.parse((root / "views.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            assert "rcg" not in (node.module or "") and all("rcg" not in a.name for a in node.names)
        if isinstance(node, ast.Import):
            assert all("rcg" not in a.name for a in node.names)
    rcg_views = ast.parse((root / "rcg" / "views.py").read_text())
    names = [a.name for n in ast.walk(rcg_views) if isinstance(n, ast.ImportFrom) and n.module == "views"
             for a in n.names]
    assert names and not [n for n in names if n.startswith("_")]


# --- views follow the dataset's image spec (64 px, 3 channels) ---

def _png_folder(root, classes=("a", "b"), n=12, size=70, seed=0):
    """Class sub-folders of seeded RGB PNGs (non-square: the folder loader centre-crops)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (size, size + 6, 3), dtype=np.uint8)).save(root / c / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def colour64(tmp_path_factory):
    """A 64-px RGB folder dataset and a tiny 64-px 3-channel BigGAN saved beside it."""
    from hlwb import generators as G
    from hlwb.spec import ImageSpec

    root = tmp_path_factory.mktemp("colour64")
    folder = _png_folder(root / "images")
    torch.manual_seed(0)
    gen = G.build("biggan", ImageSpec(3, 64), ch=4)
    G.save(root / "g64.pt", gen)
    return f"folder:{folder}", root / "g64.pt"


@pytest.mark.parametrize("strategy", ["real", "synth", "hl_random", "flat_matched"])
def test_views_at_64_px_and_3_channels(colour64, strategy):
    dataset, gen_path = colour64
    src = V.make_source(strategy, batch=3, augment="fair", generator=str(gen_path), dataset=dataset, image_size=64,
                        seed=1, device="cpu")
    x1, x2 = src.batch_at(0)
    assert x1.shape == x2.shape == (3, 3, 64, 64) and src.image_spec.shape == (3, 64, 64)
    assert x1.min() >= -1 and x1.max() <= 1 and not torch.equal(x1, x2)
    if strategy == "real":
        assert src.spec["dataset"] == dataset and src.spec["image_size"] == 64


def test_a_generator_of_another_spec_is_refused_naming_both(colour64):
    from hlwb.spec import SpecError

    dataset, gen_path = colour64
    with pytest.raises(SpecError, match=r"'fashion_mnist'\) is built for 3x64x64 .*, but the data is 1x32x32"):
        V.make_source("synth", batch=2, generator=str(gen_path), device="cpu")  # the default dataset: 1 x 32 x 32
    with pytest.raises(SpecError, match=r"generator 'biggan'.*built for 1x32x32 .*, but the data is 3x64x64"):
        V.make_source("hl_random", batch=2, generator="biggan", dataset=dataset, image_size=64, device="cpu")


# --- the controls of issue 29: which chunk stays fixed, strength, GenRep with chunk 0 fixed ---

def test_hl_keep_fixes_one_chunk_and_keep0_is_the_paper_rule():
    paper = V.make_source("hl_random", batch=4, seed=3)
    keep0 = V.make_source("hl_keep", batch=4, seed=3, hl_keep=0)
    assert keep0.walker.sigmas == paper.walker.sigmas == [0.0, 1.0, 1.0, 1.0]
    assert all(torch.equal(a, b) for a, b in zip(keep0.batch_at(1), paper.batch_at(1)))  # the same views
    keep2 = V.make_source("hl_keep", batch=4, seed=3, hl_keep=2, hl_scale=2.0)
    assert keep2.walker.sigmas == [1.0, 1.0, 0.0, 1.0] and keep2.walker.truncation == 2.0
    assert keep2.spec["hl_keep"] == 2 and "hl_scale" not in keep2.spec  # hl_scale is not hl_keep's: ignored
    assert "hl_keep" not in paper.spec
    z = keep2.gen.sample_latents(3, seed=0)
    moved = keep2.walker(z, seed=1)
    assert moved[2] is z[2] and all(not torch.equal(moved[k], z[k]) for k in (0, 1, 3))
    with pytest.raises(ValueError, match=r"hl_keep=4: the generator has 4 chunks.*0\.\.3"):
        V.make_source("hl_keep", batch=4, hl_keep=4)


def test_strength_controls_scale_the_rule_and_match_flat_at_each_scale(monkeypatch):
    from hlwb.walkers import delta

    paper = V.make_source("hl_random", batch=4, seed=3)
    one = V.make_source("hl_scaled", batch=4, seed=3, hl_scale=1.0)
    assert all(torch.equal(a, b) for a, b in zip(one.batch_at(0), paper.batch_at(0)))  # scale 1: the rule
    half = V.make_source("hl_scaled", batch=4, seed=3, hl_scale=0.5)
    assert half.walker.sigmas == [0.0, 0.5, 0.5, 0.5] and half.spec["hl_scale"] == 0.5
    fast = V.flat_matched_walker
    monkeypatch.setattr(V, "flat_matched_walker", lambda gen, scale=1.0: fast(gen, n=1000, scale=scale))
    flat1 = V.make_source("flat_matched", batch=4, seed=3)
    flat_half = V.make_source("flat_matched", batch=4, seed=3, hl_scale=0.5)
    assert "hl_scale" not in flat1.spec and flat_half.spec["hl_scale"] == 0.5  # scale 1: the record as before
    # ||sigma eps|| is linear in sigma: half the rule's strength, half the flat sigma (0.866 at scale 1)
    assert flat_half.walker.sigmas[0] == pytest.approx(flat1.walker.sigmas[0] / 2, rel=0.02)
    assert flat_half.walker.matched["scale"] == 0.5
    gen = half.gen
    z = gen.sample_latents(1000, seed=21)
    d_rule = delta(z, half.walker(z, seed=5)).pow(2).sum(1).sqrt().mean()
    d_flat = delta(z, fast(gen, n=2000, scale=0.5)(z, seed=6)).pow(2).sum(1).sqrt().mean()
    assert float(d_flat) == pytest.approx(float(d_rule), rel=0.02)
    with pytest.raises(ValueError, match="hl_scale=0"):
        V.scaled_sigmas(gen, 0)


def test_gaussian_keep0_is_genrep_with_chunk_0_fixed():
    from hlwb.generators.stylegan import StyleGANGenerator

    src = V.make_source("gaussian_keep0", batch=4, seed=2)
    assert src.walker.sigmas == [0.0, 0.2, 0.2, 0.2] and src.spec["sigmas"] == [0.0, 0.2, 0.2, 0.2]
    z = src.gen.sample_latents(5, seed=1)
    kept, full = src.walker(z, seed=3), V.genrep_walker(src.gen)(z, seed=3)
    assert kept[0] is z[0] and all(torch.equal(kept[k], full[k]) for k in (1, 2, 3))  # GenRep's noise elsewhere
    sty = StyleGANGenerator(chunk_dim=8, w_dim=8, ch=4)  # tied z: the one eps on every chunk but chunk 0
    zs = sty.sample_latents(5, seed=1)
    ms, fs = V.genrep_walker(sty, keep=(0,))(zs, seed=3), V.genrep_walker(sty)(zs, seed=3)
    assert torch.equal(ms[0], zs[0]) and all(torch.equal(ms[k], fs[k]) for k in (1, 2, 3))
    with pytest.raises(ValueError, match="keep must list chunk indices in 0..3"):
        V.genrep_walker(sty, keep=(4,))


def test_control_parameters_have_ranges_naming_them():
    from hlwb.config import ConfigError, PretrainParams

    with pytest.raises(ConfigError, match="'hl_scale' = 0"):
        PretrainParams(strategy="hl_scaled", hl_scale=0.0)
    with pytest.raises(ConfigError, match="'hl_keep' = -1"):
        PretrainParams(strategy="hl_keep", hl_keep=-1)
