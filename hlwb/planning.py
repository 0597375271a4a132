"""``python -m hlwb pipeline --profile P --plan``: every stage and run of a profile with its cost; trains nothing.

Where a stage's settings are the published laptop runs' (Fashion-MNIST, 32 px), its minutes are the
measured wall time of the published run that holds it (``stage_wall_s`` of ``figures/results_laptop.json``,
else ``results_laptop_side.json``; :data:`STAGE_S` for older ones); a swept stage's minutes are
the sum of its runs' measured seconds (:data:`RUN_S`, the 2026-12-02 laptop run's per-run table in
``figures/report_laptop.md``: two runs side by side on this project's 2-core AMX CPU in bf16), scaled by
steps x batch and trunk work and divided by the runs side by side (``--jobs``, 2 there). Every other stage
is counted in *image passes* (one image through a network, forward and backward when it trains) and
converted with the reference SimCLR step, then, where the stage has a measured time, scaled by that time
over the model's seconds at the measured settings (the passes are counted right; their price per
generator or critic pass is not); the reference SimCLR step: width 16, blocks 1-1-1-1, batch 128, 32 px at 1.36 steps/s in
fp32 on one core of 2 (README, ``bench views``), i.e. 2 x 128 / 1.36 = 188 training passes per second of a
trunk with ``width**2 * sum(blocks) = 1024`` at 1024 pixels; other trunks, generators and image sizes are
scaled by their ``width**2 * depth * pixels`` against that one. No GPU throughput has been measured yet, so
no GPU time is printed: read the CPU hours as relative costs.

Another CPU runs at its own pace (an AMD EPYC without AVX-512 runs fp32: ~3.7x the reference's seconds per
real-data run, ~4.8x per generated-view run): where this machine has finished notebook-05 runs at the
precision the profile resolves to (:func:`measured_here`), the plan also prints the sweep at that measured pace,
and the pipeline's ETA uses it.
"""

from __future__ import annotations

from pathlib import Path

from . import config, data, published, study
from .pipeline import SWEEPS, profile_stages, stage_params

REF_PASSES_S = 2 * 128 / 1.36      # training image passes per second of the reference trunk, this CPU
REF_WORK = 16 ** 2 * 4 * 32 * 32   # width**2 * sum(blocks) * pixels of the reference trunk
EVAL_FACTOR = 1 / 3                # a forward pass costs about a third of forward + backward
GAN_WORK = 24 ** 2 * 4 * 4         # the shipped biggan: g_ch 24, 3 blocks + out conv; D about as much, x2
# official train split sizes (the oracle's epochs); a folder: counted as 10k
TRAIN_SIZES = {"fashion_mnist": 60_000, "fashion_mnist_color": 60_000, "digits": 1_437, "cifar10": 50_000,
               "cifar100": 50_000, "svhn": 73_257, "stl10": 5_000}


# seconds of one run at the reference budget (500 steps x batch 128, width 16, blocks 1-1-1-1, 32 px), SimCLR,
# two side by side on 2 cores (figures/report_laptop.md, 05_contrastive_pretraining): real views; a walker's
# generated views (decode included); the learned walkers (their MLP on every step); RCG (about 2.1 x a
# generated run in the per-run wall_s of figures/rcg_arm_laptop.json, in git history, measured on another CPU)
RUN_S = {"real": 106.0, "generated": 164.0, "learned": 215.0, "rcg": 340.0}
REF_RUN = 500 * 128            # steps x batch of RUN_S
# other methods against SimCLR on the same views, same table (simsiam 164 / 106 on real, 256 / 164 generated, ...)
METHOD_FACTOR = {"simclr": 1.0, "simsiam": 1.55, "moco": 1.95, "byol": 1.85, "swav": 1.4, "gcrl": 1.8}
PUBLISHED_JOBS = 2             # runs side by side in the published run (RUN_S was measured so)
# stage wall times of earlier laptop runs, for stages no published run holds (figures/results_<profile>.json
# "stage_wall_s" of laptop, then laptop_side, win where they have the stage): stage -> (seconds, where measured),
# the same settings, measured on the reference CPU (Intel with AMX, bf16)
STAGE_S = {"03_walkers": (844.0, "the laptop run of 2026-12-02 morning, commit 712b476, alone"),
           "07_representation_generation": (739.0, "notebook 07 in the laptop profile, commit 0e2ae21"),
           "08_ood": (185.0, ("the laptop run of 2026-12-02 afternoon, commit 7c7ccbc; GCRL's background model "
                             "changed since"))}
