"""Progress for notebooks, the CLI and headless runs: bars, a heartbeat and an ETA.

Interactive kernel: the ipywidgets bar of ``tqdm.auto``. With ``HLWB_HEADLESS=1`` (set by
the pipeline runner and the tests) a console bar on stderr refreshed at most every
``HLWB_PROGRESS_INTERVAL`` seconds (default 30), because a widget bar is saved frozen at 0 %.
:class:`Heartbeat` logs a line at least every ``HLWB_HEARTBEAT_S`` seconds (default 30) during a
call that prints nothing itself; :class:`Eta` is the time left of steps with estimates.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Self


def headless() -> bool:
    return os.environ.get("HLWB_HEADLESS", "") not in ("", "0")


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             initial: int = 0):
    """A tqdm bar suited to where the code runs."""
    if headless():
        from tqdm.std import tqdm

        return tqdm(iterable, total=total, desc=desc, initial=initial, file=sys.stderr,
                    mininterval=float(os.environ.get("HLWB_PROGRESS_INTERVAL", "30")),
                    disable=os.environ.get("HLWB_PROGRESS", "1") == "0")
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, initial=initial)


def setup_logging(level: int | str = "INFO") -> None:
    """Configure the root logger once for notebooks and the CLI (library modules never do)."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        force=True)
    # papermill's INFO lines per notebook (input, output and working directory, absolute paths) repeat what the
    # pipeline's own line says; its warnings and errors still show
    logging.getLogger("papermill").setLevel(logging.WARNING)


def heartbeat_interval() -> float:
    """Seconds between heartbeat lines (``HLWB_HEARTBEAT_S``, default 30)."""
    return float(os.environ.get("HLWB_HEARTBEAT_S", "30"))


class Heartbeat:
    """While the ``with`` block runs, ``log(message())`` every ``every`` seconds from a daemon thread: a
    line at least every 30 s during a long call that says nothing itself (a notebook the pipeline executes).
    A failing ``message`` is skipped: a heartbeat never breaks the work it reports on."""

    def __init__(self, message: Callable[[], str], log: Callable[[str], None] | None = None,
                 every: float | None = None):
        self.message, self.every = message, heartbeat_interval() if every is None else every
        self.log = log or logging.getLogger(__name__).info
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="hlwb-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                line = self.message()
            except Exception as e:  # noqa: BLE001  (a heartbeat must not raise into the run)
                line = f"(still running; its progress line failed: {e!r})"
            self.log(line)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def minutes(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``2.1 h``: a duration as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class Eta:
    """The time left of steps run in order (the pipeline's stages), each with an estimate in seconds or
    None (unknown). The estimate of what is left is scaled by how the steps finished so far compare with
    their estimates (a machine twice as slow as the estimates' doubles it); steps without an estimate are
    named, so the ETA is then a lower bound."""

    def __init__(self, estimates: dict[str, float | None]):
        self.estimates, self.done = dict(estimates), {}
        self.t0 = self.t_step = time.perf_counter()
        self.current: str | None = None

    def begin(self, step: str) -> None:
        self.current, self.t_step = step, time.perf_counter()

    def end(self, step: str, wall_s: float, cached: bool = False) -> None:
        self.done[step] = None if cached else wall_s
        self.current = None

    def _scale(self) -> float:
        pairs = [(w, self.estimates[s]) for s, w in self.done.items() if w is not None and self.estimates.get(s)]
        return sum(w for w, _ in pairs) / sum(e for _, e in pairs) if pairs else 1.0

    def left(self) -> tuple[float, list[str]]:
        """Seconds left (estimated) and the steps left without an estimate."""
        scale, secs, unknown = self._scale(), 0.0, []
        for s, est in self.estimates.items():
            if s in self.done:
                continue
            if est is None:
                unknown.append(s)
                continue
            spent = time.perf_counter() - self.t_step if s == self.current else 0.0
            secs += max(est * scale - spent, 0.0)
        return secs, unknown

    def text(self) -> str:
        """``elapsed 3.2 min, ETA 41.0 min`` (``ETA >= …`` naming the steps with no estimate)."""
        secs, unknown = self.left()
        el = minutes(time.perf_counter() - self.t0)
        if unknown:
            return f"elapsed {el}, ETA >= {minutes(secs)} (no estimate for {', '.join(unknown)})"
        return f"elapsed {el}, ETA {minutes(secs)}"
