"""Per-arm positives statistics: how far an arm's walker moves z, and whether the oracle still agrees.

For a generated arm (a view strategy whose positive is ``g(walker(z))``), on ``n`` seeded anchors:

* ``mean_delta``: mean over anchors of ``||z' - z||`` over the whole code (all chunks concatenated),
  with the per-chunk means ``delta_chunks`` (:func:`hlwb.walkers.delta`);
* ``agreement``: the fraction of anchors whose positive ``g(z')`` gets the oracle label of ``g(z)``,
  both decoded *before* the pixel augmentation T_x, with its 95 % Wilson interval.

This is one definition with :func:`hlwb.minmax.monte_carlo`'s ``oracle_agreement`` (notebook 03's
walker table): the same anchors (:func:`hlwb.minmax.anchor_batches`, seed ``10**6``, truncated as the
generator's family samples them) and the same noise stream per anchor batch (``row_seed(seed, j,
EXTRA)``), so at the same ``batch`` a walker scores the same here as there (tested). The issue-29
review's 0.665 (paper rule) and 0.734 (GenRep) came from no code in the repository; this definition on
2000 anchors of the shipped biggan gives 0.664 and 0.749. Accuracy set against ``mean_delta`` asks
whether gains follow diversity; set against ``agreement``, whether they follow semantic consistency
(docs/methods.md §4, §7). The real arm (no walker) and RCG (no latent walker) have no row.
"""

from __future__ import annotations

from typing import Any

import torch

from . import devices
from . import latents as L
from .generators import HLGenerator
from .hierarchy import wilson
from .minmax import anchor_batches
from .oracle import Oracle
from .walkers import Walker, delta

SEED = 10**6  # minmax.monte_carlo's anchor seed: the same anchors as notebook 03's walker table
N_ANCHORS = 2000
BATCH = 500  # anchors decoded per generator call
NO_WALKER = ("real", "rcg")  # strategies whose positive is not g(walker(z))


@torch.no_grad()
def stats(gen: HLGenerator, walker: Walker, oracle: Oracle, n: int = N_ANCHORS, seed: int = SEED,
          batch: int = BATCH, device: str | torch.device = "auto", anchors: list[dict] | None = None) -> dict[str, Any]:
    """Mean ``||z' - z||`` and oracle agreement of ``walker``'s positives on ``n`` anchors of ``seed``.

    Args:
        gen: the generator (moved to ``device``); its anchors are ``gen.sample_latents(n, seed)``.
        walker: latents in, positive latents out (one tensor ``(n, dim_k)`` per chunk).
        oracle: the semantic oracle F_T of the generator's image spec.
        n: anchors; batch: anchors decoded per call (the noise of batch j is ``row_seed(seed, j, EXTRA)``).
        anchors: :func:`hlwb.minmax.anchor_batches` of the same ``gen, n, batch, seed, oracle``, decoded
            once for several walkers (None: decoded here).

    Returns ``{"n", "mean_delta", "delta_chunks", "agreement", "agreement_ci"}``.
    """
    if n < 1 or batch < 1:
        raise ValueError(f"n and batch must be >= 1 (anchors, anchors per call), got n={n}, batch={batch}")
    dev = devices.resolve(device)
    walker.to(dev).eval()
    norms, per_chunk, agree = [], [], []
    if anchors is None:
        anchors = anchor_batches(gen, n, batch, seed, oracle, device=dev)
    if sum(len(a["x"]) for a in anchors) != n:
        raise ValueError(f"anchors hold {sum(len(a['x']) for a in anchors)} anchors, expected n={n}")
    for a in anchors:
        z = [t.to(dev) for t in a["z"]]
        zp = walker(z, seed=L.row_seed(seed, a["j"], L.EXTRA))  # minmax.monte_carlo's noise stream
        d = delta(z, zp)  # (b, K)
        norms.append(d.pow(2).sum(1).sqrt())  # ||z' - z|| over the whole code
        per_chunk.append(d)
        agree.append(a["y"].to(dev) == oracle.predict(gen.generate(zp)).to(dev))
    ok = torch.cat(agree).double().mean().item()
    return {"n": n, "mean_delta": torch.cat(norms).mean().item(),
            "delta_chunks": torch.cat(per_chunk).mean(0).tolist(), "agreement": ok,
            "agreement_ci": list(wilson(ok, n))}


