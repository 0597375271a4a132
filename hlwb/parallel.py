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


def run_parallel(fn, items: list, jobs: int, on_done=None) -> list:
    """``[fn(x) for x in items]``, in order; with ``jobs`` > 1 in that many spawned worker
    processes at one thread each (``fn`` must be importable: a module-level function).
    ``on_done(i, result)`` is called as each item finishes (in completion order)."""
    if jobs <= 1 or len(items) <= 1:
        out = []
        for i, x in enumerate(items):
            out.append(fn(x))
            if on_done:
                on_done(i, out[-1])
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=one_thread) as pool:
        futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
        results: list = [None] * len(items)
        for f in as_completed(futures):
            i = futures[f]
            results[i] = f.result()
            if on_done:
                on_done(i, results[i])
        return results


class Progress:
    """``k of N`` with the elapsed time and an ETA, one log line per finished item. The ETA is the
    elapsed time per item that really ran (``cached=False``) times the items left; items found
    cached count as done but not in that rate."""

    def __init__(self, total: int, label: str, log=print):
        import time

        self.total, self.label, self.log, self.done, self.ran, self.t0 = total, label, log, 0, 0, time.perf_counter()

    def __call__(self, name: str, detail: str = "", cached: bool = False) -> str:
        import time

        self.done += 1
        self.ran += not cached
        el = time.perf_counter() - self.t0
        eta = (f"ETA {el / self.ran * (self.total - self.done) / 60:.1f} min" if self.ran
               else "ETA unknown (all cached so far)")
        line = (f"{self.label}: {self.done} of {self.total} done ({name}{', ' + detail if detail else ''}); "
                f"elapsed {el / 60:.1f} min, {eta}")
        self.log(line)
        return line
