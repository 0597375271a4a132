"""The run's summary and report: every stage's results in Markdown, with figures, date and machine.

``summary_markdown`` is the flat table of every result (``summary.md``); ``write_report`` is
``report.md``: per stage its headline numbers and figures. The pipeline (:mod:`hlwb.pipeline`)
collects the stages' ``results.json`` and calls both. A stage's time is one number everywhere
(:func:`stage_seconds`), and no path of the machine is written (:func:`shown`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .checkpoint import atomic_write_text
from .config import REPO_ROOT

# figures each stage contributes to the report (globs in the stage's figures folder)
REPORT_FIGURES = {
    "01_hl_generator": ("*_samples.png", "*_hierarchy.png", "chunk_agreement.png"),
    "03_walkers": ("walkers_infonce_*.png", "walkers_oracle_agreement_*.png"),
    "04_chunk_perturbations": ("sigma_agreement.png", "*_sigma_grid.png"),
    "06_transfer": ("calibration_curve.png", "study_gain_over_pixels.png", "study_arm_differences.png",
                    "study_strength.png", "transfer_linear_top1.png", "transfer_gain_over_real.png"),
    "07_representation_generation": ("rcg_ablation_grid.png", "rcg_posterior_bits.png", "rcg_posterior_agreement.png"),
    "08_ood": ("ood_auroc.png",),
}


def shown(path: str | Path) -> str:
    """``path`` as printed and written into reports: relative to the repository root when inside it (no
    machine path in a file that may be committed), else as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def stage_seconds(st: dict) -> float:
    """A stage's time, the one number its table row and its section header show: the wall time of the run
    that produced its results (``last_wall_s``; a sweep: first run's start to last run's end), else this
    invocation's ``wall_s``."""
    return st.get("last_wall_s", st["wall_s"])


def git(*args: str, root: Path | None = None, timeout: float = 30) -> str | None:
    """``git ARGS`` in ``root`` (default: the repository of this package): its stripped stdout, or None when
    git is missing, fails (not a checkout, an unknown commit) or takes longer than ``timeout`` seconds."""
    import subprocess

    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    try:
        r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def provenance(root: Path | None = None) -> dict:
    """Where numbers computed now come from: the commit checked out in ``root`` (default: the repository
    of this package; None outside a git checkout) and whether tracked files differ from it (``dirty``),
    the machine (host, architecture, CPU cores, GPU) and torch."""
    import platform

    import torch

    commit = git("rev-parse", "HEAD", root=root)
    status = git("status", "--porcelain", "--untracked-files=no", root=root) if commit else None
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return {"commit": commit, "dirty": bool(status) if status is not None else None,
            "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPU cores{gpu})",
            "torch": torch.__version__}


