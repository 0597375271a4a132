"""Independent jobs side by side on a small machine: spawned workers at one CPU thread each.

On 2 cores two one-thread torch processes beat one two-thread process (README, ``bench views``);
the sweep of notebook 05 and the evaluation of notebook 06 both use :func:`run_parallel`.
"""

from __future__ import annotations

import os


def one_thread() -> None:
    """Worker initialiser: torch (imported later in the worker) and any kernel the worker
    starts use one CPU thread."""
    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def run_parallel(fn, items: list, jobs: int) -> list:
    """``[fn(x) for x in items]``, in order; with ``jobs`` > 1 in that many spawned worker
    processes at one thread each (``fn`` must be importable: a module-level function)."""
    if jobs <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=one_thread) as pool:
        return list(pool.map(fn, items))
