"""Unsupervised out-of-distribution (OOD) detection: scores, metrics and the OOD sets.

Convention: every score here is an **in-distribution score** (higher = more like the training
distribution), and the metrics treat **in-distribution as the positive class**: AUROC is
P(score(in) > score(out)) (ties count one half); FPR@95 is the fraction of OOD images scored
at or above the threshold that keeps 95 % of the in-distribution images.

Scores (each returns (N,), one per image):

* :func:`log_likelihood`: log p(x) in nats under a GCRL generative head (:mod:`hlwb.ssl.gcrl`).
* :func:`likelihood_ratio`: log p_fg(x) - log p_bg(x) (Ren et al. 2019): the background model
  is the same head trained on inputs whose values were replaced at rate mu in [0.1, 0.3] by
  uniform random intensities (:func:`mutate`) and with a stronger L2 weight (SGD weight decay), so
  it models the low-level statistics that dominate likelihoods, and the ratio keeps the semantic
  part. :func:`background_config` and :func:`background_source` build its run for
  :func:`hlwb.pretrain.pretrain`: the foreground's trunk, head and budget, alpha only, on GCRL's
  weak/strong views of the real train images (:class:`hlwb.ssl.gcrl.WeakStrongViews`), mutated.
* :func:`complexity_score`: -S(x) of Serra et al. 2020, S(x) = -log2 p(x) - L(x), with L(x) the
  length in bits of the quantised image (uint8 bin centres, the head's bins) compressed
  losslessly as PNG (Pillow, compression level 9, the whole file: its constant ~70-byte
  overhead shifts every score alike; Serra et al. also used PNG). So the score is
  log2 p(x) + L(x): the likelihood with the image's own complexity added back.
* :func:`knn_score`: minus the cosine distance of an image's feature to its k-th nearest
  in-distribution training feature (Sun et al. 2022 use the k-th neighbour distance).

OOD sets (:func:`ood_sets`; in-distribution = the dataset's test set; for Fashion-MNIST): scikit-learn digits,
rendered letters, each corruption of ``hlwb.targets.CORRUPTIONS`` (the images of
``fashion_mnist_shift``), Fashion-MNIST flipped upside-down (the horizontal flip is a
training augmentation, so it is not OOD) and with inverted intensities.

Devices: the likelihood scores take ``device`` (:func:`hlwb.devices.resolve`): the model is moved
there in place and the images go there batch by batch; scores come back on the host (as the
metrics want them). :func:`knn_score` and :func:`mutate` work where their inputs are; the metrics
take host or device tensors.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import data, devices
from . import targets as T
from .latents import EXTRA, NOISE, make_generator, row_seed
from .spec import ImageSpec
from .ssl.pixelcnn import dequantization_bits, dequantize, quantize

# ---- metrics (in-distribution = positive class) ----


def _host(scores) -> np.ndarray:
    """Scores (a tensor on any device, an array or a list) as a float64 numpy array."""
    return np.asarray(scores.detach().cpu() if isinstance(scores, Tensor) else scores, dtype=np.float64)


def auroc(score_in: Tensor, score_out: Tensor) -> float:
    """P(s_in > s_out) + P(s_in = s_out) / 2 over all pairs (Mann-Whitney), in O(n log n)."""
    s_in, s_out = _host(score_in), np.sort(_host(score_out))
    if len(s_in) == 0 or len(s_out) == 0:
        raise ValueError("both score sets must be non-empty")
    below = np.searchsorted(s_out, s_in, side="left")  # OOD scores strictly below each s_in
    ties = np.searchsorted(s_out, s_in, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(s_in) * len(s_out)))


def fpr_at_tpr(score_in: Tensor, score_out: Tensor, tpr: float = 0.95) -> float:
    """Fraction of OOD scores >= t, for the largest threshold t that keeps a fraction >= ``tpr``
    of the in-distribution scores (>= t)."""
    s_in = np.sort(_host(score_in))[::-1]
    s_out = _host(score_out)
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    t = s_in[math.ceil(tpr * len(s_in) - 1e-9) - 1]  # the k-th largest, k = ceil(tpr n)
    return float((s_out >= t).mean())


# ---- likelihood scores ----


def log_likelihood(model: nn.Module, images: Tensor, context: Tensor | None = None, batch: int = 256,
                   device: str | torch.device = "auto") -> Tensor:
    """log p(x) in nats, (N,) on the host, under ``model.log_likelihood`` (a GCRL method), in
    batches on ``device`` (the model is moved there)."""
    device = devices.resolve(device)
    model.to(device)
    out = [model.log_likelihood(devices.to_device(images[i:i + batch], device),
                                None if context is None else devices.to_device(context[i:i + batch], device))
           for i in range(0, len(images), batch)]
    return torch.cat(out).cpu()


def likelihood_ratio(foreground: nn.Module, background: nn.Module, images: Tensor, batch: int = 256,
                     device: str | torch.device = "auto") -> Tensor:
    """log p_fg(x) - log p_bg(x) in nats (Ren et al. 2019); background from :func:`mutate`d data."""
    device = devices.resolve(device)
    return (log_likelihood(foreground, images, batch=batch, device=device)
            - log_likelihood(background, images, batch=batch, device=device))


def mutate(images: Tensor, rate: float, seed: int) -> Tensor:
    """Each value replaced, independently with probability ``rate``, by a uniform random
    intensity (one of the 256 uint8 levels, in [-1, 1]); ``images`` (N, C, H, W) in [-1, 1]. As
    Ren et al.'s code (google-research genomics_ood/images_ood, ``mutate_x``): each channel value of
    a pixel on its own (grayscale: a fraction ``rate`` of the pixels), drawn from ``seed``: first
    the (N, C, H, W) uniforms that pick the values, then their levels."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    g = make_generator(seed)
    hit = torch.rand(images.shape, generator=g) < rate
    level = torch.randint(0, 256, images.shape, generator=g).float() / 127.5 - 1
    return torch.where(hit.to(images.device), level.to(images.device), images)