def _ci(g: float, lo: float, hi: float) -> str:
    return f"{g:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def delta_markdown(res: dict) -> list[str]:
    """Notebook 04's delta_i per generator and chunk with intervals, the consecutive differences
    and the hierarchy verdict (censored values marked as lower bounds)."""
    lines = ["**δ_i** (largest σ with oracle agreement ≥ the level; 95 % paired bootstrap intervals):", "",
             "| generator | chunk | δ_i [95 % CI] | δ_i − δ_(i−1) [95 % CI] |", "| --- | --- | --- | --- |"]
    for gen, g in res.get("generators", {}).items():
        diffs = {d["pair"][1]: d for d in g.get("diffs", [])}
        for k, dl in enumerate(g["delta"]):
            cell = (f"≥ {dl:.3f} (censored)" if g["censored"][k] else f"{dl:.3f} [{g['ci_low'][k]:.3f}, {g['ci_high'][k]:.3f}]")
            d = diffs.get(k)
            dc = "" if d is None else (f"≥ {d['diff']:+.3f} (lower bound)" if d["lower_bound_only"]
                                       else f"{d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
            lines.append(f"| {gen} | {k} | {cell} | {dc} |")
    verdicts = ", ".join(f"{gen}: **{g.get('hierarchy')}**" for gen, g in res.get("generators", {}).items())
    return lines + ["", f"δ grows from global to fine (decided on the intervals): {verdicts}", ""]


def walkers_markdown(res: dict) -> list[str]:
    """Notebook 03's selected snapshot per walker: rule, samples, InfoNCE, mean Δ, oracle agreement."""
    lines = [(f"**Walkers** ({res.get('generator', '')}, selection rule `{res.get('select', '')}`; Monte-Carlo over "
             f"{res.get('mc_anchors', '?')} anchors):"), "",
             "| walker | rule fired | samples | InfoNCE (MC) | mean Δ per moved chunk | oracle agreement |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, w in res.get("walkers", {}).items():
        lines.append(f"| {name} | {'yes' if w.get('triggered') else 'no (last)'} | {w.get('samples')} | "
                     f"{w.get('mc_infonce', float('nan')):.3f} | {w.get('mean_delta', float('nan')):.2f} | "
                     f"{w.get('oracle_agreement', float('nan')):.3f} |")
    return lines + [""]


def study_markdown(study: dict, calibration: list[dict] | None = None) -> list[str]:
    """Notebook 06's study as Markdown tables: the calibration curve, the headline (fair T_x) with
    gains over pixels and the random trunk, the arm differences, the paper-setting contrast,
    other methods and continuous vs fixed sampling (all with 95 % paired bootstrap intervals)."""
    lines: list[str] = []
    if calibration:
        lines += [("**Budget calibration** (real-data SimCLR, full Fashion-MNIST splits; bar: ≥ 3 points over "
                  "pixels on linear and kNN, ≥ 5 linear over a random trunk):"), "",
                  "| width | batch | steps | linear | kNN k20 | linear − pixels | kNN − pixels | linear − random | bar |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['width']} | {r['batch']} | {r['steps']} | {r['linear']:.2f} | {r['knn_k20']:.2f} | "
                  f"{_ci(r['linear_vs_pixels'], *r['linear_vs_pixels_ci'])} | {_ci(r['knn_vs_pixels'], *r['knn_vs_pixels_ci'])} | "
                  f"{_ci(r['linear_vs_random'], *r['linear_vs_random_ci'])} | {'met' if r['meets_bar'] else 'not met'} |"
                  for r in calibration]
        lines.append("")

    chosen = {study[k]: len(study.get("chosen_among", {}).get(k, [])) for k in ("best_hl_arm", "best_control")
              if study.get(k) and (k == "best_control" or study[k] != PRESPECIFIED_HL_ARM)}
    calibrated = set(study.get("oracle_calibrated", []))

    def mark(arm: str) -> str:
        return arm + ("†" if arm in chosen else "") + ("‡" if arm in calibrated else "")

    def gains(title: str, rows: list[dict]) -> None:
        if not rows:
            return
        nonlocal lines
        lines += [title, "", "| arm | probe | seeds | top-1 % (mean ± std) | − pixels [95 % CI] | − random trunk [95 % CI] |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            sd = f" ± {r['std']:.2f}" if r.get("std") is not None and r["std"] == r["std"] else ""
            lines.append(f"| {r.get('method', '') + ' ' if r.get('method') and r.get('method') != study.get('method') else ''}"
                         f"{mark(r['arm'])} | {r['protocol']} | {r['n_seeds']} | {r['mean']:.2f}{sd} | "
                         f"{_ci(r['gain_pixels'], r['ci_low_pixels'], r['ci_high_pixels'])} | "
                         f"{_ci(r['gain_random'], r['ci_low_random'], r['ci_high_random'])} |")
        lines.append("")

    def diffs(title: str, rows: list[dict]) -> None:
        if not rows:
            return
        nonlocal lines
        how = _interval_words(rows)  # into the title's parenthesis, or one of its own
        lines += [f"{title[:-2]}; {how}):" if title.endswith("):") else f"{title.removesuffix(':')} ({how}):", "",
                  "| a | b | probe | seeds a / b | a − b [95 % CI] | interval | p (Holm) | resolved (Holm) | resolved (unadjusted) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {mark(r['a'])} | {mark(r['b'])} | {r['protocol']} | {r['seeds_a']} / {r['seeds_b']} | "
                  f"{_ci(r['diff'], r['ci_low'], r['ci_high'])} | {r.get('method') or '?'} | {_p(r.get('p_holm'))} | "
                  f"{_yes(r.get('resolved_holm'))} | {_yes(r['resolved'])} |" for r in rows]
        marked = {x for r in rows for x in (r["a"], r["b"])}
        notes = [f"† {a}: chosen on the validation kNN{f' among {n} candidates' if n else ''}, then tested on seeds "
                 "that include the ones it was chosen on: its differences lean optimistic (winner's curse); "
                 "pre-specified arms' do not" for a, n in chosen.items() if a in marked]
        notes += [f"‡ {a}: oracle-calibrated (labels chose its σ): not a label-free method" for a in sorted(calibrated & marked)]
        lines += ["", *(f"{n}." for n in notes), ""] if notes else [""]

    tgt = study.get("target", "fashion_mnist")
    lines += _where_made(study)
    control = f"; best control: {study['best_control']}" if study.get("best_control") else ""
    gains(f"**Headline** ({study.get('method')}, every arm at the same T_x, {tgt} test; chosen on the validation "
          f"kNN before any test score: best HL arm {study.get('best_hl_arm')}{control}):", study.get("headline", []))
    diffs("**Arm differences** (paired over the same test images):", study.get("differences", []))
    lines += positives_markdown(study.get("positives", []))
    lines += controls_markdown(study.get("differences", []))
    gains("**The paper's T_x setting** (contrast; real and GenRep rows are the headline runs):", study.get("paper_setting", []))
    diffs("**Paper T_x vs fair T_x**:", study.get("paper_vs_fair", []))
    gains("**Other methods** (one seed):", [r for r in study.get("methods", []) if r.get("method") != study.get("method")])
    gains("**Fixed-set runs**:", study.get("fixed", []))
    diffs("**Continuous − fixed sampling** (equal steps):", study.get("continuous_vs_fixed", []))
    gains("**GCRL rows** (each (alpha, beta) on an arm; beta only = the headline's SimCLR runs):", study.get("gcrl", []))
    diffs("**GCRL − SimCLR** (the same arm and seeds):", study.get("gcrl_differences", []))
    return lines


def _where_made(study: dict) -> list[str]:
    """The CPUs and precision behind every row of the study's tables, said once (the rows' ``pretrain_cpu``,
    ``precision``, ``eval_cpu``: :func:`hlwb.transfer.provenance`, distinct values joined by " | ")."""
    rows = [r for v in study.values() if isinstance(v, list) for r in v if isinstance(r, dict)]
    said = {k: " / ".join(sorted({x for r in rows for x in str(r.get(k) or "").split(" | ") if x})) or "?"
            for k in ("pretrain_cpu", "precision", "eval_cpu")}
    if set(said.values()) == {"?"}:
        return []
    return [(f"Every encoder of these tables was pretrained on {said['pretrain_cpu']} in {said['precision']} and "
             f"scored on {said['eval_cpu']} (each row's `pretrain_cpu`, `precision`, `eval_cpu` in the results file)."), ""]


# issue 29's questions, each answered by a group of the verdict family's differences (a, b) -> in the group
CONTROL_QUESTIONS = (
    ("which chunk stays fixed: chunk k fixed, σ as the rule elsewhere, against the rule (chunk 0 fixed)",
     lambda a, b: a.startswith("hl_keep") and b == "hl_random_paper"),
    ("chunk 0 fixed against all chunks moved, at matched mean ‖Δ‖ (each strength s; s = 1: the rule and flat_matched)",
     lambda a, b: (a, b) == ("hl_random_paper", "flat_matched")
     or (a.startswith("hl_scale") and b == "flat_matched" + a.removeprefix("hl_scale"))),  # the same s
    ("strength, chunk 0 fixed: the rule's σ × s on chunks 1..K−1, against s = 1",
     lambda a, b: a.startswith("hl_scale") and b == "hl_random_paper"),
    ("GenRep's σ with chunk 0 fixed, against GenRep and the rule",
     lambda a, b: a == "gaussian_keep0" and b in ("gaussian", "hl_random_paper")),  # not its best-control rows
)


def controls_markdown(rows: list[dict]) -> list[str]:
    """The verdict family's control rows grouped by the question each answers (:data:`CONTROL_QUESTIONS`):
    per pair its difference on each probe with the Holm verdict, and per question how many were resolved
    after Holm, in which direction — a reading of the intervals, not a new test."""
    lines: list[str] = []
    for question, member in CONTROL_QUESTIONS:
        group = [r for r in rows if member(r["a"], r["b"])]
        if not group:
            continue
        probes = list(dict.fromkeys(r["protocol"] for r in group))
        pairs = list(dict.fromkeys((r["a"], r["b"]) for r in group))
        cell = {(r["a"], r["b"], r["protocol"]): r for r in group}
        up = sum(1 for r in group if r.get("resolved_holm") and r["diff"] > 0)
        down = sum(1 for r in group if r.get("resolved_holm") and r["diff"] < 0)
        count = (f"resolved after Holm: {up} of {len(group)} with a > b, {down} with a < b"
                 if any(r.get("resolved_holm") is not None for r in group) else "no Holm adjustment recorded")
        lines += [f"*{question[0].upper() + question[1:]}* — {count}:", "", "| a − b | " + " | ".join(probes) + " |",
                  "| --- | " + " | ".join("---" for _ in probes) + " |"]
        for a, b in pairs:
            cells = [cell.get((a, b, pr)) for pr in probes]
            lines.append(f"| {a} − {b} | " + " | ".join(
                "–" if c is None else f"{_ci(c['diff'], c['ci_low'], c['ci_high'])}{' ✓' if c.get('resolved_holm') else ''}"
                for c in cells) + " |")
        lines.append("")
    return (["**The controls, by question** (rows of the arm differences above; ✓ resolved after Holm):", "", *lines]
            if lines else [])


def ood_markdown(res: dict) -> list[str]:
    """Notebook 08's results: the GCRL encoders (alpha, beta, probes, bits/dim of the clean test images in the
    head's bins and in 8-bit units) and the OOD table (AUROC of each score of each encoder on each OOD set,
    Fashion-MNIST test as in-distribution), with the likelihood-ratio's background model."""
    g = res.get("gcrl") or {}
    enc, ood = g.get("encoders") or {}, g.get("ood") or []
    if not enc and not ood:
        return []

    def num(v, f: str = ".2f") -> str:
        return "–" if v is None else format(v, f)

    import math

    # 8-bit = the head's bits + log2(256 / bins); bins as notebook 08 records them, else (older results) from that
    extra = (math.log2(256 / res["bins"]) if res.get("bins") else
             next((e["bits_per_dim_8bit"] - e["bits_per_dim"] for e in enc.values()
                   if e.get("bits_per_dim") is not None and e.get("bits_per_dim_8bit") is not None), None))
    bins = "?" if extra is None else f"{256 / 2 ** extra:.0f}"
    lines = [(f"**GCRL encoders** ({res.get('arm', '?')} views, seed {res.get('run_seed', '?')}; test top-1 %; bits/dim "
              f"of the clean test images in the head's {bins} bins and in 8-bit units — uniform dequantisation within "
              f"a bin, + log2(256 / {bins}) = {'?' if extra is None else f'{extra:.0f}'} bits per dimension):"), "",
             f"| encoder | alpha | beta | linear | kNN k20 | bits/dim ({bins} bins) | bits/dim (8-bit) | run |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {num(e.get('alpha'), 'g')} | {num(e.get('beta'), 'g')} | {num(e.get('linear'))} | "
              f"{num(e.get('knn'))} | {num(e.get('bits_per_dim'), '.3f')} | {num(e.get('bits_per_dim_8bit'), '.3f')} | "
              f"{e.get('run', '')} |" for name, e in enc.items()]
    if ood:
        sets = list(dict.fromkeys(o["ood_set"] for o in ood))
        rows = list(dict.fromkeys((o["encoder"], o["score"]) for o in ood))
        auroc = {(o["encoder"], o["score"], o["ood_set"]): o["auroc"] for o in ood}
        n = ood[0].get("n_in"), ood[0].get("n_out")
        bg = res.get("background") or {}
        lines += ["", (f"**OOD detection** (AUROC; in-distribution: {n[0]} test images, {n[1]} per OOD set; "
                       f"the likelihood ratio's background model: mutation rate {bg.get('rate', '?')}, L2 weight "
                       f"{bg.get('weight_decay', '?')}):"), "",
                  "| encoder | score | " + " | ".join(sets) + " |", "| --- | --- | " + " | ".join("---" for _ in sets) + " |"]
        lines += [f"| {e} | {sc} | " + " | ".join(num(auroc.get((e, sc, t)), ".3f") for t in sets) + " |" for e, sc in rows]
    smp = res.get("samples") or {}
    fd = smp.get("fd_oracle") or {}
    if fd:
        lines += ["", (f"**Samples** ({smp.get('n', '?')} each; the GCRL head of `{smp.get('sampler', '?')}` sampled "
                       "autoregressively): FD_oracle " + ", ".join(f"{k} {v:.2f}" for k, v in fd.items())
                       + " (real_vs_real: the floor at this n).")]
    return lines + [""]


def _p(p) -> str:
    import math

    return "–" if p is None or math.isnan(p) else f"{p:.3g}"


def _yes(v) -> str:
    return "–" if v is None else ("yes" if v else "no")


PRESPECIFIED_HL_ARM = "hl_random_paper"  # the paper's rule, fixed before the study: chosen by no one

INTERVAL_WORDS = {  # hlwb.intervals.METHODS, as a table caption says them
    "paired_t": "paired_t = a t over the seed-level paired differences (both sides ran the same seeds)",
    "one_sample_t": "one_sample_t = a t over the arm's per-seed gains (a deterministic reference)",
    "welch_t": "welch_t = a Welch t over the two sides' seed means (different seeds)",
    "pooled_t": "pooled_t = a t with the one-seed side's variance taken as the other side's",
    "images_only": "images_only = one seed a side: test-image sampling only, seed variance not covered",
    "bootstrap": "bootstrap = a two-level bootstrap (seeds, then images)"}


def _interval_words(rows: list[dict]) -> str:
    """How a table's intervals were made: each interval method its rows use (:func:`hlwb.transfer.differences`'s
    ``method``), and the Holm family with its size."""
    methods = list(dict.fromkeys(r.get("method") for r in rows if r.get("method")))
    words = "; ".join(INTERVAL_WORDS.get(m, m) for m in methods) or "interval method not recorded"
    families = list(dict.fromkeys(r.get("family") for r in rows if r.get("family")))
    n = f"{len(rows)} row{'s' if len(rows) != 1 else ''}"
    holm = ("no Holm adjustment recorded" if not any(r.get("p_holm") is not None for r in rows) else
            f"Holm over the family \"{families[0]}\" ({n}: every pair × probe of this table)" if len(families) == 1
            else "Holm over each row's family")
    return f"95 % intervals: {words}; {holm}"


def positives_markdown(rows: list[dict]) -> list[str]:
    """Notebook 06's positives per generated arm (:mod:`hlwb.positives`): the mean ``||z' - z||`` of its
    views and the oracle's agreement between anchor and positive, beside its accuracy — whether gains track
    the views' strength (diversity) or their label consistency."""
    if not rows:
        return []
    probes = [k for k in ("linear", "knn_k20") if any(k in r for r in rows)]
    lines = [("**Positives per arm** (the same anchors for every arm; mean ||z′ − z|| of the views, the oracle "
              "classifier's agreement of anchor and positive with its 95 % Wilson interval, the arm's mean test "
              "top-1 %):"), "",
             "| arm | views | mean ‖z′ − z‖ | oracle agreement [95 % CI] | " + " | ".join(probes) + " |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in probes) + " |"]
    for r in sorted(rows, key=lambda r: r.get("mean_delta", 0.0)):
        ci = r.get("agreement_ci") or [float("nan")] * 2
        acc = " | ".join("–" if r.get(k) is None else f"{r[k]:.2f}" for k in probes)
        lines.append(f"| {r['arm']} | {r.get('strategy', '')} | {r['mean_delta']:.3f} | "
                     f"{r['agreement']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] | {acc} |")
    return lines + [""]


RCG_ROWS = {  # what conditions each row of notebook 07's ablation (hlwb.rcg.evaluation)
    "unconditional_trained": "none: the same architecture trained with the null vector always (budget above)",
    "unconditional": "the null vector (the conditioned generator's classifier-free branch, ~10 % of its training)",
    "clusters_": "a k-means cluster centroid of the train representations",
    "class_labels": "a class prototype, fed to the representation-conditioned generator",
    "class_trained": "a class prototype, fed to a generator trained on class prototypes",
    "rdm_cfg": "RDM samples at classifier-free guidance w on the conditioning (rdm_cfg<w>)",
    "rdm": "RDM samples (the full RCG pipeline: nothing real at sampling)",
    "real_reps": "representations of real train images (RCG's \"oracle\" row)",
    "oracle": "representations of real train images (RCG's oracle row)",
    "posterior_trained": "draws of the contrastive-softmax posterior, fed to a generator trained on such draws",
    "posterior_on_rep_gen": "draws of the contrastive-softmax posterior, fed to the representation-conditioned generator",
    "posterior": "draws of the contrastive-softmax posterior",
    "biggan": "none: the unconditional BigGAN (reference)",
    "real": "none: real train images (the floor)",
}


# the ablation table's row order (by the longest matching prefix): the floors, the unconditional rows, then the
# conditionings from coarse to the full pipeline, the posterior, and RCG's oracle row last
RCG_ORDER = ("real", "biggan", "unconditional_trained", "unconditional", "clusters_", "class_trained", "class_labels",
             "rdm", "rdm_cfg", "posterior_trained", "posterior_on_rep_gen", "posterior", "oracle", "real_reps")


def _prefix(name: str, keys) -> str | None:
    """The longest of ``keys`` that ``name`` starts with (``rdm_cfg3`` -> ``rdm_cfg``, ``real_reps`` -> itself)."""
    return next((k for k in sorted(keys, key=len, reverse=True) if name.startswith(k)), None)


def _rcg_row(name: str) -> str:
    key = _prefix(name, RCG_ROWS)
    return RCG_ROWS[key] if key else ""


def _rcg_order(name: str) -> tuple:
    """Sort key of an ablation row: its place in :data:`RCG_ORDER`, then its number (``clusters_10`` after
    ``clusters_3``, ``rdm_cfg3`` after ``rdm_cfg1``)."""
    key = _prefix(name, RCG_ORDER)
    try:
        number = float(name[len(key or ""):].lstrip("_"))
    except ValueError:
        number = 0.0
    return (RCG_ORDER.index(key) if key else len(RCG_ORDER), number, name)


def rcg_markdown(rcg: dict) -> list[str]:
    """Notebook 07's RCG results: the conditioning ablation (FD_oracle, label entropy, smallest class
    share per row), the representation FD of the RDM and the posterior sweep (rate, MI, agreement)."""
    lines = [(f"**Conditioning ablation** ({rcg.get('n_samples', '?')} samples per row; FD_oracle against "
             f"{rcg.get('n_test', '?')} real test images; label entropy of the oracle's labels in bits):"), "",
             "| row | conditioned on | FD_oracle | label entropy | smallest class share |", "| --- | --- | --- | --- | --- |"]
    space = rcg.get("representation_space") or {}
    if "distillation" in space:  # whether the space is one of the compared runs (hlwb.rcg.views.distillation)
        said = space["distillation"] or (f"the {space.get('arm', '?')} arm's {space.get('method', '')} encoder of seed "
                                         f"{space.get('seed', '?')}, none of the compared runs")
        lines[:0] = [f"**Representation space**: {said}.", ""]
    b = rcg.get("budget")
    if b:
        lines[-2:-2] = [(f"Budget: the trained rows {b['conditioned']['steps']} steps x batch {b['conditioned']['batch']} "
                         f"from {b.get('init') or 'an unrecorded start'}; unconditional_trained "
                         f"{b['unconditional_trained']['steps']} x {b['unconditional_trained']['batch']}."), ""]
    if rcg.get("guidance"):
        lines[-2:-2] = [f"Guidance: {rcg['guidance']}.", ""]
    for name, r in sorted(rcg.get("ablation", {}).items(), key=lambda kv: _rcg_order(kv[0])):
        lines.append(f"| {name} | {_rcg_row(name)} | {r['fd_oracle']:.2f} | {r['label_entropy']:.2f} | "
                     f"{100 * r['min_class_share']:.1f} % |")
    fd = rcg.get("rep_fd")
    if fd:
        lines += ["", (f"**Representation FD** ({fd.get('n')} draws; RDM after {fd.get('rdm_steps')} steps): RDM vs train "
                       f"{fd['rdm_vs_train']:.3f}, RDM vs test {fd['rdm_vs_test']:.3f}; the floors: real train vs test "
                       f"{fd['real_train_vs_test']:.3f}, real train vs the disjoint rest of train "
                       f"{fd.get('real_train_vs_train', float('nan')):.3f}")]
    rows = rcg.get("posterior", [])
    if rows:
        ceiling = (f"; the plug-in MI from N = {rcg['posterior_n']} test images is at most log2 N = "
                   f"{rcg['posterior_mi_ceiling_bits']:.2f} bits" if "posterior_mi_ceiling_bits" in rcg else "")
        lines += ["", ("**Contrastive-softmax posterior** (rate and mutual information in bits; agreement: the oracle's "
                  f"label of the sample vs of the conditioning image{ceiling}):"), "",
                  "| prior | K | T | rate bits | MI bits | agreement |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['prior']} | {r['K']} | {r['T']:g} | {r['rate_bits']:.2f} | {r['mi_bits']:.2f} | "
                  f"{100 * r['agreement']:.1f} % |" for r in rows]
    refs = rcg.get("posterior_references") or {}
    if refs:
        lines += ["", "References of the agreement: " + "; ".join(
            f"{k} {100 * v['agreement']:.1f} % (feature cosine {v.get('feature_cosine', float('nan')):.3f})"
            for k, v in refs.items()) + " (own_rep: the conditioning image's own representation; unconditional: the null "
            "vector)."]
    pt = rcg.get("posterior_trained") or {}
    if pt.get("cell"):
        c = pt["cell"]
        lines += ["", (f"**A generator trained on posterior draws** (prior {c.get('prior')}, K {c.get('K')}, T {c.get('T')}, "
                       f"{c.get('n_dicts')} dictionaries), sampled at that cell:"), "",
                  "| generator | agreement | feature cosine | MI bits | rate bits |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {k} | {100 * v['agreement']:.1f} % | {v.get('feature_cosine', float('nan')):.3f} | "
                  f"{v.get('mi_bits', float('nan')):.2f} | {v.get('rate_bits', float('nan')):.2f} |"
                  for k, v in pt.items() if k != "cell" and isinstance(v, dict)]
    return lines + [""]


def _runs_note(st: dict) -> str:
    """A sweep's runs: how many, and their summed time (side by side they overlap, so it exceeds the wall time)."""
    if st.get("last_runs", 1) <= 1 or "last_run_s" not in st:
        return ""
    return f"{st['last_runs']} runs, {st['last_run_s']:.0f} s summed over runs (side by side they overlap)"


def summary_markdown(summary: dict) -> str:
    """Every result of every stage as one flat table."""
    lines = [f"# hlwb pipeline summary ({summary['profile']} profile)", "",
             f"total wall time of this invocation: {summary['wall_s']:.1f} s", "",
             "| stage | status | wall s | result | value |", "| --- | --- | --- | --- | --- |"]
    for stage, st in summary["stages"].items():
        for k, v in flatten(st["results"]).items():
            lines.append(f"| {stage} | {st['status']} | {stage_seconds(st):.1f} | {k} | {fmt(v)} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, profile: str, summary: dict, figure_dirs: dict[str, Path],
                 swept: Iterable[str] = ()) -> Path:
    """``<out>/report.md``: each stage's headline numbers and figures (from ``figure_dirs[stage]``),
    with machine and date; a swept stage (``swept``) lists its runs."""
    import datetime
    import platform

    import torch

    prov = provenance()
    commit = (f"commit {prov['commit'][:12]}{' with uncommitted changes' if prov['dirty'] else ''}"
              if prov["commit"] else "no git commit")
    inside = shown(out) != str(out)  # a run folder outside the repository is not named (a machine path)
    lines = [f"# hlwb run report — {profile} profile", "",
             (f"{datetime.date.today().isoformat()}, {platform.machine()} with {os.cpu_count()} CPU cores, "
              f"torch {torch.__version__}; stages in this invocation: {summary['wall_s']:.0f} s"
              + (f"; run folder `{shown(out)}`" if inside else "")),
             "", f"Made from {commit} on {prov['machine']} ({profile} profile).", ""]
    if profile == "smoke":
        lines += [("> **Smoke profile**: a few steps on tiny data to test the code paths. These numbers say nothing "
                  "about the methods; see the laptop report for results."), ""]
    lines += ["| stage | status | wall s (its last run) | note |", "| --- | --- | --- | --- |"]
    lines += [f"| {st} | {v['status']} | {stage_seconds(v):.0f} | {_runs_note(v)} |" for st, v in summary["stages"].items()]
    lines.append("")
    for stage, st in summary["stages"].items():
        lines += [f"## {stage} ({st['status']}, {stage_seconds(st):.0f} s)", ""]
        if _runs_note(st):
            lines += [_runs_note(st)[0].upper() + _runs_note(st)[1:] + ".", ""]
        res = st["results"]
        if stage == "06_transfer" and "study" in res:
            lines += study_markdown(res["study"], res.get("calibration"))
        if stage == "04_chunk_perturbations" and "generators" in res:
            lines += delta_markdown(res)
        if stage == "03_walkers" and "walkers" in res:
            lines += walkers_markdown(res)
        rcg = stage == "07_representation_generation" and "rcg" in res
        if rcg:  # its own tables say all: no flat table after them
            lines += rcg_markdown(res["rcg"])
        if stage == "08_ood" and "gcrl" in res:
            rcg = True  # likewise
            lines += ood_markdown(res)
        if stage in swept:
            runs = res.get("runs", {})
            control = f"; best control: **{res['best_control']}**" if res.get("best_control") else ""
            when = ("over the headline runs, before the follow-up runs" if res.get("complete", True)
                    else "over the runs finished so far (the sweep is incomplete)")
            lines += [f"Chosen on the validation kNN {when}: best HL arm **{res.get('best_hl_arm')}**{control}", "",
                      "| run | kNN top-1 (validation) | precision | CPU | wall s |", "| --- | --- | --- | --- | --- |"]
            lines += [f"| {n} | {100 * r['knn_top1']:.2f} | {r.get('precision', '?')} | "
                      f"{(r.get('machine') or {}).get('cpu', '?')} | {r['wall_s']:.0f} |" for n, r in runs.items()]
        elif not rcg:
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
    ``oracle_agreement``, ``mean_delta``); ``gcrl`` from notebook 08 (``encoders``: name -> ``alpha``,
    ``beta``, ``linear``, ``knn``, ``bits_per_dim``; ``ood``: rows with ``encoder``, ``score``,
    ``ood_set``, ``auroc``); ``rcg`` from notebook 07 (``ablation``: row -> ``fd_oracle``,
    ``label_entropy``, ``min_class_share``; ``rep_fd``; ``posterior``: rows with ``prior``, ``K``,
    ``T``, ``rate_bits``, ``mi_bits``, ``agreement``); ``provenance``: the commit, machine and torch the
    numbers were collected with (:func:`provenance`; ``publish`` compares the commit with the one checked
    out); ``machine`` (given ``plan_budget["precision"]``): the CPU model, cores, bf16 flags, torch, the
    pretraining precision resolved on this machine and the commit. ``knn`` is k 20 (the study's declared probe), ``knn_k200`` k 200.
    Reads ``<out>/06_transfer/transfer.csv``, ``<out>/05_contrastive_pretraining/results.json`` and
    ``<out>/03_walkers/results.json``; a missing file leaves its part out.
    """
    import json

    import pandas as pd

    from . import amp, fingerprint

    prov = provenance()
    res: dict = {"budget": {**plan_budget, "wall_s": sweep_wall_s}, "provenance": prov}
    if "precision" in plan_budget:  # where the numbers were made: CPU model, precision (resolved here), torch, commit
        res["machine"] = {**fingerprint.machine(), "precision": amp.resolve(plan_budget["precision"]),
                          "commit": prov.get("commit"), "dirty": prov.get("dirty")}
    csv = out / "06_transfer" / "transfer.csv"
    sweep = out / "05_contrastive_pretraining" / "results.json"
    if csv.exists():
        df = pd.read_csv(csv, keep_default_na=False)
        fm = df[(df.target == "fashion_mnist") & (df.metric == "top1") & (df.draw.astype(str) == "")]

        def scores(rows) -> dict:
            v = rows.set_index("protocol").value
            return {"linear": 100 * float(v["linear"]), "knn": 100 * float(v["knn_k20"]),
                    "knn_k200": 100 * float(v["knn_k200"])}

        from .transfer import reference_runs

        res["references"] = {}
        for key, ref in {"pixels": "ref-pixels", "random_trunk": "ref-random"}.items():
            names = reference_runs(fm, ref)  # the random trunk: each of its init seeds
            names = names if isinstance(names, list) else [names]
            per = [scores(fm[fm.encoder == n]) for n in names if (fm.encoder == n).any()]
            if per:  # the mean over init seeds, and how many
                res["references"][key] = {**{m: sum(p[m] for p in per) / len(per) for m in per[0]},
                                          "n_init_seeds": len(per)}
        if sweep.exists():
            runs = json.loads(sweep.read_text())["runs"]
        else:  # a sweep stopped part-way: the runs that finished
            from .study import sweep_results

            runs = sweep_results(sweep.parent)
        arms: dict = {}
        for name, r in sorted(runs.items(), key=lambda kv: (kv[1].get("arm", ""), kv[1].get("seed", 0))):
            if r.get("method") != "simclr" or (r.get("sampling") or "continuous") != "continuous":  # real: ""
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
    t07 = out / "07_representation_generation" / "results.json"
    if t07.exists():  # RCG: the conditioning ablation, the representation FD, the posterior's rows
        res["rcg"] = json.loads(t07.read_text())["rcg"]
    t08 = out / "08_ood" / "results.json"
    if t08.exists():  # GCRL: linear / kNN / bits per dim of beta only, alpha only and the mix, and the OOD rows
        res["gcrl"] = json.loads(t08.read_text())["gcrl"]
    walkers = out / "03_walkers" / "results.json"
    if walkers.exists():
        w = json.loads(walkers.read_text()).get("walkers", {})
        res["walkers"] = {n: {k: v[k] for k in ("rule", "samples", "oracle_agreement", "mean_delta", "triggered")}
                          for n, v in w.items()}
    return res
