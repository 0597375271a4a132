"""Every model built from the image spec (hlwb.spec): shapes at 64/128 px and 3 channels, the
encoder's stem, the PixelCNN colour masks, files that record their spec, legacy files as
1x32x32, and images of another spec refused naming both specs."""

import hashlib

import pytest
import torch

from hlwb import checkpoint, generators
from hlwb.encoders import SMALL_STEM_MAX, Critic, ResNetTrunk, load_encoder, save_encoder
from hlwb.generators.biggan import BigGANGenerator, Discriminator
from hlwb.generators.stylegan import StyleGANGenerator
from hlwb.spec import LEGACY, ImageSpec, SpecError

RGB64 = ImageSpec(3, 64)


def _images(n: int, spec: ImageSpec, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *spec.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- encoders ---

@pytest.mark.parametrize("spec", [ImageSpec(1, 64), ImageSpec(3, 32), RGB64, ImageSpec(3, 96)])
def test_trunk_and_critic_forward_at_a_spec(spec):
    trunk = ResNetTrunk(4, (1, 1), channels=spec.channels, size=spec.size)
    assert trunk.spec == spec and trunk(_images(3, spec)).shape == (3, trunk.out_dim)
    critic = Critic(4, (1, 1), out_dim=8, channels=spec.channels, size=spec.size)
    out = critic(_images(3, spec))
    assert critic.spec == spec and out.shape == (3, 8)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))


