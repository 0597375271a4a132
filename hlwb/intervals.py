"""Intervals for accuracy differences whose unit of replication is the pretraining seed.

Every number here is a difference in top-1 points between two sets of per-test-image
correctness: an arm's, one row per pretraining seed ``(S, N)``, and a reference's, either one
deterministic vector ``(N,)`` (raw pixels) or another arm's seeds ``(S', N)``. The estimand is
the population difference: expected over training seeds *and* over test images. Its variance
has two sources (a crossed random-effects model, seeds x images):

    d[s, i] = delta + u[s] + v[i] + e[s, i]     Var(mean d) = s_u^2 / S + s_v^2 / N + s_e^2 / (S N)

The seed term is estimated from the spread of the per-seed mean differences (exactly the paired
t's variance), the image term from the two-way ANOVA mean squares, and the interval is a
t-interval with the seed components' degrees of freedom (S - 1; Welch-Satterthwaite when
unpaired): with 2-5 seeds that is what keeps it covering; where the image term dominates it is
conservative (simulated coverage ~0.99 for a gain over pixels). :func:`seed_interval` picks the
case from its inputs:

- ``paired_t``: both sides are arms with the same seeds; seed s of a is paired with seed s of b
  (same init and data order), each difference on the same test images.
- ``one_sample_t``: the reference is deterministic (pixels): a t over the arm's per-seed gains.
- ``welch_t``: seed sets differ (e.g. the random trunk's init seeds): the two sides' seed means,
  unpaired, each with its own seed variance (Welch); the test images are still paired.
- ``pooled_t``: one side has one seed, the other several: the single seed's variance is taken
  as the other side's (its own cannot be estimated); said, never hidden.
- ``images_only``: one seed each (or one seed against a deterministic reference): seed variance
  cannot be estimated; the interval covers test-image sampling only.

:func:`two_level_bootstrap` (seeds, then images; percentile) is kept for comparison: resampling
each arm's seeds separately (``paired=False``) is the scheme the study used before, which
under-covers with a few seeds (:func:`simulate_coverage`). :func:`holm` adjusts a named family
of p-values (Holm 1979, step-down Bonferroni). See docs/methods.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

METHODS = ("paired_t", "one_sample_t", "welch_t", "pooled_t", "images_only", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A difference a - b in points with its interval; ``method`` names how (module docstring)."""

    gain: float        # a - b, top-1 points
    ci_low: float
    ci_high: float
    p_value: float     # two-sided, H0: no difference
    method: str
    se: float          # standard error, points (the bootstrap: sd of the draws)
    df: float          # t degrees of freedom (inf for the bootstrap)
    n_seeds: int       # seeds of a
    n_seeds_ref: int   # seeds of b (0: a deterministic reference)
    n_images: int

    def as_dict(self) -> dict:
        """The fields as JSON-ready values (an infinite df, the bootstrap's, as None)."""
        d = asdict(self)
        d["df"] = d["df"] if math.isfinite(d["df"]) else None
        return d


def _as_2d(x: np.ndarray | Sequence, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 2:
        raise ValueError(f"{name} must be per-image correctness (N,) or (seeds, N) with N >= 2, "
                         f"got shape {np.shape(x)}")
    return a


def _check(a: np.ndarray, b: np.ndarray, ci: float) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"arm and reference must be scored on the same test images, got {a.shape[1]} "
                         f"and {b.shape[1]}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), e.g. 0.95, got {ci}")


def _mean_squares(d: np.ndarray) -> tuple[float, float, float]:
    """Two-way ANOVA of ``d (S, N)`` without replication: mean squares of seeds, images, residual
    (the residual from the sums-of-squares identity, without forming the residual matrix)."""
    s, n = d.shape
    row, col = d.mean(1), d.mean(0)
    grand = row.mean()
    ss_seed = n * float(((row - grand) ** 2).sum())
    ss_img = s * float(((col - grand) ** 2).sum())
    if s == 1:
        return float("nan"), ss_img / (n - 1), float("nan")
    ss_res = max(0.0, float(np.einsum("ij,ij->", d, d)) - s * n * grand * grand - ss_seed - ss_img)
    return ss_seed / (s - 1), ss_img / (n - 1), ss_res / ((s - 1) * (n - 1))