STAGE_TIMES_FROM = ("laptop", "laptop_side")  # published runs whose stage times count, the first winning
TRANSFER_S_PER_ENCODER = 1533.3 / 37  # notebook 06 from scratch, reference CPU (2026-12-02 morning, 712b476): 37 encoders + 3 references
BUDGET_MIN = 150               # what a laptop profile may take on this CPU (issue 29)
PATH_KEYS = ("run_dir", "figures_dir", "pretrain_dir", "transfer_dir", "hl_sigmas_file", "walkers_dir",
             "study_profile")  # settings that move a stage's files, not its cost


def run_kind(params: dict) -> str:
    """The :data:`RUN_S` row of a notebook-05 run: real, generated, learned (walkers) or rcg."""
    strategy = params.get("strategy", "real")
    return ("real" if strategy == "real" else "rcg" if strategy == "rcg"
            else "learned" if strategy in ("learned_all", "hl_learned") else "generated")


def run_seconds(params: dict, size: int) -> float:
    """Estimated seconds of one notebook-05 run (``params``: its flat parameters), two side by side."""
    work = _trunk_work(params["width"], params["blocks"], size) / _trunk_work(16, "1,1,1,1", 32)
    return RUN_S[run_kind(params)] * METHOD_FACTOR.get(params.get("method", "simclr"), 2.0) * params["steps"] * params[
        "batch"] / REF_RUN * work


MIN_PLANNED_S = 30.0  # runs planned shorter (smoke runs: a few steps) measure start-up, not the machine's pace


def measured_here(precision: str = "auto", runs: str | Path | None = None) -> dict | None:
    """How much slower (> 1) or faster this machine runs notebook-05 runs than :data:`RUN_S`'s reference CPU
    (Intel with AMX, bf16): over the finished runs under ``runs`` (default ``<repo>/runs``; every
    ``*/05_contrastive_pretraining/*/results.json`` with its ``config.json``) made on this machine (CPU model,
    cores, torch: :func:`hlwb.fingerprint.machine`) at the precision ``precision`` resolves to here and planned
    to take at least :data:`MIN_PLANNED_S` on the reference CPU, the median
    of measured / planned seconds per run kind (:func:`run_kind`) and over all. None: no such run yet.
    Runs are taken as the pipeline makes them, two side by side at one thread each (``--jobs 2``, as
    :data:`RUN_S`): a run's results do not record how it was scheduled, so one made alone on every core, or
    slowed by other work beside it, is counted at its own pace (the median keeps a few such runs from moving
    the ratio far).

    Returns ``{"cpu", "precision", "n", "all": ratio, "kinds": {kind: (ratio, n)}}``."""
    import json
    import statistics

    from .amp import resolve
    from .fingerprint import machine

    here, prec = machine(), resolve(precision)
    root = Path(runs) if runs is not None else config.REPO_ROOT / "runs"
    ratios: dict[str, list[float]] = {}
    for res in sorted(root.glob("*/05_contrastive_pretraining/*/results.json")):
        try:
            r, p = json.loads(res.read_text()), json.loads((res.parent / "config.json").read_text())
            made = r.get("machine") or {}
            if (r.get("precision") != prec or any(made.get(k) != here[k] for k in ("cpu", "cores", "torch"))
                    or not r.get("wall_s")):
                continue
            planned = run_seconds(p, data.spec_of(p["dataset"], p.get("image_size") or None).size)
            if planned >= MIN_PLANNED_S:
                ratios.setdefault(run_kind(p), []).append(r["wall_s"] / planned)
        except (OSError, ValueError, KeyError, TypeError):  # a run being written, or of an older layout
            continue
    if not ratios:
        return None
    every = [x for v in ratios.values() for x in v]
    return {"cpu": here["cpu"], "precision": prec, "n": len(every), "all": statistics.median(every),
            "kinds": {k: (statistics.median(v), len(v)) for k, v in sorted(ratios.items())}}


