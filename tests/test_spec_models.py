"""Every model built from the image spec (hlwb.spec): shapes at 64/128 px and 3 channels, the
encoder's stem, the PixelCNN colour masks, files that record their spec, legacy files as
1x32x32, and images of another spec refused naming both specs."""

import pytest
import torch

from hlwb import checkpoint
from hlwb.encoders import SMALL_STEM_MAX, Critic, ResNetTrunk, load_encoder, save_encoder
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
