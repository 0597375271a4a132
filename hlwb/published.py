"""Inputs a notebook reads from earlier stages, and the one line it shows when they are missing.

Notebooks 05, 06 and 08 read what earlier stages wrote (03's walkers, 04's delta_i, 05's encoders, 06's
transfer table), by default from the pipeline's laptop run (``runs/laptop/``). When an input is
missing, :func:`producer` says in one line which command writes it and how long that took in the
published laptop run: the stage times ``publish`` recorded in ``figures/results_laptop.json``
(``stage_wall_s``), the one source of stage times.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from .config import NOTEBOOKS, REPO_ROOT

STAGE_TIMES = REPO_ROOT / "figures" / "results_laptop.json"
# the stages whose outputs a stage reads (the pipeline passes their paths: hlwb.pipeline.stage_params)
READS: dict[str, tuple[str, ...]] = {
    "05_contrastive_pretraining": ("03_walkers", "04_chunk_perturbations"),
    "06_transfer": ("05_contrastive_pretraining",),
    "08_ood": ("05_contrastive_pretraining", "06_transfer"),
}


def stage_times(path: str | Path = STAGE_TIMES) -> dict[str, float]:
    """Seconds each stage took in the published laptop run (empty when the file is missing or unreadable)."""
    try:
        times = json.loads(Path(path).read_text()).get("stage_wall_s", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {k: float(v) for k, v in times.items() if isinstance(v, (int, float))} if isinstance(times, dict) else {}


def needed(stage: str) -> list[str]:
    """``stage`` and every stage it reads from, transitively, in pipeline order."""
    if stage not in NOTEBOOKS:
        raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(NOTEBOOKS)}")
    todo, seen = [stage], set()
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo += READS.get(s, ())
    return [s for s in NOTEBOOKS if s in seen]


def duration(seconds: float) -> str:
    """``"about 1 h 16 min"``, ``"about 9 min"``, ``"under a minute"``."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    return f"about {minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"about {minutes} min"


def producer(stage: str, times: dict[str, float] | None = None) -> str:
    """One line: the command that writes ``stage``'s outputs (with the stages it reads, in order) and how
    long they took together in the published laptop run; add ``--profile smoke`` for a minutes-long run."""
    stages = needed(stage)
    cmd = " && ".join(shlex.join(["python", "-m", "hlwb", "pipeline", "--only", s]) for s in stages)
    times = stage_times() if times is None else times
    known = [times[s] for s in stages if s in times]
    took = (f"{duration(sum(known))} on the laptop profile, {STAGE_TIMES.relative_to(REPO_ROOT)}"
            if len(known) == len(stages) else "its time is not recorded in this checkout")
    return f"`{cmd}` writes it into runs/laptop/ ({took})"