@pytest.mark.parametrize("size, imagenet", [(32, False), (SMALL_STEM_MAX, False), (72, True), (96, True)])
def test_the_stem_follows_the_size(size, imagenet):
    """CIFAR stem (3x3 stride 1, no max-pool) up to 64 px, ImageNet stem (7x7 stride 2 + max-pool) above."""
    trunk = ResNetTrunk(4, (1,), channels=3, size=size)
    conv = trunk.stem[0]
    assert (conv.kernel_size, conv.stride) == (((7, 7), (2, 2)) if imagenet else ((3, 3), (1, 1)))
    assert isinstance(trunk.stem[-1], torch.nn.MaxPool2d) == imagenet
    assert conv.in_channels == 3
    side = trunk.stem.eval()(_images(1, ImageSpec(3, size))).shape[-1]
    assert side == (size // 4 if imagenet else size)


def test_encoder_file_records_its_spec_and_legacy_files_are_1x32x32(tmp_path):
    trunk = ResNetTrunk(4, (1, 1), channels=3, size=64).eval()
    save_encoder(tmp_path / "e.pt", trunk, {"method": "simclr"})
    state = checkpoint.load(tmp_path / "e.pt", kind="encoder")
    assert state["spec"] == RGB64.record() and (state["channels"], state["size"]) == (3, 64)
    back = load_encoder(tmp_path / "e.pt", device="cpu")
    x = _images(2, RGB64)
    assert back.spec == RGB64 and torch.equal(back(x), trunk(x))
    # a file written before specs: no channels, size or spec -> 1x32x32
    old = ResNetTrunk(4, (1, 1)).eval()
    checkpoint.save(tmp_path / "old.pt", {"width": 4, "blocks": [1, 1], "state_dict": old.state_dict(), "meta": {}},
                    kind="encoder")
    assert load_encoder(tmp_path / "old.pt", device="cpu").spec == LEGACY
    # a recorded spec that is not the one the config builds is refused, naming the file and both
    checkpoint.save(tmp_path / "bad.pt", {**state, "spec": ImageSpec(1, 64).record()}, kind="encoder")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad\.pt.*1x64x64.*3x64x64"):
        load_encoder(tmp_path / "bad.pt", device="cpu")


def test_an_encoder_refuses_images_of_another_spec():
    with pytest.raises(SpecError, match=r"encoder trunk is built for 1x32x32 images, got 3x32x32"):
        ResNetTrunk(4, (1,))(_images(2, ImageSpec(3, 32)))
    with pytest.raises(SpecError, match=r"built for 3x64x64 images, got 3x32x32"):
        Critic(4, (1,), channels=3, size=64)(_images(2, ImageSpec(3, 32)))


# --- generators and the discriminator ---

TINY = {"biggan": {"ch": 2, "chunk_dim": 3}, "stylegan": {"ch": 4, "chunk_dim": 4, "w_dim": 4, "mapping_depth": 1}}


@pytest.mark.parametrize("family", ["biggan", "stylegan"])
@pytest.mark.parametrize("spec, n_chunks", [(ImageSpec(3, 32), 4), (ImageSpec(1, 64), 5), (RGB64, 5),
                                            (ImageSpec(3, 128), 6)])
def test_generators_make_images_of_their_spec(family, spec, n_chunks):
    """(N, C, S, S) in [-1, 1]; one more chunk per doubling of the size (BigGAN's hierarchical z)."""
    torch.manual_seed(0)
    g = generators.build(family, spec, **TINY[family])
    assert g.spec == spec and len(g.chunks) == n_chunks and [c.level for c in g.chunks] == list(range(n_chunks))
    x = g.generate(g.sample_latents(2, seed=0))
    assert x.shape == (2, *spec.shape) and x.min() >= -1 and x.max() <= 1 and x.std() > 0
    d = Discriminator(4, spec.channels, spec.size)
    assert d.spec == spec and d(x).shape == (2,)
    # one down-sampling block per halving to 4 px, then one at 4 px
    assert [b.down for b in d.blocks] == [True] * (n_chunks - 1) + [False]


def test_chunk_names_say_the_resolution_and_channels():
    assert [c.name for c in BigGANGenerator(2, 3, 5, channels=3).chunks] == [
        "global", "block1_8px", "block2_16px", "block3_32px", "block4_64px", "block5_128px"]
    gray = [c.name for c in StyleGANGenerator(4, 4, 4, 1, channels=1, size=64).chunks]
    rgb = [c.name for c in StyleGANGenerator(4, 4, 4, 1, channels=3, size=64).chunks]
    assert gray[-1] == "finest_64px_gray" and rgb[-1] == "finest_64px_rgb"
    assert not any("rgb" in n for n in gray) and gray[:-1] == rgb[:-1] and len(set(gray)) == 5
    assert gray[0] == "coarse_4-8px" and gray[-2] == "fine_32-64px"
    # the generator hlwb shipped first: the same rule (its grayscale last chunk is not called _rgb)
    assert [c.name for c in StyleGANGenerator(4, 4, 4, 1).chunks] == [
        "coarse_4-8px", "middle_8-16px", "fine_16-32px", "finest_32px_gray"]


def test_a_size_the_generators_are_not_built_for_is_refused():
    with pytest.raises(SpecError, match=r"4 \* 2\*\*k px.*got size 96"):
        BigGANGenerator.from_spec(ImageSpec(3, 96))
    with pytest.raises(SpecError, match="got size 48"):
        StyleGANGenerator(size=48)
    with pytest.raises(SpecError, match="discriminator.*got size 96"):
        Discriminator(4, 3, 96)


@pytest.mark.parametrize("family", ["biggan", "stylegan"])
def test_generator_files_record_their_spec(family, tmp_path):
    torch.manual_seed(0)
    g = generators.build(family, RGB64, **TINY[family]).eval()
    generators.save(tmp_path / "g.pt", g)
    state = checkpoint.load(tmp_path / "g.pt", kind="generator")
    assert state["spec"] == RGB64.record() and state["config"]["channels"] == 3
    back = generators.load(tmp_path / "g.pt", device="cpu")
    z = g.sample_latents(2, seed=1)
    assert back.spec == RGB64 and torch.equal(back.generate(z), g.generate(z))
    # a recorded spec the config does not build is refused, naming the file and both specs
    checkpoint.save(tmp_path / "bad.pt", {**state, "spec": ImageSpec(1, 64).record()}, kind="generator")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad\.pt.*1x64x64.*3x64x64"):
        generators.load(tmp_path / "bad.pt", device="cpu")
    # a file written before specs (no "spec", no "channels" in its config) is 1x32x32
    old = generators.build(family, **TINY[family])
    config = {k: v for k, v in old.config().items() if k not in ("channels", "size")}
    checkpoint.save(tmp_path / "old.pt", {"family": family, "config": config, "state_dict": old.state_dict(),
                                          "meta": {}}, kind="generator")
    assert generators.load(tmp_path / "old.pt", device="cpu").spec == LEGACY


def test_a_discriminator_refuses_images_of_another_spec():
    with pytest.raises(SpecError, match=r"discriminator is built for 1x32x32 images, got 3x32x32"):
        Discriminator(4)(_images(2, ImageSpec(3, 32)))


def test_train_gan_builds_for_the_dataset_spec_and_records_it(tmp_path):
    from hlwb.generators.training import GANConfig, train_gan

    cfg = GANConfig(dataset="fashion_mnist_color", steps=2, batch=4, g_ch=2, d_ch=2, chunk_dim=3, ema_start=1,
                    ckpt_every=2, threads=1)
    assert cfg.spec() == ImageSpec(3, 32)
    train_gan(cfg, tmp_path / "g.pt", tmp_path / "work", device="cpu")
    g = generators.load(tmp_path / "g.pt", device="cpu")
    assert g.spec == ImageSpec(3, 32) and checkpoint.load(tmp_path / "g.pt", kind="generator")["spec"]["channels"] == 3
    assert g.generate(g.sample_latents(2, seed=0)).shape == (2, 3, 32, 32)


def test_gan_config_refuses_a_size_the_generators_are_not_built_for():
    from hlwb.generators.training import GANConfig
    from hlwb.ranges import ConfigError

    with pytest.raises(ConfigError, match="image_size=48.*got size 48") as e:
        GANConfig(image_size=48)
    assert e.value.param == "image_size"
    with pytest.raises(ConfigError, match="unknown dataset"):
        GANConfig(dataset="no_such_set")


# --- the oracle ---

def test_oracle_net_at_a_spec():
    from hlwb.oracle import Oracle, OracleNet

    classes = tuple("abcde")
    net = OracleNet(4, len(classes), feat_dim=8, channels=3, size=64)
    orc = Oracle(net, spec=ImageSpec(3, 64, classes))
    x = _images(3, RGB64)
    assert orc.logits(x).shape == (3, 5) and orc.features(x).shape == (3, 8) and orc.spec.classes == classes
    with pytest.raises(ValueError, match="needs its spec"):
        Oracle(net)  # not the legacy net: the class names must be given
    with pytest.raises(ValueError, match="does not fit"):
        Oracle(net, spec=ImageSpec(3, 64, ("a", "b")))


def test_an_oracle_refuses_images_of_another_spec():
    from hlwb.oracle import Oracle, OracleNet

    orc = Oracle(OracleNet(4))  # the legacy net: 1x32x32, the shipped oracle's classes
    assert orc.spec.n_classes == 10
    with pytest.raises(SpecError, match=r"oracle is built for 1x32x32 images, got 3x32x32"):
        orc.predict(_images(2, ImageSpec(3, 32)))


def test_train_oracle_on_a_dataset_records_its_spec_with_classes(tmp_path):
    from hlwb import data, oracle

    cfg = oracle.OracleConfig(dataset="digits", image_size=16, epochs=1, batch=256, width=2, threads=1)
    assert cfg.spec() == ImageSpec(1, 16, data.DIGIT_CLASSES)
    oracle.train_oracle(cfg, tmp_path / "o.pt", tmp_path / "work", device="cpu")
    state = checkpoint.load(tmp_path / "o.pt", kind="oracle")
    assert state["spec"] == cfg.spec().record() and state["config"]["size"] == 16
    orc = oracle.load(tmp_path / "o.pt", device="cpu")
    test = data.load("digits", "test", 16)
    assert orc.spec == cfg.spec() and orc.logits(test.images).shape == (len(test), 10)
    assert 0.0 <= oracle.accuracy(orc, test) <= 1.0
    with pytest.raises(SpecError, match="trained on"):
        oracle.accuracy(orc, data.Dataset("renamed", test.images, test.labels, ImageSpec(1, 16, tuple("abcdefghij"))))
    # a recorded spec the config does not build, or whose classes are not its outputs, is refused
    checkpoint.save(tmp_path / "bad.pt", {**state, "spec": ImageSpec(3, 16, data.DIGIT_CLASSES).record()},
                    kind="oracle")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad\.pt.*3x16x16.*1x16x16"):
        oracle.load(tmp_path / "bad.pt", device="cpu")
    checkpoint.save(tmp_path / "bad2.pt", {**state, "spec": ImageSpec(1, 16, ("a", "b")).record()}, kind="oracle")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad2\.pt.*2 classes.*10 outputs"):
        oracle.load(tmp_path / "bad2.pt", device="cpu")
    # a file written before specs: 1x32x32 with the shipped oracle's classes
    legacy = oracle.OracleNet(2)
    checkpoint.save(tmp_path / "old.pt", {"config": {"width": 2}, "state_dict": legacy.state_dict(), "meta": {}},
                    kind="oracle")
    assert oracle.load(tmp_path / "old.pt", device="cpu").spec == ImageSpec(1, 32, oracle.LEGACY_CLASSES)


def test_oracle_config_refuses_an_unlabelled_dataset(tmp_path):
    from PIL import Image

    from hlwb.oracle import OracleConfig
    from hlwb.ranges import ConfigError

    for i in range(4):  # a folder of image files only: unlabelled
        Image.new("L", (16, 16), color=i * 40).save(tmp_path / f"{i}.png")
    with pytest.raises(ConfigError, match="unlabelled: the oracle is a classifier") as e:
        OracleConfig(dataset=f"folder:{tmp_path}")
    assert e.value.param == "dataset"


# --- PixelCNN head and GCRL in colour ---

def _rgb_head(size: int = 8):
    from hlwb.ssl.pixelcnn import PixelCNNHead

    torch.manual_seed(0)
    head = PixelCNNHead(cond_dim=4, bins=8, width=30, layers=2, channels=3, size=size)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # biases and weights away from zero everywhere, so a leak would show
        for p in head.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return head


def test_pixelcnn_colour_masks_order_r_g_b_inside_a_pixel():
    """Perturbing B at a pixel moves no logit of R or G there, nor any earlier pixel's; perturbing
    R moves G's (and B's) logits there but not R's own."""
    from hlwb.ssl.pixelcnn import dequantize

    head, s, bins = _rgb_head(), 8, 8
    g = torch.Generator().manual_seed(2)
    q, c = torch.randint(0, bins, (2, 3, s, s), generator=g), torch.randn(2, 4, generator=g)

    def logits(q):  # (N, C, bins, S*S): channel, bin, raster pixel
        return head(dequantize(q, bins), c).view(2, 3, bins, s * s)

    base = logits(q)
    for k in (0, 9, 27, 63):
        r, col = divmod(k, s)
        for ch in range(3):
            q2 = q.clone()
            q2[:, ch, r, col] = (q2[:, ch, r, col] + 3) % bins
            diff = (logits(q2) - base).abs().amax(dim=(0, 2))  # (C, S*S)
            assert torch.all(diff[:, :k] == 0), (k, ch)           # earlier pixels: no channel moves
            assert torch.all(diff[:ch + 1, k] == 0), (k, ch)      # this pixel: channels <= ch do not move
            assert torch.all(diff[ch + 1:, k] > 0), (k, ch)       # ... channels after ch read it
            if k < s * s - 1:
                assert diff[:, k + 1:].max() > 0                  # later pixels read it (not vacuous)
    # the same by gradients for every (output channel, pixel): d logit / d x[ch', j] = 0 unless
    # j is earlier, or j is this pixel and ch' < ch
    x = dequantize(q, bins).requires_grad_()
    out = head(x, c).view(2, 3, bins, s * s)
    for ch in range(3):
        for k in range(s * s):
            (gx,) = torch.autograd.grad(out[:, ch, :, k].sum(), x, retain_graph=True)
            gx = gx.abs().sum(0).view(3, s * s)
            assert torch.all(gx[:, k + 1:] == 0) and torch.all(gx[ch:, k] == 0), (ch, k)
            assert k == 0 and ch == 0 or gx[:, :k].sum() + gx[:ch, k].sum() > 0, (ch, k)


def test_pixelcnn_colour_nll_and_sampling_follow_the_head():
    import torch.nn.functional as F

    from hlwb.latents import row_seed
    from hlwb.ssl.pixelcnn import dequantize

    head, s, bins = _rgb_head(), 8, 8
    c = torch.randn(3, 4, generator=torch.Generator().manual_seed(3))
    q = head.sample(c, seed=4)
    assert q.shape == (3, 3, s, s) and q.min() >= 0 and q.max() < bins
    assert torch.equal(q[1:], head.sample(c[1:], seed=4, first=1))  # addressable by (seed, index)
    with torch.no_grad():
        logits = head(dequantize(q, bins), c).view(3, 3, bins, s, s)
        # the nll is the sum over every channel and pixel of -log p (written without the reshape)
        naive = -F.log_softmax(logits, dim=2).gather(2, q[:, :, None]).sum(dim=(1, 2, 3, 4))
        torch.testing.assert_close(head.nll(q, c), naive)
        # teacher forcing on the sample gives back every draw, pixel by pixel, channel by channel
        for i in range(3):
            u = torch.rand(s * s * 3, generator=torch.Generator().manual_seed(row_seed(4, i))).view(s * s, 3)
            cdf = F.softmax(logits[i], dim=1).cumsum(1).flatten(2).permute(2, 0, 1)  # (S*S, C, bins)
            again = (u[:, :, None] > cdf).sum(2).clamp(max=bins - 1)  # (S*S, C)
            assert torch.equal(again, q[i].flatten(1).t())


def test_gcrl_in_colour_records_its_spec_and_refuses_another(tmp_path):
    import math

    from hlwb.ssl.gcrl import build_gcrl, load_gcrl, save_gcrl
    from hlwb.ssl.pixelcnn import quantize

    spec = ImageSpec(3, 16)
    torch.manual_seed(0)
    m = build_gcrl(4, [1], bins=8, head_width=6, head_layers=1, proj_dim=8, hidden=16, channels=3, size=16)
    assert m.spec == spec and m.head.spec == spec
    x1, x2 = _images(4, spec, seed=1), _images(4, spec, seed=2)
    loss, logs = m(x1, x2)
    with torch.no_grad():  # train mode, as in the step: the trunk's batch statistics of x2
        nll = m.head.nll(quantize(x1, 8), m.encoder(x2)).mean().item()
    m.eval()
    assert logs["l_gen"] == pytest.approx(nll / (3 * 16 * 16), rel=1e-5)  # nats per dimension, D = C*S*S
    assert logs["bits_per_dim"] == pytest.approx(logs["l_gen"] / math.log(2))
    assert loss.item() == pytest.approx(logs["l_con"] + logs["l_gen"], rel=1e-6)
    assert m.sample(x2[:1], seed=0, size=4).shape == (1, 3, 4, 4)
    with pytest.raises(SpecError, match=r"built for 3x16x16 images, got 1x16x16"):
        m(x1[:, :1], x2[:, :1])
    save_gcrl(tmp_path / "g.pt", m)
    back = load_gcrl(tmp_path / "g.pt", device="cpu")
    assert back.spec == spec and torch.equal(back.log_likelihood(x1), m.log_likelihood(x1))
    state = checkpoint.load(tmp_path / "g.pt", kind="gcrl")
    assert state["spec"] == spec.record()
    checkpoint.save(tmp_path / "bad.pt", {**state, "spec": ImageSpec(3, 32).record()}, kind="gcrl")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad\.pt.*3x32x32.*3x16x16"):
        load_gcrl(tmp_path / "bad.pt", device="cpu")
    old = build_gcrl(4, [1], bins=8, head_width=6, head_layers=1, proj_dim=8, hidden=16)
    config = {k: v for k, v in state["config"].items() if k not in ("channels", "size")}
    checkpoint.save(tmp_path / "old.pt", {"config": config, "state_dict": old.state_dict(), "meta": {}}, kind="gcrl")
    assert load_gcrl(tmp_path / "old.pt", device="cpu").spec == LEGACY


# --- RCG: the representation-conditioned generator and its discriminator ---

def test_rep_generator_and_discriminator_at_a_spec(tmp_path):
    from hlwb import rcg

    torch.manual_seed(0)
    G = rcg.RepConditionedGenerator.from_spec(RGB64, ch=2, chunk_dim=3, rep_dim=5).eval()
    D = rcg.RepDiscriminator(4, 5, channels=3, size=64)
    r = torch.randn(2, 5, generator=torch.Generator().manual_seed(1))
    x = G.generate(G.sample_latents(2, seed=0), r, guidance=1.0)
    assert G.spec == RGB64 and len(G.chunks) == 5 and x.shape == (2, 3, 64, 64) and x.abs().max() <= 1
    assert D.spec == RGB64 and D(x, r).shape == (2,) and D(x).shape == (2,)
    with pytest.raises(SpecError, match=r"discriminator is built for 3x64x64 images, got 1x64x64"):
        D(x[:, :1], r)
    rcg.save_rep_generator(tmp_path / "g.pt", G, meta={})
    back = rcg.load_rep_generator(tmp_path / "g.pt", device="cpu")
    z = G.sample_latents(2, seed=3)
    assert back.spec == RGB64 and torch.equal(back.generate(z, r), G.generate(z, r))
    state = checkpoint.load(tmp_path / "g.pt", kind="rep-generator")
    assert state["spec"] == RGB64.record() and state["config"]["channels"] == 3
    checkpoint.save(tmp_path / "bad.pt", {**state, "spec": ImageSpec(3, 32).record()}, kind="rep-generator")
    with pytest.raises(checkpoint.CheckpointError, match=r"bad\.pt.*3x32x32.*3x64x64"):
        rcg.load_rep_generator(tmp_path / "bad.pt", device="cpu")
    old = rcg.RepConditionedGenerator(2, 3, rep_dim=5)
    config = {k: v for k, v in old.config().items() if k != "channels"}
    checkpoint.save(tmp_path / "old.pt", {"config": config, "state_dict": old.state_dict(), "meta": {}},
                    kind="rep-generator")
    assert rcg.load_rep_generator(tmp_path / "old.pt", device="cpu").spec == LEGACY


def test_train_rep_gan_builds_for_the_images_spec():
    from hlwb import rcg

    spec = ImageSpec(3, 16)
    g = torch.Generator().manual_seed(0)
    pairs = (_images(8, spec), rcg.standardize(torch.randn(8, 5, generator=g)))
    cfg = rcg.RepGANConfig(rep_dim=5, steps=1, batch=4, g_ch=2, d_ch=2, chunk_dim=3, ema_start=1, stat_batches=1)
    G, _ = rcg.train_rep_gan(pairs, cfg, device="cpu")
    assert G.spec == spec and G.generate(G.sample_latents(2, seed=0)).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="does not match.*3x16x16"):  # an init of another spec
        rcg.train_rep_gan(pairs, cfg, init=BigGANGenerator(2, 3), device="cpu")
    with pytest.raises(SpecError, match="got size 24"):
        rcg.train_rep_gan((_images(8, ImageSpec(3, 24)), pairs[1]), cfg, device="cpu")

