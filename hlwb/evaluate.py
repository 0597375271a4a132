"""Frozen-feature evaluation: feature extraction, linear / kNN / few-shot probes, the transfer suite.

The protocol, fixed so that every encoder (pretrained or reference) is scored the same way:

- Features: the frozen encoder in eval mode (batch-norm running statistics, no dropout), on
  float images in [-1, 1]. Each dimension is standardised with the mean and std of the target's
  *train* features (no labels used); dimensions constant on train are set to 0.
- Linear probe: multinomial logistic regression ``softmax(z W + b)`` on the standardised
  features, loss ``mean cross-entropy + l2 / 2 * ||W||^2`` (bias not penalised), zero
  initialisation, full-batch L-BFGS (strong-Wolfe line search) for at most 100 iterations.
  ``l2`` is chosen from :data:`L2_GRID` = {1e-4, 1e-3, 1e-2, 0.1, 1} by top-1 accuracy on a
  seeded stratified 20 % held-out split of the train set (ties: the larger l2); the probe is
  then refit on the whole train set. Convex and zero-initialised, so the seed only enters
  through the held-out split.
- kNN (Wu et al. 2018): cosine similarity on the raw features, the k nearest training features
  vote with weight exp(s / T); k = 20 and 200, T = 0.07 (Wu et al.'s temperature; the
  pretraining monitor keeps its own T = 0.1 (PretrainConfig)).
- Few-shot: 1, 5 and 10 labelled train images per class, 5 seeded stratified draws; a linear
  probe as above with the fixed ``l2 =`` :data:`FEWSHOT_L2` = 0.1 (too few labels to select it),
  on features standardised with the whole (unlabelled) train set's statistics; mean and
  sample std (n - 1) over draws.
- Geometry: effective rank of the test features and their uniformity (on at most 2000
  seeded test features), see :mod:`hlwb.metrics`.
- Top-1 everywhere; top-5 where the target has more than 5 classes. Ties in the scores go to
  the lower class index.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import targets as T
from .devices import exact_fp32, to_device
from .encoders import ResNetTrunk
from .latents import make_generator
from .metrics import effective_rank, uniformity
from .spec import LEGACY, ImageSpec

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
VAL_FRACTION = 0.2
MAX_ITER = 100
FEWSHOT_L2 = 0.1
KNN_K = (20, 200)
KNN_TEMPERATURE = 0.07
SHOTS = (1, 5, 10)
DRAWS = 5
PROTOCOLS = ("linear", "knn", "fewshot", "geometry")


# ---- features ----

@torch.no_grad()
def features(encoder: nn.Module, images: Tensor, batch_size: int = 512) -> Tensor:
    """Frozen features ``(N, D)`` of images ``(N, C, S, S)`` (uint8, or float in [-1, 1]).

    Every submodule runs in eval mode (batch-norm uses its running statistics) and gets its
    own train/eval flag back afterwards. Always float32, so encoders trained in bf16 or fp32 are
    scored identically; the convolution weights run in channels-last layout (1.4x faster on this
    CPU, the same features up to float rounding, ~3e-8) and get their own layout back afterwards
    (a run monitored mid-training trains on exactly as before). The features stay on the
    encoder's device (the probes below run where their inputs are).
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    modes = [(m, m.training) for m in encoder.modules()]
    encoder.eval()
    layout = _layout(encoder)
    encoder.to(memory_format=torch.channels_last)
    param = next(encoder.parameters(), None)
    dev = param.device if param is not None else torch.device("cpu")
    out = []
    try:
        with exact_fp32():  # on a GPU: no TF32 convolutions, so "fp32 evaluation" is float32
            for i in range(0, len(images), batch_size):
                x = images[i:i + batch_size]
                x = x.float().div(127.5).sub(1.0) if x.dtype == torch.uint8 else x
                out.append(encoder(to_device(x, dev)).flatten(1).float())
    finally:
        encoder.to(memory_format=layout)
        for m, mode in modes:
            m.training = mode
    return torch.cat(out)


