"""The representation space RCG works in: its normalisation, a uniform prior, Fréchet distance.

Normalisation is RCG's per-sample standardisation (Li, Katabi, He 2024, App. A; code
``RDM.get_input``): each representation ``r`` of width d becomes ``(r - mean_d r) / std_d r``
(unbiased std). Every standardised vector has zero mean and norm ``sqrt(d - 1)``: the space is
the (d-2)-sphere of that radius in the hyperplane orthogonal to ``1``. We take it rather than
L2 normalisation because its coordinates have unit scale, the scale of the diffusion's noise
``eps ~ N(0, I)``; unit-norm vectors have coordinates of size ``1 / sqrt(d)``, which would
drown in the noise from the first steps of the schedule (in effect a much noisier schedule).
Cosines, and so the contrastive-softmax posterior, do not see the scale: standardisation only
centres each vector.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .. import latents as L
from ..metrics import frechet_distance


def standardize(reps: Tensor) -> Tensor:
    """Per-sample standardisation ``(r - mean) / std`` across the d dimensions (RCG).

    Args: reps: (N, d), d >= 2. Returns (N, d) float32, each row zero-mean with norm sqrt(d - 1).
    """
    if reps.ndim != 2 or reps.shape[1] < 2:
        raise ValueError(f"representations must be (N, d) with d >= 2, got {tuple(reps.shape)}")
    r = reps.float()
    std = r.std(dim=1, keepdim=True)
    if bool((std == 0).any()):
        raise ValueError("a representation is constant across its dimensions: it cannot be standardised")
    return (r - r.mean(dim=1, keepdim=True)) / std


def sphere_prior(n: int, dim: int, seed: int, start: int = 0) -> Tensor:
    """``n`` points uniform on the unit sphere S^(dim-1), sample i addressable by ``(seed, start + i)``.

    A normalised isotropic Gaussian (Muller 1959). ``standardize`` maps these onto the
    standardised space uniformly (centring keeps a Gaussian isotropic within the hyperplane).
    Returns (n, dim).
    """
    z = L.sample((L.Chunk("sphere", dim, 0),), n, seed=seed, truncation=None, start=start, stream=L.EXTRA)[0]
    return z / z.norm(dim=1, keepdim=True)


def representation_fd(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between two sets of representations after standardisation (RCG App. B.1).

    Args: a (N, d), b (M, d), raw or already standardised (standardising twice is a no-op up
    to rounding). Returns ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).
    Standardised sets have no component along ``1``, so their covariances are singular; both
    are written in an orthonormal basis of the hyperplane first (FD is invariant to rotations,
    so the value is the same, without a singular matrix square root).
    """
    a, b = a.detach().cpu(), b.detach().cpu()  # the Fréchet distance is a host (scipy) computation
    d = a.shape[1]
    basis = torch.linalg.qr(torch.cat([torch.ones(d, 1, dtype=torch.float64),
                                       torch.eye(d, dtype=torch.float64)], dim=1))[0][:, 1:]  # (d, d - 1)
    return frechet_distance(standardize(a).double() @ basis, standardize(b).double() @ basis)


def disjoint_split(reps: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``(held (n, d), rest (N - n, d))``: ``n`` rows of ``reps (N, d)`` drawn without replacement
    (seeded) and the rows not drawn. Compare a generated set of ``n`` with ``rest`` beside
    :func:`reference_fd` (the same ``rest``), so that neither FD compares a set with one containing it."""
    if not 2 <= n <= len(reps) - n:
        raise ValueError(f"n must be in [2, {len(reps) // 2}] (at most half of the {len(reps)} representations, "
                         f"so the rest is at least as large as the draw), got {n}")
    perm = torch.randperm(len(reps), generator=L.make_generator(seed))
    return reps[perm[:n]], reps[perm[n:]]


def reference_fd(reps: Tensor, n: int, seed: int) -> float:
    """The floor a generated set of ``n`` is judged against: FD between two disjoint subsets of
    ``reps``, ``n`` rows drawn (seeded) and the other ``N - n`` (:func:`disjoint_split`). RCG's
    real-vs-real 0.38. FD is biased upward for small ``n``, so compare a generated set only with the
    floor of the same ``n``, both against the same ``rest``."""
    held, rest = disjoint_split(reps, n, seed)
    return representation_fd(held, rest)


def class_prototypes(reps: Tensor, labels: Tensor, n_classes: int | None = None) -> Tensor:
    """One representation per class: the mean of the class's standardised representations,
    standardised again (so it lies in the space the generator is conditioned in). ``(n_classes, D)``;
    ``n_classes`` None: ``labels.max() + 1``."""
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    z = standardize(reps)
    counts = torch.bincount(labels, minlength=n_classes)
    if bool((counts == 0).any()):
        raise ValueError(f"every class needs a representation; counts per class {counts.tolist()}")
    sums = torch.zeros(n_classes, z.shape[1], dtype=z.dtype).index_add_(0, labels, z)
    return standardize(sums / counts[:, None])