class MutatedViews:
    """A view source whose batches are ``source``'s with both views :func:`mutate`d at ``rate``
    (seeded by (seed, step), so a resumed run sees the same batches): the background model's data."""

    def __init__(self, source, rate: float, seed: int = 0):
        if not 0.1 <= rate <= 0.3:
            raise ValueError(f"the background model's mutation rate must be in [0.1, 0.3] (Ren et al.), got {rate}")
        self.source, self.rate, self.seed = source, rate, seed
        spec = getattr(source, "spec", None)
        self.spec = {**(spec or {}), "mutation_rate": rate, "mutation_seed": seed}

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        x1, x2 = self.source.batch_at(step)
        return (mutate(x1, self.rate, row_seed(self.seed, step, NOISE)),
                mutate(x2, self.rate, row_seed(self.seed, step, EXTRA)))


BG_RATE = 0.2           # the background's mutation rate mu (Ren et al.: 0.1-0.3)
BG_WEIGHT_DECAY = 0.02  # its L2 weight: SGD weight decay on the per-dimension loss (background_config)


def background_config(foreground: dict, steps: int = 0, seed: int = 0,
                      weight_decay: float = BG_WEIGHT_DECAY):
    """The background model's :class:`hlwb.pretrain.PretrainConfig`: the foreground run's stored
    config (``foreground``: a GCRL file's ``meta["pretrain"]``, its trunk, head, batch, precision and
    dataset) with alpha 1, beta 0 (the head alone), no kNN monitor, ``seed``, ``steps`` (0: the
    foreground's) and the L2 weight ``weight_decay``.

    Ren et al.'s code gives its PixelCNN's layers an L2 coefficient lambda in {0, 10, 100} (Keras' l2:
    lambda * sum(w^2)); as a term on the per-image NLL, the same term on hlwb's per-dimension loss
    (NLL / D) is SGD weight decay wd = 2 lambda / D: 0.02 is lambda ~ 10 at D = 1024 (1 x 32 x 32).
    Ren et al. chose mu and lambda on validation OOD data; here they are parameters, not tuned."""
    from .pretrain import PretrainConfig

    base = {k: v for k, v in foreground.items() if k in PretrainConfig.__dataclass_fields__}
    steps = steps or base.get("steps", PretrainConfig.steps)
    return PretrainConfig(**{**base, "method": "gcrl", "gcrl_alpha": 1.0, "gcrl_beta": 0.0, "knn_every": 0,
                             "seed": seed, "steps": steps, "ckpt_every": max(1, steps // 5),
                             "weight_decay": weight_decay})


def background_source(cfg, rate: float = BG_RATE, seed: int = 0, device: str | torch.device = "auto"):
    """The background model's views: GCRL's weak/strong views of ``cfg.dataset``'s real train images
    (the fair T_x as the strong one, as the foreground's real arm), every value :func:`mutate`d at
    ``rate`` (:class:`MutatedViews`); ``cfg`` from :func:`background_config`."""
    from .ssl.gcrl import WeakStrongViews
    from .views import make_source

    real = make_source("real", cfg.batch, augment="fair", seed=seed, precision=cfg.precision, device=device,
                       dataset=cfg.dataset, image_size=cfg.image_size or None)
    return MutatedViews(WeakStrongViews(real), rate, seed=seed)


def bits_per_dim(model: nn.Module, images: Tensor, batch: int = 256,
                 device: str | torch.device = "auto") -> tuple[Tensor, Tensor]:
    """(bits/dim per ``model.bins``-level value, bits/dim in 8-bit units), each (N,) float64 on the
    host, of images (N, C, S, S) under a GCRL head (:func:`log_likelihood`; D = C * S * S). 8-bit
    units: uniform dequantisation within a bin, + log2(levels in the bin) per value
    (:func:`hlwb.ssl.pixelcnn.dequantization_bits`; + log2(256 / bins) = + 4 for 16 bins)."""
    d = images[0].numel()
    bits = -log_likelihood(model, images, batch=batch, device=device).double() / math.log(2)
    return bits / d, (bits + dequantization_bits(quantize(images, model.bins), model.bins).cpu()) / d


def compressed_bits(images: Tensor, bins: int = 16) -> Tensor:
    """L(x): bits of each image's PNG (Pillow, level 9) after quantising to ``bins`` levels, (N,)."""
    from PIL import Image

    u8 = data.to_uint8(dequantize(quantize(images, bins), bins)).cpu().numpy()  # (N, C, H, W)
    out = []
    for img in u8:
        buf = io.BytesIO()
        pic = Image.fromarray(img[0], mode="L") if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0), "RGB")
        pic.save(buf, format="PNG", compress_level=9)
        out.append(8 * len(buf.getvalue()))
    return torch.tensor(out, dtype=torch.float64)


