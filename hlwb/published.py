"""Inputs a notebook reads from earlier stages, and the one line it shows when they are missing.

Notebooks 05, 06 and 08 read what earlier stages wrote (03's walkers, 04's delta_i, 05's encoders, 06's
transfer table), by default from the pipeline's laptop runs (``runs/<profile>/``). When an input is
missing, :func:`producer` says in one line which command writes it, in the published profile that runs
the stage (laptop, else laptop_side), and how long that took in the published run of that profile: the
stage times ``publish`` recorded in ``figures/results_<profile>.json`` (``stage_wall_s``), the one source
of stage times.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from .config import NOTEBOOKS, PROFILES, REPO_ROOT

PUBLISHED_PROFILE = "laptop"
"""The profile whose run the repository's notebooks/ and figures/ hold (``make pipeline`` publishes it)."""

SIDE_PROFILES = ("laptop_side", "laptop_deep")
"""The published study's other parts: a run of one is published into ``figures/<profile>/`` (its figures,
report, manifest and executed notebooks under ``notebooks/``) and ``figures/results_<profile>.json``."""

# the stages whose outputs a stage reads when the profile runs them (the pipeline passes their paths:
# hlwb.pipeline.stage_params); 05 reads 03's walkers only in a profile with 03 (its walker arms)
READS: dict[str, tuple[str, ...]] = {
    "05_contrastive_pretraining": ("03_walkers", "04_chunk_perturbations"),
    "06_transfer": ("05_contrastive_pretraining",),
    "08_ood": ("05_contrastive_pretraining", "06_transfer"),
}


def results_file(profile: str) -> Path:
    """``figures/results_<profile>.json``: the published run of ``profile`` (its numbers and stage times)."""
    return REPO_ROOT / "figures" / f"results_{profile}.json"


STAGE_TIMES = results_file(PUBLISHED_PROFILE)  # the default source of stage times


def profile_of(stage: str) -> str:
    """The published profile that runs ``stage``: the laptop profile, else the first side profile with it."""
    if stage not in NOTEBOOKS:
        raise KeyError(f"unknown stage {stage!r}; stages: {', '.join(NOTEBOOKS)}")
    return next((p for p in (PUBLISHED_PROFILE, *SIDE_PROFILES) if stage in PROFILES[p]), PUBLISHED_PROFILE)


def stage_times(path: str | Path = STAGE_TIMES) -> dict[str, float]:
    """Seconds each stage took in a published run (default the laptop run's; empty when the file is missing
    or unreadable)."""
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
    """One line: the command that writes ``stage``'s outputs (with the stages it reads in that profile, in
    order) in the published profile that runs it (:func:`profile_of`), and how long they took together in
    that profile's published run (``times``: stage -> seconds, instead of the published file's); add
    ``--profile smoke`` for a minutes-long run."""
    profile = profile_of(stage)
    stages = [s for s in needed(stage) if s in PROFILES[profile]]
    flag = [] if profile == PUBLISHED_PROFILE else ["--profile", profile]
    cmd = " && ".join(shlex.join(["python", "-m", "hlwb", "pipeline", *flag, "--only", s]) for s in stages)
    source = results_file(profile)
    times = stage_times(source) if times is None else times
    known = [times[s] for s in stages if s in times]
    took = (f"{duration(sum(known))} on the {profile} profile, {source.relative_to(REPO_ROOT)}"
            if len(known) == len(stages) else "its time is not recorded in this checkout")
    return f"`{cmd}` writes it into runs/{profile}/ ({took})"
