"""Budget calibration against raw pixels and a random trunk, with paired intervals.

A pretraining budget is only worth running a study at if its encoders clearly beat the
trivial references evaluated identically: raw pixels and a randomly initialised trunk of
the same architecture. :func:`correct_per_image` scores an encoder on the full Fashion-MNIST
splits (60k train as probe-train set and kNN memory, 10k test) and keeps, per test image,
whether each protocol got it right (linear probe as :mod:`hlwb.evaluate`; kNN k = 20 and 200),
so a difference between two encoders gets a *paired* interval over the same test images
(:func:`paired_gain`), whose unit of replication is the pretraining seed when there are
several (:mod:`hlwb.intervals`).

:func:`meets_bar` states the laptop rule of the study: the real-data encoder beats pixels by
>= 3 points on both the linear probe and kNN (the better of k 20 / 200 for each) and the
random trunk by >= 5 linear points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from . import devices
from . import evaluate as E
from . import intervals as I
from . import targets as T

BAR_PIXELS, BAR_RANDOM = 3.0, 5.0  # points, see meets_bar


@torch.no_grad()
def correct_per_image(encoder: nn.Module, target: T.Target, seed: int = 0,
                      knn_k: Sequence[int] = E.KNN_K) -> dict[str, Tensor]:
    """Per test image, whether the linear probe and each kNN got it right: bool ``(N_test,)``
    tensors under ``linear`` and ``knn_k{k}``. The protocol is :mod:`hlwb.evaluate`'s."""
    out: dict[str, Tensor] = {}
    E.evaluate_encoder(encoder, target, protocols=("linear", "knn"), seed=seed, knn_k=knn_k, correct=out)
    return out


def accuracy(correct: Tensor) -> float:
    """Top-1 in % from a per-image correctness vector."""
    return 100.0 * correct.float().mean().item()


def paired_gain(arm: Sequence[Tensor], ref: Tensor | Sequence[Tensor], n_boot: int = 2000, seed: int = 0,
                ci: float = 0.95, paired: bool = False, interval: str = "t") -> dict:
    """Gain in top-1 points of ``arm`` over ``ref``, each difference on the same test images, with
    an interval whose unit of replication is the seed (:mod:`hlwb.intervals`).

    Args:
        arm: one bool correctness vector ``(N,)`` per pretraining seed.
        ref: one vector ``(N,)`` (a deterministic reference: raw pixels, one encoder), or one per
            seed of its own (another arm; the random trunk's init seeds).
        paired: ``arm[s]`` and ``ref[s]`` share their pretraining seed (same seeds, same order).
        interval: ``t`` (:func:`hlwb.intervals.seed_interval`) or ``bootstrap``
            (:func:`hlwb.intervals.two_level_bootstrap`, ``n_boot`` draws from ``seed``).
    Returns:
        ``{gain, ci_low, ci_high, p_value, method, se, df, n_seeds, n_seeds_ref, n_images}``.
    """
    if interval not in ("t", "bootstrap"):
        raise ValueError(f"interval must be 't' (seed-level t) or 'bootstrap' (two-level), got {interval!r}")
    if len(arm) == 0 or (not isinstance(ref, Tensor) and len(ref) == 0):
        raise ValueError("paired_gain needs at least one correctness vector for the arm and for the reference")
    a = np.stack([t.cpu().numpy() for t in arm])  # (S, N)
    r = ref.cpu().numpy() if isinstance(ref, Tensor) else np.stack([t.cpu().numpy() for t in ref])  # (N,) or (S', N)
    iv = (I.seed_interval(a, r, paired=paired, ci=ci) if interval == "t"
          else I.two_level_bootstrap(a, r, paired=paired, n_boot=n_boot, seed=seed, ci=ci))
    return iv.as_dict()


def best_knn(row: dict[str, float]) -> float:
    """The better of the kNN accuracies in a row (keys ``knn_k{k}``)."""
    return max(v for k, v in row.items() if k.startswith("knn_k"))


def meets_bar(encoder: dict[str, float], pixels: dict[str, float], random_trunk: dict[str, float]) -> dict:
    """The study's budget rule on rows of accuracies in % (``linear``, ``knn_k20``, ``knn_k200``):
    >= 3 points over pixels on the linear probe and on kNN (best k each), >= 5 linear points
    over a random trunk of the same architecture."""
    margins = {"linear_vs_pixels": encoder["linear"] - pixels["linear"],
               "knn_vs_pixels": best_knn(encoder) - best_knn(pixels),
               "linear_vs_random": encoder["linear"] - random_trunk["linear"]}
    ok = (margins["linear_vs_pixels"] >= BAR_PIXELS and margins["knn_vs_pixels"] >= BAR_PIXELS
          and margins["linear_vs_random"] >= BAR_RANDOM)
    return {"meets": ok, **margins}