def _published_stage_s() -> dict[str, tuple[float, str]]:
    """``stage -> (seconds, where they were measured)``: the published runs' (:data:`STAGE_TIMES_FROM`, the
    first holding a stage wins), else :data:`STAGE_S`. Those runs' stages run with the laptop settings."""
    times = dict(STAGE_S)
    for profile in reversed(STAGE_TIMES_FROM):
        got = published.stage_times(published.results_file(profile))
        times |= {k: (v, f"the published {profile} run") for k, v in got.items() if k not in SWEEPS}
    return times


def _measured(stage: str, profile: str, out: Path) -> bool:
    """Whether ``stage`` runs in ``profile`` with the published laptop run's settings (paths aside)."""
    mine, ref = stage_params(stage, profile, out), stage_params(stage, "laptop", out)
    return {k: v for k, v in mine.items() if k not in PATH_KEYS} == {k: v for k, v in ref.items()
                                                                     if k not in PATH_KEYS}


def _scale(stage: str, measured: dict[str, tuple[float, str]], out: Path) -> tuple[float, str] | None:
    """``(measured / modelled seconds, source)`` of ``stage`` at the laptop settings (Fashion-MNIST, 32 px), where
    a measured time exists and the pass model prices the stage: the model's passes are counted right, its
    seconds per pass are not those of a real generator or critic; None otherwise."""
    if stage not in measured:
        return None
    ref = stage_params(stage, "laptop", out)
    p01 = stage_params("01_hl_generator", "laptop", out)
    size = data.spec_of(p01["dataset"], p01["image_size"] or None).size
    modelled = sum(c[2] for c in _stage_costs(stage, ref, size, TRAIN_SIZES.get(p01["dataset"], 10_000)))
    return (measured[stage][0] / modelled, measured[stage][1]) if modelled > 0 else None


def _seconds(passes: float, work: float, train: bool = True) -> float:
    return passes * work / REF_WORK / REF_PASSES_S * (1 if train else EVAL_FACTOR)


def _trunk_work(width: int, blocks: str, size: int) -> float:
    return width ** 2 * sum(int(b) for b in blocks.split(",")) * size ** 2


def _stage_costs(stage: str, p: dict, size: int, n_train: int) -> list[tuple[str, float, float]]:
    """``(what, image passes, estimated CPU seconds)`` of one non-swept stage."""
    px = size ** 2
    if stage == "01_hl_generator":
        gens = [g for g in p["generators"].split(",") if g.strip()]
        rows = []
        if p.get("train_oracle"):
            n = p["oracle_epochs"] * n_train
            rows.append(("train the oracle", n, _seconds(n, 32 ** 2 * 4 * px)))
        if p["train"]:
            n = p["train_steps"] * 64 * 3  # D on real + fake, G through D, batch 64
            rows += [(f"train {g}", n, _seconds(n, 2 * GAN_WORK * px)) for g in gens]
        n = len(gens) * (p["n_samples"] + p["n_anchors"] * 5)
        rows.append(("sample, FD_oracle, chunk agreement", n, _seconds(n, GAN_WORK * px, train=False)))
        return rows
    if stage == "02_latent_explorer":
        return [("sigma sweep", 8 * 7, _seconds(56, GAN_WORK * px, train=False))]
    if stage == "03_walkers":
        walkers = 5  # one per chunk of the 32-px biggan + the chunks-1.. walker
        n = walkers * p["steps"] * p["batch"] * 4  # two views, critic step and walker step
        return [(f"{walkers} walkers x {p['steps']} min-max steps", n,
                 _seconds(n, (GAN_WORK + _trunk_work(p["critic_width"], "1,1,1,1", size) / px) * px))]
    if stage == "04_chunk_perturbations":
        gens = [g for g in p["generators"].split(",") if g.strip()]
        grid = len(p["sigmas"].split(","))
        n = len(gens) * 4 * grid * p["n_anchors"]
        crit = len(gens) * 4 * grid * p["critic_steps"] * p["critic_batch"] * 2
        return [("perturbation grid (decode + oracle)", n, _seconds(n, GAN_WORK * px, train=False)),
                ("brief critics", crit, _seconds(crit, _trunk_work(p["critic_width"], "1,1,1,1", size)))]
    if stage == "06_transfer":
        return [("features of every encoder on every target (see the sweep's runs)", 0, 0.0)]
    return [("(cost not modelled)", 0, 0.0)]