def complexity_score(model: nn.Module, images: Tensor, batch: int = 256,
                     device: str | torch.device = "auto") -> Tensor:
    """log2 p(x) + L(x) in bits, i.e. -S(x) of Serra et al. 2020 (higher = more in-distribution);
    (N,) on the host, the likelihood computed on ``device``."""
    ll_bits = log_likelihood(model, images, batch=batch, device=device).double() / math.log(2)
    return ll_bits + compressed_bits(images, model.bins)


# ---- feature-space score ----


def knn_score(train_features: Tensor, features: Tensor, k: int = 1, chunk: int = 1024) -> Tensor:
    """-(1 - cos) to the k-th nearest of ``train_features`` (M, D) for each of ``features`` (N, D)."""
    if not 1 <= k <= len(train_features):
        raise ValueError(f"k must be in [1, {len(train_features)}], got {k}")
    bank = F.normalize(train_features.float(), dim=1)
    out = []
    for i in range(0, len(features), chunk):
        sim = F.normalize(features[i:i + chunk].float(), dim=1) @ bank.t()  # (n, M) cosine similarities
        out.append(sim.topk(k, dim=1).values[:, -1] - 1)
    return torch.cat(out)


# ---- OOD sets ----


def flip_vertical(images: Tensor) -> Tensor:
    return images.flip(-2)


def invert(images: Tensor) -> Tensor:
    """Intensities reversed (255 - v in uint8): background white, objects dark."""
    return -images


