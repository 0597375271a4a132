"""Per-arm positives statistics: how far an arm's walker moves z, and whether the oracle still agrees.

For a generated arm (a view strategy whose positive is ``g(walker(z))``), on ``n`` seeded anchors:

* ``mean_delta``: mean over anchors of ``||z' - z||`` over the whole code (all chunks concatenated),
  with the per-chunk means ``delta_chunks`` (:func:`hlwb.walkers.delta`);
* ``agreement``: the fraction of anchors whose positive ``g(z')`` gets the oracle label of ``g(z)``,
  both decoded *before* the pixel augmentation T_x, with its 95 % Wilson interval.

This is one definition with :func:`hlwb.minmax.monte_carlo`'s ``oracle_agreement`` (notebook 03's
walker table): the same anchors (:func:`hlwb.minmax.anchor_batches`, seed ``10**6``, truncated as the
generator's family samples them) and the same noise stream per anchor batch (``row_seed(seed, j,
EXTRA)``), so a walker scores the same here as there. Accuracy set against ``mean_delta`` asks
whether gains follow diversity; set against ``agreement``, whether they follow semantic consistency
(docs/methods.md §5). The real arm (no walker) and RCG (no latent walker) have no row.
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
