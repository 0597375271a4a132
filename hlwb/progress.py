"""One progress helper for notebooks, the CLI and headless runs (DESIGN.md §8).

Interactive kernel: the ipywidgets bar of ``tqdm.auto``. With ``HLWB_HEADLESS=1`` (set by
the pipeline runner and the tests) a console bar on stderr refreshed at most every
``HLWB_PROGRESS_INTERVAL`` seconds (default 30), because a widget bar is saved frozen at 0 %.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable


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