def _t_interval(gain: float, parts: list[tuple[float, float]], image_var: float, ci: float, method: str,
                n_a: int, n_b: int, n: int) -> Interval:
    """A t-interval: variance the seed components ``[(variance, df), ...]`` plus ``image_var``;
    degrees of freedom Satterthwaite's over the seed components alone (the image term's ~N df
    would raise them, and with 2-5 seeds an underestimated seed variance then goes uncorrected:
    keeping the seed df is the conservative choice)."""
    seed_var = sum(v for v, _ in parts)
    den = sum(v * v / k for v, k in parts if v > 0)
    df = seed_var * seed_var / den if den > 0 else float(min(k for _, k in parts))
    se = math.sqrt(max(seed_var + image_var, 0.0))
    if se == 0.0:
        p = 1.0 if gain == 0 else 0.0
        return Interval(gain, gain, gain, p, method, 0.0, df, n_a, n_b, n)
    q = float(stats.t.ppf((1 + ci) / 2, df))
    p = float(2 * stats.t.sf(abs(gain) / se, df))
    return Interval(gain, gain - q * se, gain + q * se, p, method, se, df, n_a, n_b, n)


def seed_interval(a: np.ndarray | Sequence, b: np.ndarray | Sequence, paired: bool = False,
                  ci: float = 0.95) -> Interval:
    """The seed-level interval of mean(a) - mean(b) in top-1 points (module docstring).

    Args:
        a: the arm's per-image correctness, ``(S_a, N)`` (one row per pretraining seed) or ``(N,)``.
        b: the reference's: ``(N,)`` a deterministic reference (raw pixels), or ``(S_b, N)``
            another arm's (or the random trunk's init seeds).
        paired: row s of ``a`` and row s of ``b`` share their seed (same seed list, in order);
            needs ``S_a == S_b``. Not for references: their seeds are not pretraining seeds.
        ci: nominal coverage.
    """
    deterministic = np.ndim(b) == 1
    a2, b2 = _as_2d(a, "arm"), _as_2d(b, "reference")
    _check(a2, b2, ci)
    sa, sb, n = a2.shape[0], b2.shape[0], a2.shape[1]
    gain = 100.0 * (a2.mean() - b2.mean())
    nb = 0 if deterministic else sb
    if paired and (deterministic or sa != sb):
        raise ValueError(f"paired needs the same seeds on both sides, got {sa} and "
                         f"{'a deterministic reference' if deterministic else sb}")
    if paired or deterministic:
        d = 100.0 * (a2 - b2)  # (S, N): one difference per seed, on the same images
        s = d.shape[0]
        ms_seed, ms_img, ms_res = _mean_squares(d)
        if s == 1:
            return _t_interval(gain, [(ms_img / n, n - 1)], 0.0, ci, "images_only", sa, nb, n)
        # Var(mean d) = (MS_seed + MS_img - MS_res) / (S N); MS_seed / (S N) = s_d^2 / S is the paired t's
        img = max(0.0, (ms_img - ms_res) / (s * n))
        return _t_interval(gain, [(ms_seed / (s * n), s - 1)], img, ci, "paired_t" if paired else "one_sample_t",
                           sa, nb, n)
    # unpaired seeds: Welch over the seed means; the images are shared, so their term is the
    # variance of the per-image mean difference less each side's residual (cell) noise
    ma, mb = 100.0 * a2.mean(1), 100.0 * b2.mean(1)  # (S_a,), (S_b,): per-seed accuracies
    col = 100.0 * (a2.mean(0) - b2.mean(0))  # (N,)
    res = [_mean_squares(100.0 * x)[2] / x.shape[0] if x.shape[0] > 1 else 0.0 for x in (a2, b2)]
    img = max(0.0, (col.var(ddof=1) - sum(res)) / n)
    if sa == 1 and sb == 1:
        return _t_interval(gain, [(col.var(ddof=1) / n, n - 1)], 0.0, ci, "images_only", sa, nb, n)
    if min(sa, sb) == 1:  # one side's seed variance borrowed from the other (pooled)
        many = ma if sa > 1 else mb
        v = many.var(ddof=1) * (1 / sa + 1 / sb)
        return _t_interval(gain, [(v, len(many) - 1)], img, ci, "pooled_t", sa, nb, n)
    va, vb = ma.var(ddof=1) / sa, mb.var(ddof=1) / sb
    return _t_interval(gain, [(va, sa - 1), (vb, sb - 1)], img, ci, "welch_t", sa, nb, n)