def ood_sets(n: int = 1000, seed: int = 0, severity: int = 3, dataset: str = "fashion_mnist",
             size: int | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """(in-distribution images, {name: OOD images}), float ``(<= n, C, S, S)`` in [-1, 1].

    In-distribution: ``n // classes`` test images of each class of ``dataset`` (its in-domain
    target's test draw, at ``size`` px). OOD: the test images (at most n) of every other dataset in
    its transfer suite (:func:`hlwb.targets.suite`; Fashion-MNIST: ``digits`` and ``letters``),
    converted to its spec; the same in-distribution images under each corruption
    (``shift/<name><severity>``), ``vflip`` and ``invert``.
    """
    x_in = T.in_domain(dataset, n_train=10, n_test=n, seed=seed, size=size).x_test
    spec = ImageSpec(x_in.shape[1], x_in.shape[-1])
    sets = {}
    for name in T.suite(dataset)[1:]:
        if name.endswith("_shift"):
            continue
        if name == "letters":  # the first n renderings (not the letters target's test draw)
            sets[name] = T.to_spec(T.render_letters(range(n), seed)[0], spec)
        else:
            sets[name] = T.load(name, spec, seed=seed).x_test[:n]
    sets |= {f"shift/{c}{severity}": T.corrupt(x_in, c, severity, seed) for c in T.CORRUPTIONS}
    sets |= {"vflip": flip_vertical(x_in), "invert": invert(x_in)}
    return x_in, sets


# ---- the OOD table ----

LIKELIHOOD_SCORES = ("log_likelihood", "likelihood_ratio", "complexity")


def ood_table(models: dict[str, nn.Module], background: nn.Module | None = None, n: int = 1000, seed: int = 0,
              k: int = 5, n_bank: int = 10_000, device: str | torch.device = "auto",
              dataset: str = "fashion_mnist", size: int | None = None) -> list[dict]:
    """AUROC and FPR@95 of every score for every model on every OOD set of :func:`ood_sets`.

    ``models``: name -> a GCRL method (:func:`hlwb.ssl.gcrl.load_gcrl`) or a plain trunk. The
    likelihood scores (log-likelihood, the ratio against ``background``, complexity-corrected)
    need a generative head (``alpha > 0``); every model gets the feature score :func:`knn_score`
    (its trunk's features; the ``k``-th neighbour among ``n_bank`` seeded *train* images of the
    in-distribution ``dataset``, never test). The likelihood of an image is conditioned on the trunk's feature of the
    image itself (at scoring time there is one image). Each likelihood is computed once per
    (model, set) and shared by the three scores (the background's once per set, shared by the
    models). Rows: ``encoder, score, ood_set, auroc, fpr95, n_in, n_out``; in-distribution is the
    positive class (module docstring).
    """
    from .evaluate import features

    device = devices.resolve(device)
    x_in, sets = ood_sets(n=n, seed=seed, dataset=dataset, size=size)
    train = data.load(dataset, "train", size)
    bank_idx = torch.randperm(len(train.images), generator=make_generator(seed))[:n_bank]
    bank_images = train.images[bank_idx]
    rows = []

    def add(name: str, score: str, s_in: Tensor, outs: dict[str, Tensor]) -> None:
        for ood_name, s_out in outs.items():
            rows.append({"encoder": name, "score": score, "ood_set": ood_name, "auroc": auroc(s_in, s_out),
                         "fpr95": fpr_at_tpr(s_in, s_out), "n_in": len(s_in), "n_out": len(s_out)})

    sets_all = {"in": x_in, **sets}  # each likelihood is computed once per (model, set) and reused
    bg_ll = ({s: log_likelihood(background, x, device=device) for s, x in sets_all.items()}
             if background is not None and any(getattr(m, "alpha", 0) > 0 for m in models.values()) else None)
    png_bits: dict[int, dict[str, Tensor]] = {}  # L(x) per set, per quantisation (bins) of the models
    for name, model in models.items():
        model.to(device).eval()
        trunk = getattr(model, "encoder", model)
        bank = features(trunk, bank_images)
        knn = {s: knn_score(bank, features(trunk, x), k).cpu() for s, x in sets_all.items()}
        add(name, f"knn_k{k}", knn["in"], {s: v for s, v in knn.items() if s != "in"})
        if getattr(model, "alpha", 0) > 0:
            ll = {s: log_likelihood(model, x, device=device) for s, x in sets_all.items()}
            if model.bins not in png_bits:
                png_bits[model.bins] = {s: compressed_bits(x, model.bins) for s, x in sets_all.items()}
            bits = png_bits[model.bins]
            scores = {"log_likelihood": ll,  # the two others as complexity_score and likelihood_ratio compute them
                      "complexity": {s: v.double() / math.log(2) + bits[s] for s, v in ll.items()}}
            if bg_ll is not None:
                scores["likelihood_ratio"] = {s: v - bg_ll[s] for s, v in ll.items()}  # likelihood_ratio
            for score, by_set in scores.items():
                add(name, score, by_set["in"], {s: v for s, v in by_set.items() if s != "in"})
    return rows