def describe(profile: str, out: str | Path | None = None, jobs: int = PUBLISHED_JOBS) -> str:
    """The plan of ``profile`` as text: stages, the sweep's runs (headline, then follow-ups given the best
    HL arm and the best control, which the sweep chooses on the validation kNN at run time), image passes
    and minutes on the reference CPU with ``jobs`` runs side by side."""
    return "\n".join(_plan(profile, out, jobs)[0])


def stage_seconds(profile: str, out: str | Path | None = None, jobs: int = PUBLISHED_JOBS) -> dict[str, float]:
    """Estimated seconds of each stage of ``profile`` on the reference CPU (the numbers :func:`describe`
    prints; the pipeline's ETA)."""
    return _plan(profile, out, jobs)[1]


def _plan(profile: str, out: str | Path | None, jobs: int) -> tuple[list[str], dict[str, float]]:
    if profile not in config.PROFILES:
        raise KeyError(f"unknown profile {profile!r}; valid: {', '.join(config.PROFILES)}")
    out = Path(out) if out else config.REPO_ROOT / "runs" / profile
    lines, total, seconds, here_s = [], 0.0, {}, {}
    p01 = stage_params("01_hl_generator", profile, out)
    spec = data.spec_of(p01["dataset"], p01["image_size"] or None)
    n_train = TRAIN_SIZES.get(p01["dataset"], 10_000)
    stage_s = _published_stage_s()
    lines.append(f"profile {profile}: dataset {p01['dataset']} ({spec.describe()}), stages "
                 f"{', '.join(profile_stages(profile))}; run folder {out}")
    lines.append(f"time: minutes on this project's reference CPU (2 cores), {jobs} runs side by side: measured "
                 "where a stage's settings are a published laptop run's, else its image passes priced by the "
                 "measured SimCLR step and scaled to the stage's measured time (no GPU throughput measured yet)")
    n_encoders = 0
    for stage in profile_stages(profile):
        p = stage_params(stage, profile, out)
        if stage in SWEEPS:
            plan = study.PLANS[profile]
            runs = study.headline_runs(plan)
            best = study.HL_ARMS[0] if any(a.name == study.HL_ARMS[0] for a in plan.arms) else plan.arms[-1].name
            control = next((a.name for a in plan.arms if a.name in study.CONTROLS), None)
            follow = study.followup_runs(plan, best, p["steps"], p["batch"], best_control=control)
            each = [(name, {**p, **extra}) for name, extra in runs + follow]  # every run's flat parameters
            planned = {name: run_seconds(q, spec.size) for name, q in each}
            sec = sum(planned.values()) / jobs
            lines.append(f"{stage}: {len(runs)} headline runs + {len(follow)} follow-up runs (best HL arm and best "
                         f"control chosen at run time; listed for {best}" + (f", {control}" if control else "")
                         + f"); each {p['steps']} steps x batch {p['batch']}, trunk width {p['width']} blocks "
                         f"{p['blocks']}: {p['steps'] * p['batch'] * 2:,} passes; ~{sec / 60:.0f} min")
            here = measured_here(p.get("precision", "auto"), runs=out.parent)  # <runs>/<profile>: its siblings too
            if here:  # this machine's runs so far: the sweep's minutes at its measured pace
                ratio = {k: r for k, (r, _) in here["kinds"].items()}
                sec_here = sum(planned[name] * ratio.get(run_kind(q), here["all"]) for name, q in each) / jobs
                here_s[stage] = sec_here
                lines.append(f"    on this machine ({here['cpu']}, {here['precision']}): ~{sec_here / 60:.0f} min -- "
                             f"measured / planned seconds of its {here['n']} finished runs here: "
                             + ", ".join(f"{k} x{r:.2f} ({n})" for k, (r, n) in here["kinds"].items())
                             + f"; other kinds x{here['all']:.2f} (all)")
            for name, extra in runs + follow:
                lines.append(f"    {name:<44} {extra.get('method', plan.method):<8} {extra.get('strategy', ''):<15}"
                             f" ~{planned[name] / 60:.1f} min")
            n_encoders = len(runs) + len(follow)
            total += sec
            seconds[stage] = sec
            continue
        if stage == "06_transfer":
            targets = [t for t in p["targets"].split(",") if t.strip()]
            n = n_encoders * len(targets) * 2 * 12_000
            measured = _measured(stage, profile, out)
            sec = (TRANSFER_S_PER_ENCODER * n_encoders if measured else
                   _seconds(n, _trunk_work(stage_params(SWEEPS[0], profile, out)["width"], "1,1,1,1", spec.size),
                            train=False))
            lines.append(f"{stage}: {n_encoders} encoders + references on {len(targets)} targets "
                         f"({', '.join(targets)}): ~{n:,} feature passes, ~{sec / 60:.0f} min"
                         + (" (the time per encoder of notebook 06 from scratch on the reference CPU)" if measured else " plus the probes"))
            total += sec
            seconds[stage] = sec
            continue
        if stage in stage_s and _measured(stage, profile, out):
            sec, source = stage_s[stage]
            total += sec
            seconds[stage] = sec
            lines.append(f"{stage}: ~{sec / 60:.1f} min (measured: {source})")
            continue
        costs = _stage_costs(stage, p, spec.size, n_train)
        scale = _scale(stage, stage_s, out)  # the model against the stage's measured time, same settings
        if scale:
            costs = [(what, n, s * scale[0]) for what, n, s in costs]
        sec = sum(c[2] for c in costs)
        total += sec
        seconds[stage] = sec
        lines.append(f"{stage}: ~{sec / 60:.1f} min" + (f" (the pass model x {scale[0]:.2f}: the measured time of "
                                                        f"{scale[1]} over the model at its settings)" if scale else ""))
        lines += [f"    {what}: {n:,.0f} passes, ~{s / 60:.1f} min" for what, n, s in costs]
    fits = ("" if not profile.startswith("laptop") else
            f", {'within' if total / 60 <= BUDGET_MIN else 'OVER'} the {BUDGET_MIN}-min laptop budget")
    lines.append(f"total: ~{total / 60:.0f} min (~{total / 3600:.1f} CPU hours) on the reference CPU{fits} "
                 "(an estimate; nothing was trained)")
    if here_s:  # the sweep at this machine's measured pace, the other stages at the reference CPU's
        mine = total + sum(here_s[s] - seconds[s] for s in here_s)
        lines.append(f"this machine: ~{mine / 60:.0f} min (~{mine / 3600:.1f} h) with {', '.join(here_s)} at the pace "
                     "of its runs here, the other stages at the reference CPU's"
                     + ("" if not profile.startswith("laptop") else
                        f", {'within' if mine / 60 <= BUDGET_MIN else 'OVER'} the {BUDGET_MIN}-min laptop budget"))
        seconds |= here_s  # the pipeline's ETA: this machine's pace
    ref = study.PUBLISHED.get(p01["dataset"])
    if ref:
        lines.append(f"published references ({ref['source']}): "
                     + ", ".join(f"{m} {v:.1f} %" for m, v in ref["top1"].items()))
    return lines, seconds