def calibrate_encoders(paths: Sequence[str], seed: int = 0, target: T.Target | None = None,
                       device: str | torch.device = "auto") -> dict:
    """Score encoder files, raw pixels and a random trunk of each encoder's architecture on
    ``target`` (default: the fashion_mnist target's full splits): accuracies in %, the budget bar per encoder, and
    paired gains (with intervals over test images) over pixels and over the random trunk.

    ``device`` (:func:`hlwb.devices.resolve`): where the encoders and random trunks run, and so
    their probes (:func:`hlwb.evaluate.features`); raw pixels have no weights and are scored on the host.
    """
    import time

    from .encoders import load_encoder

    device = devices.resolve(device)
    encoders = {p: load_encoder(p, device=device) for p in paths}  # a bad file: refused before minutes of scoring
    tg = target if target is not None else T.fashion_mnist(seed=seed)
    t0 = time.perf_counter()
    refs = {"pixels": correct_per_image(E.pixel_encoder(), tg, seed)}
    pix = {k: accuracy(v) for k, v in refs["pixels"].items()}
    bk_pix = max((k for k in pix if k.startswith("knn")), key=pix.get)
    rows, out = {}, {"protocol": {"n_train": len(tg.y_train), "n_test": len(tg.y_test), "knn_k": list(E.KNN_K),
                                  "knn_temperature": E.KNN_TEMPERATURE, "linear": "standardised features, L-BFGS, "
                                  "l2 chosen on a 20 % split of train", "seed": seed}}
    for p in paths:
        enc = encoders[p]
        arch = f"random_w{enc.width}_b{''.join(map(str, enc.blocks))}"
        if arch not in refs:
            rnd_enc = E.random_encoder(enc.width, enc.blocks, seed=seed, spec=enc.spec).to(device)  # drawn on the host
            refs[arch] = correct_per_image(rnd_enc, tg, seed)
        corr = correct_per_image(enc, tg, seed)
        acc = {k: accuracy(v) for k, v in corr.items()}
        rnd = {k: accuracy(v) for k, v in refs[arch].items()}
        bk = max((k for k in acc if k.startswith("knn")), key=acc.get)
        rows[str(p)] = {**acc, "meta": getattr(enc, "meta", {}), "random_trunk": arch, **meets_bar(acc, pix, rnd),
                        "gain_linear_vs_pixels": paired_gain([corr["linear"]], refs["pixels"]["linear"]),
                        "gain_knn_vs_pixels": paired_gain([corr[bk]], refs["pixels"][bk_pix]),
                        "gain_linear_vs_random": paired_gain([corr["linear"]], refs[arch]["linear"])}
    out["references"] = {k: {m: accuracy(v) for m, v in c.items()} for k, c in refs.items()}
    out["encoders"] = rows
    out["wall_s"] = time.perf_counter() - t0
    return out


def curve_table(cal: dict) -> list[dict]:
    """The rows of a calibration file (``figures/calibration_<profile>.json``, the ``runs`` part)
    as flat records sorted by width, batch and steps: budget, accuracies in %, gains over pixels
    and the random trunk with their intervals, whether the bar is met."""
    out = []
    for name, r in cal["runs"].items():
        p, g = r["pretrain"], r["paired_gains"]
        row = {"run": name, "width": p["width"], "blocks": p["blocks"], "batch": p["batch"], "steps": p["steps"],
               "pairs": p["steps"] * p["batch"], "wall_s": cal.get("pretrain_wall_s", {}).get(name),
               "linear": r["linear"], "knn_k20": r["knn_k20"], "knn_k200": r["knn_k200"],
               "meets_bar": r["meets_bar"]}
        for k in ("linear_vs_pixels", "knn_vs_pixels", "linear_vs_random"):
            gk = g[f"gain_{k}"]
            row.update({k: gk["gain"], f"{k}_ci": [gk["ci_low"], gk["ci_high"]]})
        out.append(row)
    return sorted(out, key=lambda r: (r["width"], r["batch"], r["steps"]))
