"""RCG's measurements at 32x32: the conditioning ablation and the contrastive-softmax posterior sweep.

The conditioning ablation (RCG Table 9a) conditions one generator architecture, trained for one
budget, on what each row names; every row is scored by FD_oracle against the real test images
(next to the real-vs-real floor at the same n), the entropy of the oracle's label histogram of
its samples and the smallest class share (diversity):

    unconditional   the representation-conditioned generator's null-vector path (the
                    classifier-free-guidance branch it was trained with, p = 0.1: about a tenth
                    of the conditioned rows' budget; notebook 07 adds a generator trained with the
                    null vector always, at the same steps and batch)
    clusters_<k>    the centroid of a k-means cluster of the train representations, the cluster
                    drawn with its train frequency (cluster labels as the conditioning)
    class_labels    the prototype of a class (:func:`hlwb.rcg.space.class_prototypes`), the
                    class drawn with its train frequency, fed to the same generator
    class_trained   the same, fed to a generator *trained* on class prototypes (the shortcut's check)
    rdm             RDM samples (the full RCG pipeline: nothing real is used at sampling)
    real_reps       representations of real train images (RCG's "oracle" row: the generator saw
                    these pairs in training)

Guidance (``guidance`` w) is classifier-free guidance on the conditioning
(:meth:`hlwb.rcg.RepConditionedGenerator.condition`); ``guide="output"`` is the output
extrapolation, named so.

Every conditioning draw is addressable by ``seed``; every row uses the same generator noise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import latents as L
from ..metrics import frechet_distance
from .posterior import log_selection_probs, plugin_mi_bits, rate_bits, sample_selection
from .space import class_prototypes, sphere_prior, standardize


def kmeans_centroids(reps: Tensor, k: int, seed: int) -> tuple[Tensor, Tensor]:
    """k-means (scikit-learn, k-means++, 3 restarts) on standardised ``reps (N, d)``:
    ``(centroids (k, d) standardised, cluster sizes (k,) as fractions)``."""
    from sklearn.cluster import KMeans

    z = standardize(reps)
    if not 2 <= k <= len(z):
        raise ValueError(f"k must be in [2, {len(z)}], got {k}")
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(z.double().numpy())
    sizes = torch.bincount(torch.as_tensor(km.labels_, dtype=torch.long), minlength=k).double()
    return standardize(torch.as_tensor(km.cluster_centers_, dtype=torch.float32)), sizes / sizes.sum()


def draw_prototypes(prototypes: Tensor, weights: Tensor, n: int, seed: int) -> Tensor:
    """``n`` rows of ``prototypes (m, d)``, row j drawn with probability ``weights[j]`` (seeded). (n, d)."""
    idx = torch.multinomial(weights.double(), n, replacement=True, generator=L.make_generator(seed))
    return prototypes[idx]


def draw_rows(reps: Tensor, n: int, seed: int) -> Tensor:
    """``n`` standardised rows of ``reps`` drawn without replacement (seeded). (n, d)."""
    if n > len(reps):
        raise ValueError(f"n = {n} exceeds the {len(reps)} representations")
    return standardize(reps[torch.randperm(len(reps), generator=L.make_generator(seed))[:n]])


def label_entropy_bits(labels: Tensor, n_classes: int) -> tuple[float, float]:
    """``(entropy in bits of the label histogram (<= log2 n_classes), smallest class share)``.

    Args: labels (N,) in [0, n_classes); n_classes: the oracle's classes (``oracle.spec.n_classes``)."""
    if len(labels) == 0:
        raise ValueError("no labels: the entropy of an empty histogram is undefined")
    p = torch.bincount(labels.cpu(), minlength=n_classes).double() / len(labels)
    nz = p[p > 0]
    return max(0.0, float(-(nz * nz.log2()).sum())), float(p.min())


@torch.no_grad()
def generate(gen, rep: Tensor | None, n: int, seed: int, guidance: float = 0.0, guide: str = "condition") -> Tensor:
    """``n`` images (n, C, S, S) of the representation-conditioned generator from the anchors of ``seed``,
    conditioned on ``rep (n, d)`` (standardised; None: the null vector) at guidance ``guidance`` on the
    conditioning (``guide="output"``: the output extrapolation). On the generator's device."""
    z = gen.sample_latents(n, seed=seed)
    r = None if rep is None else rep.to(gen.device)
    return gen.generate(z, r, guidance=guidance, guide=guide)


def score_row(images: Tensor, oracle, test_features: Tensor) -> dict:
    """FD_oracle of ``images`` against ``test_features``, label entropy and smallest class share."""
    fd = frechet_distance(oracle.features(images), test_features)
    ent, low = label_entropy_bits(oracle.predict(images), oracle.spec.n_classes)
    return {"fd_oracle": fd, "label_entropy": ent, "min_class_share": low}


def ablation_conditionings(reps: Tensor, labels: Tensor, n: int, seed: int, ks: list[int], rdm=None,
                           rdm_steps: int = 50) -> dict[str, Tensor | None]:
    """What each representation-conditioned row of the ablation feeds the generator, ``n`` rows each
    (standardised, host): ``unconditional`` (None: the null vector), ``clusters_<k>`` for each k,
    ``class_labels`` (class prototypes drawn with the train class frequencies), ``rdm`` (DDIM samples
    of ``rdm``, when given) and ``real_reps`` (real train representations, RCG's "oracle" row). Every
    draw seeded by ``seed``.

    Args: reps (N, d) raw train representations; labels (N,) their classes.
    """

    rows: dict[str, Tensor | None] = {"unconditional": None}
    for k in ks:
        centroids, sizes = kmeans_centroids(reps, k, seed)
        rows[f"clusters_{k}"] = draw_prototypes(centroids, sizes, n, seed)
    prototypes = class_prototypes(reps, labels)
    freq = torch.bincount(labels, minlength=len(prototypes)).double()
    rows["class_labels"] = draw_prototypes(prototypes, freq / freq.sum(), n, seed)
    if rdm is not None:
        rows["rdm"] = standardize(rdm.sample(n, seed=seed, steps=rdm_steps).cpu())
    rows["real_reps"] = draw_rows(reps, n, seed)
    return rows