def _counts(idx: np.ndarray, k: int) -> np.ndarray:
    """Row-wise counts ``(B, k)`` float32 of the indices ``idx (B, m)`` in ``0..k-1``."""
    flat = (np.arange(idx.shape[0])[:, None] * k + idx).ravel()
    return np.bincount(flat, minlength=idx.shape[0] * k).reshape(idx.shape[0], k).astype(np.float32)


def image_counts(n_boot: int, n: int, seed: int = 0) -> np.ndarray:
    """``(n_boot, N)`` float32 multinomial counts, each row one resample of the N test images: the
    image draws of :func:`two_level_bootstrap` with ``seed`` (pass them to reuse across calls)."""
    return _counts(np.random.default_rng([seed, 0]).integers(0, n, (n_boot, n)), n)


def two_level_bootstrap(a: np.ndarray | Sequence, b: np.ndarray | Sequence, paired: bool = False,
                        n_boot: int = 2000, seed: int = 0, ci: float = 0.95,
                        counts: np.ndarray | None = None) -> Interval:
    """Percentile interval of mean(a) - mean(b) in points: each draw resamples seeds, then test images.

    Args:
        a, b: as :func:`seed_interval` (``b (N,)``: a deterministic reference, never resampled over seeds).
        paired: resample seed indices jointly (row s of a with row s of b); else each side's seeds
            separately (the scheme the study used before this module).
        n_boot: draws; seed: their seed (seeds and images are drawn from separate streams).
        counts: ``(n_boot, N)`` :func:`image_counts` to reuse (a simulation drawing many
            intervals with the same ``seed`` may pass them once); default: drawn from ``seed``.
    """
    deterministic = np.ndim(b) == 1
    a2, b2 = _as_2d(a, "arm"), _as_2d(b, "reference")
    _check(a2, b2, ci)
    sa, sb, n = a2.shape[0], b2.shape[0], a2.shape[1]
    if paired and (deterministic or sa != sb):
        raise ValueError(f"paired needs the same seeds on both sides, got {sa} and {sb}")
    w = image_counts(n_boot, n, seed) if counts is None else counts
    if w.shape != (n_boot, n):
        raise ValueError(f"counts must be (n_boot, N) = ({n_boot}, {n}), got {w.shape}")
    rng = np.random.default_rng([seed, 1])
    ca = _counts(rng.integers(0, sa, (n_boot, sa)), sa)  # (B, S_a): how often each seed is drawn
    cb = ca if paired else (_counts(rng.integers(0, sb, (n_boot, sb)), sb) if sb > 1 else np.ones((n_boot, 1)))
    per = (w @ np.concatenate([a2, b2]).T.astype(np.float32)).astype(np.float64) / n  # (B, S_a + S_b)
    per_a, per_b = per[:, :sa], per[:, sa:]  # each seed's accuracy on each image resample
    draws = 100.0 * ((ca * per_a).sum(1) / sa - (cb * per_b).sum(1) / sb)  # (B,)
    lo, hi = np.quantile(draws, [(1 - ci) / 2, (1 + ci) / 2])
    p = min(1.0, 2 * min((draws <= 0).mean(), (draws >= 0).mean()))
    return Interval(100.0 * (a2.mean() - b2.mean()), float(lo), float(hi), float(p), "bootstrap",
                    float(draws.std(ddof=1)), float("inf"), sa, 0 if deterministic else sb, n)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values of one family (step-down; monotone; capped at 1).

    ``p_values (M,)``; a comparison is resolved at level alpha when its adjusted p < alpha,
    which controls the family-wise error rate at alpha (Holm 1979)."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or np.isnan(p).any() or ((p < 0) | (p > 1)).any():
        raise ValueError(f"p_values must be a 1-d sequence in [0, 1], got {p_values!r}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


# ---- coverage by simulation ----

def simulate(n_rep: int, seeds_a: int, seeds_b: int, seed: int, accuracy: float = 0.85, gap: float = 0.5,
             seed_sd: float = 0.5, n_images: int = 10_000, difficulty_sd: float = 1.5, arm_image_sd: float = 0.3,
             seed_corr: float = 0.0):
    """Replicates of a two-arm comparison under seed-level shifts; yields ``(a, b, truth)`` per replicate.

    A probit model of per-image correctness: arm x, seed s, image i is right when
    ``mu_x + z_i + v_xi + u_xs + e_xsi > 0`` with image difficulty ``z ~ N(0, difficulty_sd^2)`` (shared:
    the pairing over images), an arm's own per-image preference ``v ~ N(0, arm_image_sd^2)``, a seed
    shift ``u`` (sd chosen so one seed's accuracy moves by ``seed_sd`` points; correlation
    ``seed_corr`` between the arms' same seeds) and unit noise ``e``. The population accuracies are
    exactly ``accuracy + gap / 100`` (a) and ``accuracy`` (b), so ``truth`` is ``gap`` points.

    Args:
        seeds_a: seeds of arm a (``(S_a, N)`` bool per replicate).
        seeds_b: seeds of b; 0: a deterministic reference (one draw, no seed shift, ``(N,)``).
    """
    if seeds_a < 1 or seeds_b < 0 or n_rep < 1:
        raise ValueError(f"need n_rep >= 1, seeds_a >= 1 and seeds_b >= 0, got {n_rep}, {seeds_a}, {seeds_b}")
    rng = np.random.default_rng(seed)
    base = 1.0 + difficulty_sd ** 2 + arm_image_sd ** 2  # latent variance without the seed shift
    q = stats.norm.ppf(accuracy)
    sd_u = seed_sd / 100 * math.sqrt(base) / stats.norm.pdf(q)  # first order: d acc / d u = pdf / sqrt(base)
    tot_a, tot_b = math.sqrt(base + sd_u ** 2), math.sqrt(base + (sd_u ** 2 if seeds_b else 0.0))
    mu_a, mu_b = stats.norm.ppf(accuracy + gap / 100) * tot_a, q * tot_b
    s = max(seeds_a, seeds_b)
    for _ in range(n_rep):
        z = rng.standard_normal(n_images, dtype=np.float32) * difficulty_sd
        u = rng.standard_normal((2, s))
        u[1] = seed_corr * u[0] + math.sqrt(1 - seed_corr ** 2) * u[1]
        u *= sd_u
        va, vb = (rng.standard_normal((2, n_images), dtype=np.float32) * arm_image_sd)
        a = (mu_a + z + va + u[0, :seeds_a, None]
             + rng.standard_normal((seeds_a, n_images), dtype=np.float32)) > 0
        if seeds_b:
            b = (mu_b + z + vb + u[1, :seeds_b, None]
                 + rng.standard_normal((seeds_b, n_images), dtype=np.float32)) > 0
        else:
            b = (mu_b + z + vb + rng.standard_normal(n_images, dtype=np.float32)) > 0
        yield a, b, gap


def simulate_coverage(method: str, n_rep: int, seeds_a: int, seeds_b: int, seed: int = 0, ci: float = 0.95,
                      n_boot: int = 500, **model) -> float:
    """Fraction of ``n_rep`` simulated intervals (:func:`simulate`) that contain the true gap.

    ``method``: ``t`` (:func:`seed_interval`, paired when both sides have the same seeds and
    ``seeds_b`` > 0), ``bootstrap`` (:func:`two_level_bootstrap`, paired likewise) or
    ``bootstrap_per_arm`` (each arm's seeds resampled separately: the former scheme)."""
    if method not in ("t", "bootstrap", "bootstrap_per_arm"):
        raise ValueError(f"method must be t, bootstrap or bootstrap_per_arm, got {method!r}")
    paired = seeds_a == seeds_b and seeds_b > 0 and method != "bootstrap_per_arm"
    w = None
    hits = 0
    for a, b, truth in simulate(n_rep, seeds_a, seeds_b, seed, **model):
        if method == "t":
            iv = seed_interval(a, b, paired=paired, ci=ci)
        else:
            if w is None:
                w = image_counts(n_boot, a.shape[-1])
            iv = two_level_bootstrap(a, b, paired=paired, n_boot=n_boot, ci=ci, counts=w)
        hits += iv.ci_low <= truth <= iv.ci_high
    return hits / n_rep