def arm_stats(params: dict[str, Any], oracle: Oracle, n: int = N_ANCHORS, seed: int = SEED,
              device: str | torch.device = "auto") -> dict[str, Any] | None:
    """:func:`stats` of the walker a notebook-05 run's views use (``params``: the run's saved
    :class:`hlwb.config.PretrainParams`, e.g. its ``config.json``, or an arm's parameters over the
    defaults); None for a strategy without a latent walker (``real``, ``rcg``). The walker is the one
    :func:`hlwb.pretrain.run_source` builds for continuous sampling (same strategy, rule, ``hl_keep``,
    ``hl_scale``, walkers; a fixed set or GCRL's views hold the same walker)."""
    rows = table({"arm": params}, oracle, n, seed, device)
    return rows[0] if rows else None


def table(arms: dict[str, dict[str, Any]], oracle: Oracle, n: int = N_ANCHORS, seed: int = SEED,
          device: str | torch.device = "auto") -> list[dict[str, Any]]:
    """One :func:`arm_stats` row per arm (``arm -> run parameters``), arms without a walker left out;
    the anchors are decoded once per generator and shared by its arms (same anchors, same noise)."""
    from .config import PretrainParams
    from .pretrain import run_source

    fields, rows, shared = set(PretrainParams.__dataclass_fields__), [], {}
    for arm, params in arms.items():
        p = PretrainParams(**{**{k: v for k, v in params.items() if k in fields}, "sampling": "continuous",
                              "method": "simclr"})
        if p.strategy in NO_WALKER:
            continue
        src = run_source(p, device)
        key = (p.generator, p.dataset, p.image_size)
        if key not in shared:
            shared[key] = (src.gen, anchor_batches(src.gen, n, BATCH, seed, oracle, device=devices.resolve(device)))
        gen, anchors = shared[key]
        rows.append({"arm": arm, "strategy": p.strategy, "generator": p.generator,
                     **stats(gen, src.walker, oracle, n, seed, BATCH, device, anchors=anchors)})
    return rows


FIGURE_PROTOCOLS = {"linear": "linear", "knn_k20": "knn"}  # the study's probes -> the strength figure's panels


def figure_rows(accuracy: list[dict[str, Any]], stats_rows: list[dict[str, Any]], curves: dict[str, str | None],
                ci: float = 0.95, protocols: dict[str, str] = FIGURE_PROTOCOLS) -> list[dict[str, Any]]:
    """Rows of :func:`hlwb.plots.save_strength_figure`: each arm with a positives row, per protocol of
    ``protocols`` (renamed to the figure's panel: linear, knn), its accuracy's mean over seeds with a
    t-interval over seeds (``mean ± t * std / sqrt(n)``; one seed: no interval, the mean at both ends) at
    its positives' mean ``||z' - z||``.

    Args:
        accuracy: rows with ``arm``, ``protocol``, ``mean``, ``std``, ``n_seeds`` (accuracy in %; e.g. the
            records of :func:`hlwb.transfer.gains_table`).
        stats_rows: :func:`table`'s rows (``arm``, ``mean_delta``, ...).
        curves: arm -> its strength curve (:func:`hlwb.study.strength_curve`), None for a point.
    """
    import math

    from scipy import stats as st

    delta_of = {r["arm"]: r["mean_delta"] for r in stats_rows}
    out = []
    for r in accuracy:
        if r["arm"] not in delta_of or r["protocol"] not in protocols:
            continue
        n, sd = int(r["n_seeds"]), r.get("std")
        half = (st.t.ppf(0.5 + ci / 2, n - 1) * sd / math.sqrt(n)
                if n > 1 and sd is not None and math.isfinite(sd) else 0.0)
        out.append({"arm": r["arm"], "protocol": protocols[r["protocol"]], "mean_delta": delta_of[r["arm"]], "mean": r["mean"],
                    "ci_low": r["mean"] - half, "ci_high": r["mean"] + half, "n_seeds": n,
                    "curve": curves.get(r["arm"])})
    return out