def posterior_cell(emb: Tensor, dictionary: Tensor, temperature: float, seed: int) -> tuple[dict, Tensor]:
    """One (dictionary, T): rate and plug-in MI in bits, and one seeded selection per input.

    Args: emb (N, d) standardised embeddings of the inputs; dictionary (K, d) prior draws.
    Returns ``({"rate_bits", "mi_bits"}, chosen representations (N, d))``.
    """
    logq = log_selection_probs(emb, dictionary, temperature)
    idx = sample_selection(logq, seed)
    return {"rate_bits": rate_bits(logq), "mi_bits": plugin_mi_bits(logq)}, dictionary[idx.to(dictionary.device)]


def _match(encoder, oracle, rendered: Tensor, emb: Tensor, x_label: Tensor) -> dict:
    """Oracle-label agreement of ``rendered`` with the inputs' labels ``x_label`` and the mean cosine of
    its standardised encoder features with the inputs' ``emb``."""
    from ..evaluate import features

    return {"agreement": float((oracle.predict(rendered).cpu() == x_label).double().mean()),
            "feature_cosine": float(torch.nn.functional.cosine_similarity(
                standardize(features(encoder, rendered).cpu()), emb).mean())}


def prior_dictionary(prior: str, k: int, dim: int, seed: int, rdm=None) -> Tensor:
    """``k`` standardised prior representations: ``"rdm"`` (DDIM samples of ``rdm``) or
    ``"sphere"`` (uniform on the sphere, :func:`hlwb.rcg.space.sphere_prior`). (k, dim), host."""
    if prior == "rdm":
        if rdm is None:
            raise ValueError("prior 'rdm' needs the RDM")
        return standardize(rdm.sample(k, seed=seed).cpu())
    if prior == "sphere":
        return standardize(sphere_prior(k, dim, seed=seed))
    raise ValueError(f"prior must be 'rdm' or 'sphere', got {prior!r}")


@torch.no_grad()
def posterior_sweep(images: Tensor, encoder, gen, oracle, ks: list[int], temperatures: list[float],
                    priors: tuple[str, ...] = ("rdm", "sphere"), n_dicts: int = 3, seed: int = 0,
                    rdm=None, guidance: float = 0.0) -> list[dict]:
    """The contrastive-softmax posterior over a grid of K and T, averaged over ``n_dicts`` dictionaries.

    For input images x (the first N test images, say), each dictionary R of K prior draws and
    each T: x picks r_k ~ softmax_k(cos(e(x), r_k) / T); the generator renders r_k (fixed
    generator noise per input); we record the rate log K - mean H and the plug-in MI in bits,
    the oracle-label agreement between x and its rendering, and the cosine between the
    encoder's standardised features of x and of its rendering (the cosine the selection uses).
    The plug-in MI from N inputs is at most log2 N bits (``log2_N`` in each row, beside ``log2_K``).
    One row per (prior, K, T): means over the dictionaries (``*_sd``: their standard deviation,
    the spread over dictionaries). Common random numbers: dictionary d of a given K is the same
    for every T, and its selection draws the same uniforms for every prior, K and T, so cells
    differ by what the grid changes, not by sampling noise.
    """
    from ..evaluate import features

    x_feat = features(encoder, images).cpu()
    emb = standardize(x_feat)
    x_label = oracle.predict(images).cpu()
    rows = []
    for prior in priors:
        for k in ks:
            dicts = [prior_dictionary(prior, k, emb.shape[1], seed=L.row_seed(seed, 1000 * k + d), rdm=rdm)
                     for d in range(n_dicts)]
            for t in temperatures:
                cells = []
                for d, dictionary in enumerate(dicts):
                    bits, chosen = posterior_cell(emb, dictionary, t, seed=L.row_seed(seed, d, L.EXTRA))
                    out = generate(gen, chosen, len(images), seed=seed, guidance=guidance)
                    cells.append({**bits, **_match(encoder, oracle, out, emb, x_label)})
                row = {"prior": prior, "K": k, "T": t, "log2_K": math.log2(k), "n": len(images),
                       "log2_N": math.log2(len(images)), "n_dicts": n_dicts}
                for key in cells[0]:
                    vals = torch.tensor([c[key] for c in cells], dtype=torch.float64)
                    row[key] = float(vals.mean())
                    row[key + "_sd"] = float(vals.std()) if len(vals) > 1 else 0.0
                rows.append(row)
    return rows


@torch.no_grad()
def reference_agreement(images: Tensor, encoder, gen, oracle, seed: int = 0, guidance: float = 0.0) -> dict:
    """The two ends the posterior should climb between: the generator conditioned on each input's
    own representation (``own_rep``, K -> inf, T -> 0) and on the null vector (``unconditional``,
    T -> inf), with the same noise: oracle-label agreement with x and the cosine of standardised
    encoder features (as in :func:`posterior_sweep`)."""
    from ..evaluate import features

    emb = standardize(features(encoder, images).cpu())
    x_label = oracle.predict(images).cpu()
    out = {}
    for name, rep in (("own_rep", emb), ("unconditional", None)):
        out[name] = _match(encoder, oracle, generate(gen, rep, len(images), seed=seed, guidance=guidance), emb, x_label)
    return out