def _layout(module: nn.Module) -> torch.memory_format:
    """channels_last if the module's 4-d weights are in that layout (hlwb.amp.prepare), else contiguous."""
    w = [p for p in module.parameters() if p.dim() == 4]
    if (all(p.is_contiguous(memory_format=torch.channels_last) for p in w)
            and any(not p.is_contiguous() for p in w)):  # (1-channel and 1x1 weights are both)
        return torch.channels_last
    return torch.contiguous_format


def standardize(train_feats: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """Standardise ``train_feats (N, D)`` and each of ``others (M, D)`` by the train mean and std.

    Dimensions whose train std is below 1e-6 of the largest are set to 0 in every set
    (e.g. raw pixels that are always background on train): they carry no train information
    and would otherwise blow up a shifted test set.
    """
    mean, std = train_feats.mean(0), train_feats.std(0)
    keep = std > 1e-6 * std.max().clamp_min(1e-30)
    scale = torch.where(keep, 1.0 / std.clamp_min(1e-30), torch.zeros_like(std))
    return tuple((f - mean) * scale for f in (train_feats, *others))


def topk_accuracy(scores: Tensor, labels: Tensor, k: int = 1) -> float:
    """Fraction of rows of ``scores (N, C)`` whose label is among the ``k`` highest (ties: lower index)."""
    top = scores.argsort(dim=1, descending=True, stable=True)[:, :k]  # (N, k)
    return float((top == labels.to(top.device)[:, None]).any(1).float().mean())


def _accuracies(scores: Tensor, labels: Tensor, n_classes: int) -> dict[str, float]:
    acc = {"top1": topk_accuracy(scores, labels, 1)}
    if n_classes > 5:
        acc["top5"] = topk_accuracy(scores, labels, 5)
    return acc


# ---- kNN ----

def knn_scores(train_feats: Tensor, train_labels: Tensor, test_feats: Tensor, k: int = 200,
               temperature: float = 0.1, n_classes: int | None = None, chunk: int = 1000) -> Tensor:
    """Weighted kNN class votes ``(M, C)`` (Wu et al. 2018): cosine similarity, the k nearest
    training features vote for their class with weight exp(s / temperature)."""
    n_classes = n_classes or int(train_labels.max()) + 1
    tr = F.normalize(train_feats, dim=1)
    train_labels = train_labels.to(tr.device)
    out = []
    for i in range(0, len(test_feats), chunk):
        te = F.normalize(test_feats[i:i + chunk], dim=1)
        sim, idx = (te @ tr.t()).topk(min(k, len(tr)), dim=1)  # (n, k)
        votes = torch.zeros(len(te), n_classes, device=te.device)
        out.append(votes.scatter_add_(1, train_labels[idx], (sim / temperature).exp()))
    return torch.cat(out)


def knn_accuracy(train_feats: Tensor, train_labels: Tensor, test_feats: Tensor, test_labels: Tensor,
                 k: int = 200, temperature: float = 0.1, n_classes: int | None = None,
                 chunk: int = 1000) -> float:
    """Weighted kNN top-1 accuracy (see :func:`knn_scores`)."""
    scores = knn_scores(train_feats, train_labels, test_feats, k, temperature, n_classes, chunk)
    return topk_accuracy(scores, test_labels, 1)


# ---- linear probe ----

def fit_logistic(z: Tensor, y: Tensor, n_classes: int, l2: float,
                 max_iter: int = MAX_ITER) -> tuple[Tensor, Tensor]:
    """Multinomial logistic regression on ``z (N, D)``: weights ``(C, D)`` and bias ``(C,)``.

    Minimises mean cross-entropy + l2 / 2 ||W||^2 from zero with full-batch L-BFGS; class
    scores are ``F.linear(z, w, b)``. (W is stored (C, D) because the weight gradient
    g^T z then reads z row-major: ~3x faster on CPU than z^T g.)
    """
    y = y.to(z.device)
    w = torch.zeros(n_classes, z.shape[1], device=z.device, requires_grad=True)
    b = torch.zeros(n_classes, device=z.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=10,
                            tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(F.linear(z, w, b), y) + 0.5 * l2 * w.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


def select_l2(z: Tensor, y: Tensor, n_classes: int, seed: int, grid: Sequence[float] = L2_GRID,
              val_fraction: float = VAL_FRACTION) -> float:
    """The l2 of ``grid`` with the best top-1 on a seeded stratified held-out split (ties: larger l2)."""
    fit_idx, val_idx = T.stratified_split(y, val_fraction, seed)
    z_fit, y_fit, z_val, y_val = z[fit_idx], y[fit_idx], z[val_idx], y[val_idx]
    best, best_acc = None, -1.0
    for l2 in sorted(grid, reverse=True):
        w, b = fit_logistic(z_fit, y_fit, n_classes, l2)
        acc = topk_accuracy(F.linear(z_val, w, b), y_val)
        if acc > best_acc:
            best, best_acc = l2, acc
    return best


def linear_scores(z_train: Tensor, y_train: Tensor, z_test: Tensor, n_classes: int, seed: int = 0,
                  l2: float | None = None) -> tuple[Tensor, float]:
    """The linear probe's class scores ``(N_test, C)`` on standardised features and its l2
    (``l2=None`` selects it, module docstring)."""
    l2 = select_l2(z_train, y_train, n_classes, seed) if l2 is None else l2
    w, b = fit_logistic(z_train, y_train, n_classes, l2)
    return F.linear(z_test, w, b), l2


def linear_probe(z_train: Tensor, y_train: Tensor, z_test: Tensor, y_test: Tensor, n_classes: int,
                 seed: int = 0, l2: float | None = None) -> dict[str, float]:
    """Linear-probe accuracies on standardised features; ``l2=None`` selects it (module docstring).

    Returns ``{"top1", "top5" (if > 5 classes), "l2"}``.
    """
    scores, l2 = linear_scores(z_train, y_train, z_test, n_classes, seed, l2)
    return {**_accuracies(scores, y_test, n_classes), "l2": l2}


def fewshot_indices(labels: Tensor, shots: int, seed: int) -> Tensor:
    """Sorted indices of exactly ``shots`` labelled items per class, drawn with ``seed``."""
    return T.stratified_sample(labels, shots, seed)


def fewshot_draw_seed(seed: int, shots: int, draw: int) -> int:
    """The seed of one few-shot draw, distinct for every (seed, shots, draw)."""
    return seed * 10_000 + shots * 100 + draw


# ---- the transfer suite ----

def _row(target: str, protocol: str, metric: str, value: float, seed: int, draw: int | None = None) -> dict:
    return {"target": target, "protocol": protocol, "metric": metric, "value": float(value),
            "seed": seed, "draw": draw}


def evaluate_encoder(encoder: nn.Module, target: T.Target | str, protocols: Sequence[str] = PROTOCOLS,
                     seed: int = 0, knn_k: Sequence[int] = KNN_K, knn_temperature: float = KNN_TEMPERATURE,
                     shots: Sequence[int] = SHOTS, draws: int = DRAWS,
                     correct: dict[str, Tensor] | None = None) -> list[dict]:
    """Score a frozen encoder on one target with the fixed protocol of this module's docstring.

    Args:
        encoder: maps float images ``(N, C, S, S)`` (the target's spec) in [-1, 1] to features ``(N, ...)``.
        target: a :class:`hlwb.targets.Target`, or a registry name (built with its defaults).
        protocols: any of ``linear`` (rows top1, top5, l2), ``knn`` (protocol ``knn_k{k}``),
            ``fewshot`` (protocol ``fewshot_{n}``: per-draw rows top1/top5 with ``draw`` set,
            then top1_mean, top1_std, ...), ``geometry`` (effective_rank and uniformity of
            the test features).
        seed: base seed of the held-out split and the few-shot draws.
        correct: if a dict, filled with per-test-image top-1 correctness (bool ``(N_test,)``)
            under ``linear`` and ``knn_k{k}``, from the same fits (for paired intervals).
    Returns:
        Tidy rows ``{target, protocol, metric, value, seed, draw}`` (``draw`` None except
        for single few-shot draws).
    """
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise KeyError(f"unknown protocols {sorted(unknown)}; valid: {', '.join(PROTOCOLS)}")
    tg = T.load(target) if isinstance(target, str) else target
    f_tr, f_te = features(encoder, tg.x_train), features(encoder, tg.x_test)
    z_tr, z_te = standardize(f_tr, f_te)
    c, rows = tg.n_classes, []
    if "linear" in protocols:
        scores, l2 = linear_scores(z_tr, tg.y_train, z_te, c, seed)
        for m, v in {**_accuracies(scores, tg.y_test, c), "l2": l2}.items():
            rows.append(_row(tg.name, "linear", m, v, seed))
        if correct is not None:
            correct["linear"] = scores.argmax(1).cpu() == tg.y_test
    if "knn" in protocols:
        for k in knn_k:
            scores = knn_scores(f_tr, tg.y_train, f_te, k, knn_temperature, c)
            for m, v in _accuracies(scores, tg.y_test, c).items():
                rows.append(_row(tg.name, f"knn_k{k}", m, v, seed))
            if correct is not None:
                correct[f"knn_k{k}"] = scores.argmax(1).cpu() == tg.y_test
    if "fewshot" in protocols:
        for n in shots:
            per_draw: dict[str, list[float]] = {}
            for d in range(draws):
                idx = fewshot_indices(tg.y_train, n, fewshot_draw_seed(seed, n, d))
                res = linear_probe(z_tr[idx], tg.y_train[idx], z_te, tg.y_test, c, l2=FEWSHOT_L2)
                for m in ("top1", "top5"):
                    if m in res:
                        per_draw.setdefault(m, []).append(res[m])
                        rows.append(_row(tg.name, f"fewshot_{n}", m, res[m], seed, d))
            for m, vals in per_draw.items():
                v = torch.tensor(vals, dtype=torch.float64)
                rows.append(_row(tg.name, f"fewshot_{n}", f"{m}_mean", v.mean(), seed))
                rows.append(_row(tg.name, f"fewshot_{n}", f"{m}_std", v.std() if len(v) > 1 else 0.0, seed))
    if "geometry" in protocols:
        sub = f_te[torch.randperm(len(f_te), generator=make_generator(seed))[:2000]]  # O(N^2) pairs
        rows.append(_row(tg.name, "geometry", "effective_rank", effective_rank(f_te), seed))
        rows.append(_row(tg.name, "geometry", "uniformity", uniformity(sub), seed))
    return rows


# ---- reference "encoders", evaluated exactly like pretrained ones ----

def pixel_encoder() -> nn.Module:
    """Raw pixels as features: ``(N, C, S, S) -> (N, C * S * S)``."""
    return nn.Flatten()


def random_encoder(width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2), seed: int = 0,
                   spec: ImageSpec = LEGACY) -> ResNetTrunk:
    """A randomly initialised :class:`ResNetTrunk` for ``spec``'s images (PyTorch's default init,
    seeded; the caller's global RNG is left untouched). In eval mode its batch-norms are identities."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNetTrunk(width, tuple(blocks), channels=spec.channels, size=spec.size)


def oracle_encoder(path: str | None = None) -> nn.Module:
    """The supervised oracle's 256-d penultimate layer (trained on Fashion-MNIST train
    labels: an in-domain upper reference, not a self-supervised result)."""
    from . import oracle

    return oracle.load(path).net.trunk


REFERENCES = {"pixels": pixel_encoder, "random": random_encoder, "oracle": oracle_encoder}
