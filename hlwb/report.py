"""The run's summary and report: every stage's results in Markdown, with figures, date and machine.

``summary_markdown`` is the flat table of every result (``summary.md``); ``write_report`` is
``report.md``: per stage its headline numbers and figures. The pipeline (:mod:`hlwb.pipeline`)
collects the stages' ``results.json`` and calls both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .checkpoint import atomic_write_text

# figures each stage contributes to the report (globs in the stage's figures folder)
REPORT_FIGURES = {
    "01_hl_generator": ("*_samples.png", "*_hierarchy.png", "chunk_agreement.png"),
    "03_walkers": ("walkers_infonce_*.png", "walkers_oracle_agreement_*.png"),
    "04_chunk_perturbations": ("sigma_agreement.png", "*_sigma_grid.png"),
    "06_transfer": ("transfer_linear_top1.png", "transfer_gain_over_real.png"),
}


def summary_markdown(summary: dict) -> str:
    """Every result of every stage as one flat table."""
    lines = [f"# hlwb pipeline summary ({summary['profile']} profile)", "",
             f"total wall time of this invocation: {summary['wall_s']:.1f} s", "",
             "| stage | status | wall s | result | value |", "| --- | --- | --- | --- | --- |"]
    for stage, st in summary["stages"].items():
        for k, v in flatten(st["results"]).items():
            lines.append(f"| {stage} | {st['status']} | {st['wall_s']:.1f} | {k} | {fmt(v)} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, profile: str, summary: dict, figure_dirs: dict[str, Path],
                 swept: Iterable[str] = ()) -> Path:
    """``<out>/report.md``: each stage's headline numbers and figures (from ``figure_dirs[stage]``),
    with machine and date; a swept stage (``swept``) lists its runs."""
    import datetime
    import platform

    import torch

    lines = [f"# hlwb run report — {profile} profile", "",
             (f"{datetime.date.today().isoformat()}, {platform.machine()} with {os.cpu_count()} CPU cores, "
              f"torch {torch.__version__}; stages in this invocation: {summary['wall_s']:.0f} s"), ""]
    for stage, st in summary["stages"].items():
        lines += [f"## {stage} ({st['status']}, {st['wall_s']:.0f} s)", ""]
        res = st["results"]
        if stage in swept:
            runs = res.get("runs", {})
            lines += [f"best HL arm (chosen on the validation kNN): **{res.get('best_hl_arm')}**", "",
                      "| run | kNN top-1 (validation) | wall s |", "| --- | --- | --- |"]
            lines += [f"| {n} | {100 * r['knn_top1']:.2f} | {r['wall_s']:.0f} |" for n, r in runs.items()]
        else:
            flat = {k: v for k, v in flatten(res).items() if isinstance(v, (int, float, str, bool))}
            lines += ["| result | value |", "| --- | --- |"]
            lines += [f"| {k} | {fmt(v)} |" for k, v in list(flat.items())[:60]]
        fig_dir = figure_dirs.get(stage, out / stage / "figures")
        for pattern in REPORT_FIGURES.get(stage, ()):
            for f in sorted(Path(fig_dir).glob(pattern)):
                lines += ["", f"![{f.stem}]({os.path.relpath(f, out)})"]
        lines.append("")
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts as ``{"a.b.c": value}``."""
    flat = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


def fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def results_file(out: Path, plan_budget: dict, sweep_wall_s: float | None = None) -> dict:
    """The run's numbers in one machine-readable dict (``figures/results_<profile>.json``):

    ``budget`` (steps, batch, width, blocks, wall_s of the sweep); ``references`` (``pixels``,
    ``random_trunk``: ``knn`` and ``linear`` top-1 % on the fashion_mnist target); ``arms`` keyed
    by arm (``augment``, ``seeds`` and per-seed ``knn`` / ``linear`` lists, SimCLR runs in the fair
    headline setting, continuous sampling); ``walkers`` from notebook 03 (``rule``, ``samples``,
    ``oracle_agreement``, ``mean_delta``). kNN is the better of k 20 / 200 for each encoder.
    Reads ``<out>/06_transfer/transfer.csv``, ``<out>/05_contrastive_pretraining/results.json`` and
    ``<out>/03_walkers/results.json``; a missing file leaves its part out.
    """
    import json

    import pandas as pd

    res: dict = {"budget": {**plan_budget, "wall_s": sweep_wall_s}}
    csv = out / "06_transfer" / "transfer.csv"
    sweep = out / "05_contrastive_pretraining" / "results.json"
    if csv.exists():
        df = pd.read_csv(csv, keep_default_na=False)
        fm = df[(df.target == "fashion_mnist") & (df.metric == "top1") & (df.draw.astype(str) == "")]

        def scores(rows) -> dict:
            v = rows.set_index("protocol").value
            return {"linear": 100 * float(v["linear"]), "knn": 100 * float(v["knn_k20"]),
                    "knn_k200": 100 * float(v["knn_k200"])}

        refs = {"pixels": "ref-pixels", "random_trunk": "ref-random"}
        res["references"] = {k: scores(fm[fm.encoder == e]) for k, e in refs.items() if (fm.encoder == e).any()}
        runs = json.loads(sweep.read_text())["runs"] if sweep.exists() else {}
        arms: dict = {}
        for name, r in sorted(runs.items(), key=lambda kv: (kv[1].get("arm", ""), kv[1].get("seed", 0))):
            if r.get("method") != "simclr" or r.get("sampling", "continuous") != "continuous":
                continue
            rows = fm[fm.encoder == name]
            if rows.empty:
                continue
            key = r.get("arm", r["strategy"]) + ("" if r.get("augment") == "fair" else f" ({r.get('augment')} T_x)")
            a = arms.setdefault(key, {"augment": r.get("augment"), "seeds": [], "knn": [], "linear": [],
                                      "knn_k200": []})
            s = scores(rows)
            a["seeds"].append(r.get("seed", 0))
            for k in ("knn", "linear", "knn_k200"):
                a[k].append(s[k])
        res["arms"] = arms
    t06 = out / "06_transfer" / "results.json"
    if t06.exists():
        r06 = json.loads(t06.read_text())
        for k in ("study", "calibration"):
            if k in r06:
                res[k] = r06[k]
    walkers = out / "03_walkers" / "results.json"
    if walkers.exists():
        w = json.loads(walkers.read_text()).get("walkers", {})
        res["walkers"] = {n: {k: v[k] for k in ("rule", "samples", "oracle_agreement", "mean_delta", "triggered")}
                          for n, v in w.items()}
    return res
