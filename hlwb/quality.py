"""Generator quality measured with the oracle: FD_oracle, class histogram, chunk agreement."""

from __future__ import annotations

import torch

from . import data, devices, generators
from . import oracle as oracle_mod
from .hierarchy import chunk_agreement
from .metrics import frechet_distance
from .spec import require_same


def sample_images(gen: generators.HLGenerator, n: int, seed: int = 0,
                  truncation: float | None = None) -> torch.Tensor:
    """``n`` images ``(N, C, S, S)`` (the generator's spec) in [-1, 1] from anchors drawn with ``seed``."""
    return gen.generate(gen.sample_latents(n, seed=seed, truncation=truncation))


def class_histogram(oracle: oracle_mod.Oracle, images: torch.Tensor) -> list[float]:
    """Fraction of images the oracle assigns to each of its classes."""
    y = oracle.predict(images)
    return (torch.bincount(y, minlength=oracle.spec.n_classes).float() / len(y)).tolist()


def real_reference(oracle: oracle_mod.Oracle, test_features: torch.Tensor, n: int = 10_000,
                   seed: int = 0, dataset: str = "fashion_mnist", size: int | None = None) -> float:
    """FD_oracle(random real train subset of size n, real test): the real-vs-real floor."""
    train = data.load(dataset, "train", size)
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
    return frechet_distance(oracle.features(train.images[idx]), test_features)


def test_features(oracle: oracle_mod.Oracle, n_test: int = 10_000, dataset: str = "fashion_mnist",
                  size: int | None = None) -> torch.Tensor:
    """Oracle features of the first ``n_test`` test images of ``dataset`` (all 10k of Fashion-MNIST by default)."""
    return oracle.features(data.load(dataset, "test", size).images[:n_test])


def evaluate_generator(name_or_path: str, n: int = 10_000, n_anchors: int = 1000, seed: int = 0,
                       device: str | torch.device = "auto", dataset: str = "fashion_mnist",
                       oracle: str | None = None) -> dict:
    """FD_oracle against ``dataset``'s real test images, the real-vs-real reference, class histogram,
    chunk table. ``oracle``: a file trained on ``dataset`` (``train-oracle --dataset``; None: the
    shipped Fashion-MNIST oracle). The generator, the oracle and the dataset must share one spec.

    ``device`` (:func:`hlwb.devices.resolve`): where the generator and the oracle run (the
    generated images never leave it; the Fréchet distances are computed on the host).
    """
    device = devices.resolve(device)
    gen = generators.load(name_or_path, device=device)
    orc = oracle_mod.load(oracle, device=device)
    size = gen.spec.size
    want = data.spec_of(dataset, size)
    require_same(gen.spec, want, f"generator {name_or_path}")
    require_same(orc.spec, want, "the oracle")
    feats = test_features(orc, dataset=dataset, size=size)
    x = sample_images(gen, n, seed=seed)
    fd = frechet_distance(orc.features(x), feats)
    ref = real_reference(orc, feats, n=n, seed=seed, dataset=dataset, size=size)
    hist = class_histogram(orc, x)
    return {"generator": str(name_or_path), "family": gen.family, "n_samples": n, "seed": seed,
            "fd_oracle": fd, "fd_real_reference": ref, "fd_ratio": fd / ref,
            "dataset": dataset, "class_histogram": dict(zip(orc.spec.classes, hist)), "min_class_fraction": min(hist),
            "chunk_agreement": chunk_agreement(gen, orc, n_anchors=n_anchors, seed=seed)}