# --- the shipped checkpoints: unchanged on the 1x32x32 path ---

# Regression references: digests of outputs of the shipped checkpoints computed with the code as it
# was BEFORE models were built from specs (commit 8d046da), on this CPU, default threads. Images are
# compared as uint8 (the 8-bit pixels they would be saved as), features and logits rounded to 0.01,
# so a last-bit difference of another CPU's kernels does not flip them; any real change does.
SHIPPED_DIGESTS = {
    "biggan": "4a659b269d2a955d", "stylegan": "964701017dee134c",
    "oracle_pred": [2, 8, 4, 2, 4, 9, 0, 2], "oracle_logits": "71640ba5aa3adc5b", "rcg_encoder": "ec14eea6c96160a9",
    "rcg_generator": "63578785f918c0d5", "rcg_class_generator": "07e63e0227d6a4ec",
    "rcg_posterior_generator": "2ab51de5d6ef2deb", "rcg_rdm": "4c20b117a08c7fbd",
}


def _u8(x: torch.Tensor) -> str:
    return hashlib.sha256(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def _r2(x: torch.Tensor) -> str:
    return hashlib.sha256(x.mul(100).round().to(torch.int64).numpy().tobytes()).hexdigest()[:16]


def test_shipped_checkpoints_load_as_1x32x32_and_make_the_same_outputs_as_before_specs():
    from hlwb import encoders, oracle
    from hlwb.rcg.generator import load_rep_generator
    from hlwb.rcg.rdm import load_rdm
    from hlwb.rcg.views import shipped_path

    got = {}
    for name in ("biggan", "stylegan"):
        g = generators.load(name, device="cpu")
        assert g.spec == LEGACY
        got[name] = _u8(g.generate(g.sample_latents(8, seed=0)))
    g = generators.load("biggan", device="cpu")
    imgs = g.generate(g.sample_latents(8, seed=0))
    orc = oracle.load(device="cpu")
    assert orc.spec.same_images(LEGACY) and orc.spec.n_classes == 10
    got["oracle_pred"] = orc.predict(imgs).tolist()
    got["oracle_logits"] = _r2(orc.logits(imgs))
    enc = encoders.load_encoder(shipped_path("encoder"), device="cpu")
    assert enc.spec == LEGACY
    got["rcg_encoder"] = _r2(enc(imgs))
    for name in ("generator", "class_generator", "posterior_generator"):
        g = load_rep_generator(shipped_path(name), device="cpu")
        assert g.spec == LEGACY
        r = torch.randn(8, g.rep_dim, generator=torch.Generator().manual_seed(1))
        got["rcg_" + name] = _u8(g.generate(g.sample_latents(8, seed=0), r, guidance=1.0, guide="output"))
    got["rcg_rdm"] = _r2(load_rdm(shipped_path("rdm"), device="cpu").sample(8, seed=0, steps=5))
    assert got == SHIPPED_DIGESTS
