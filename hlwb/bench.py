"""Benchmarks (``python -m hlwb bench WHAT``): speed targets live here, never in tests."""

from __future__ import annotations

import statistics
import time


def bench_explorer(n_changes: int = 50, generator: str = "biggan", n_positives: int = 6) -> dict:
    """Latency of one slider change in the latent explorer: state update, render, PNG, widget.

    Cycles through the chunks' seed, direction and sigma sliders, as a user would; reports the
    median and 90th percentile over ``n_changes`` changes (after one warm-up render).
    """
    import torch

    from .widgets import LatentExplorer

    ex = LatentExplorer(generator, n_positives=n_positives)
    n_chunks = len(ex.state.chunks)
    kinds = ("seed", "alpha", "sigma")
    times = []
    for i in range(n_changes):
        k, kind = i % n_chunks, kinds[(i // n_chunks) % 3]
        w = ex.sliders[f"chunk{k}_{kind}"]
        new = {"seed": (w.value + 1) % 50, "alpha": 1.0 if w.value != 1.0 else -1.0,
               "sigma": 0.5 if w.value != 0.5 else 1.0}[kind]
        t0 = time.perf_counter()
        w.value = new  # fires the observer synchronously: render + PNG + image update
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"what": "explorer slider change", "generator": generator, "n_changes": n_changes,
            "n_positives": n_positives, "threads": torch.get_num_threads(),
            "median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * times[int(0.9 * len(times))],
            "max_ms": 1000 * times[-1]}


BENCHES = {"explorer": bench_explorer}
