"""Generator quality measured with the oracle: FD_oracle, class histogram, chunk agreement."""

from __future__ import annotations

import torch

from . import data, devices, generators
from . import oracle as oracle_mod
from .hierarchy import chunk_agreement
from .metrics import frechet_distance


def sample_images(gen: generators.HLGenerator, n: int, seed: int = 0,
                  truncation: float | None = None) -> torch.Tensor:
    """``n`` images (N, 1, 32, 32) in [-1, 1] from anchors drawn with ``seed``."""
    return gen.generate(gen.sample_latents(n, seed=seed, truncation=truncation))


def class_histogram(oracle: oracle_mod.Oracle, images: torch.Tensor) -> list[float]:
    """Fraction of images the oracle assigns to each class."""
    y = oracle.predict(images)
    return (torch.bincount(y, minlength=10).float() / len(y)).tolist()


def real_reference(oracle: oracle_mod.Oracle, test_features: torch.Tensor, n: int = 10_000,
                   seed: int = 0) -> float:
    """FD_oracle(random real train subset of size n, real test): the real-vs-real floor."""
    train = data.fashion_mnist("train")
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    return frechet_distance(oracle.features(train.images[idx]), test_features)


def test_features(oracle: oracle_mod.Oracle, n_test: int = 10_000) -> torch.Tensor:
    """Oracle features of the first ``n_test`` Fashion-MNIST test images (all 10k by default)."""
    return oracle.features(data.fashion_mnist("test").images[:n_test])


def evaluate_generator(name_or_path: str, n: int = 10_000, n_anchors: int = 1000, seed: int = 0,
                       device: str | torch.device = "auto") -> dict:
    """FD_oracle against real test, the real-vs-real reference, class histogram, chunk table.

    ``device`` (:func:`hlwb.devices.resolve`): where the generator and the oracle run (the
    generated images never leave it; the Fréchet distances are computed on the host).
    """
    device = devices.resolve(device)
    gen = generators.load(name_or_path, device=device)
    orc = oracle_mod.load(device=device)
    feats = test_features(orc)
    x = sample_images(gen, n, seed=seed)
    fd = frechet_distance(orc.features(x), feats)
    ref = real_reference(orc, feats, n=n, seed=seed)
    hist = class_histogram(orc, x)
    return {"generator": str(name_or_path), "family": gen.family, "n_samples": n, "seed": seed,
            "fd_oracle": fd, "fd_real_reference": ref, "fd_ratio": fd / ref,
            "class_histogram": dict(zip(data.FASHION_CLASSES, hist)), "min_class_fraction": min(hist),
            "chunk_agreement": chunk_agreement(gen, orc, n_anchors=n_anchors, seed=seed)}
