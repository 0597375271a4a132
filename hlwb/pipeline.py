"""The pipeline: the numbered notebooks run headless through papermill, in a profile.

    python -m hlwb pipeline --profile smoke|laptop|gpu [--only STAGE] [--out DIR] [--force]

Each stage writes ``<out>/<stage>/`` (executed notebook, ``config.json``, ``results.json``,
tables) and ``stage.json`` with a fingerprint of its inputs (notebook, parameters, upstream
files, the library modules it imports, shipped checkpoints); a stage whose fingerprint is
unchanged and whose last run succeeded is not run again. The collector gathers every ``results.json`` into
``<out>/summary.json``, ``<out>/summary.md`` and the run report (:mod:`hlwb.report`); the sweep
of notebook 05 follows the study plan (:mod:`hlwb.study`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from . import config, report
from .checkpoint import atomic_write_bytes, atomic_write_json, atomic_write_text, remove_debris
from .fingerprint import stage_fingerprint
from .parallel import Progress, run_parallel
from .progress import Eta, Heartbeat, minutes
from .published import PUBLISHED_PROFILE, SIDE_PROFILES
from .report import shown

logger = logging.getLogger(__name__)

NOTEBOOK_DIR = config.REPO_ROOT / "notebooks"
STAGES: tuple[str, ...] = tuple(config.NOTEBOOKS)
CELL_TIMEOUT_S = {"smoke": 300, "smoke_color": 600, "laptop": 5400, "laptop_side": 5400, "laptop_deep": 5400,
                  "gpu": 14400}  # notebook 06 scores ~30 encoders on full splits
# sub-folders a changed stage keeps: notebook 06's per-encoder rows, each keyed by the encoder
# file's digest and the protocol (hlwb.transfer), so only new or changed encoders are scored again
KEEP_ON_CHANGE: dict[str, tuple[str, ...]] = {"06_transfer": ("rows",)}


class PipelineError(RuntimeError):
    """A stage failed; the message names the notebook, the cell and the partial output."""


@dataclass(frozen=True)
class StageResult:
    stage: str
    status: str  # "ran" | "cached"
    wall_s: float
    results: dict


def run_folder(profile: str, out: str | Path | None = None) -> Path:
    """The run folder of ``profile``: ``out`` (relative: to the current directory) or ``runs/<profile>``."""
    return Path(out).expanduser().resolve() if out else config.REPO_ROOT / "runs" / profile


OVERRIDES = "overrides.json"  # a run folder's choices beyond its profile (``pipeline --generator``)
OWN_GENERATOR_STAGES = ("02_latent_explorer", "03_walkers", "04_chunk_perturbations", "05_contrastive_pretraining")
"""The stages whose ``generator`` / ``generators`` parameter ``pipeline --generator FILE`` replaces (01 shows or
trains the profile's generators; 07's ``generator`` is RCG's representation-conditioned one)."""


def run_overrides(out: Path) -> dict:
    """What ``pipeline --generator`` recorded in the run folder (``{}``: the profile as it is)."""
    p = Path(out) / OVERRIDES
    return json.loads(p.read_text()) if p.exists() else {}


def set_generator(out: Path, generator: str) -> Path:
    """Record ``generator`` (a checkpoint file of yours) as the run folder's generator of stages 02-05,
    after loading it once here: a file that does not load (its module not named: ``--generator-module``;
    another kind of file) is refused before any stage runs. Returns the file, absolute."""
    from . import generators

    path = Path(generator).expanduser().resolve()
    if not path.is_file():
        raise PipelineError(f"--generator {generator}: no such file; give a generator checkpoint saved with "
                            "hlwb.generators.save (docs/own_generator.md)")
    generators.load(str(path))  # refused here, naming the fix, rather than in stage 02's kernel
    Path(out).mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(out) / OVERRIDES, {**run_overrides(out), "generator": str(path)})
    return path


def stage_params(stage: str, profile: str, out: Path) -> dict:
    """The flat papermill parameters of ``stage`` in ``profile`` (and the run folder's :func:`run_overrides`)."""
    cls = config.NOTEBOOKS[stage]
    cfg = config.from_params(cls, {}, profile=profile)
    params = dataclasses.asdict(cfg)
    params["run_dir"] = str(out / stage)
    if "figures_dir" in params:  # inside the run folder; `publish` copies a run's figures into figures/
        params["figures_dir"] = str(out / "figures")
        if stage in SWEEPS:  # many runs: each keeps its figures in its own folder
            params["figures_dir"] = ""
    # inputs written by earlier stages of this run
    if "hl_sigmas_file" in params:
        params["hl_sigmas_file"] = str(out / "04_chunk_perturbations" / "hl_sigmas.json")
    if "walkers_dir" in params:
        params["walkers_dir"] = str(out / "03_walkers" / "walkers")
    if "pretrain_dir" in params:
        params["pretrain_dir"] = str(out / "05_contrastive_pretraining")
    if "transfer_dir" in params:
        params["transfer_dir"] = str(out / "06_transfer")
    if stage != "01_hl_generator":  # models stage 01 trained on the profile's dataset replace the shipped ones
        trained = trained_models(profile, out)
        for key in ("generator", "generators", "unconditional"):
            if key in params:
                params[key] = ",".join(trained.get(g.strip(), g.strip()) for g in params[key].split(","))
        if "oracle" in params and not params["oracle"] and "oracle" in trained:
            params["oracle"] = trained["oracle"]
    own = run_overrides(out).get("generator")
    if own and stage in OWN_GENERATOR_STAGES:  # your generator replaces the profile's in every stage that uses one
        for key in ("generator", "generators"):
            if key in params:
                params[key] = own
    return params


def profile_stages(profile: str) -> tuple[str, ...]:
    """The stages ``profile`` runs, in order (a profile on another dataset: :data:`config.DATASET_STAGES`)."""
    return tuple(st for st in STAGES if st in config.PROFILES[profile])


def trained_models(profile: str, out: Path) -> dict[str, str]:
    """Family name (and ``oracle``) -> the file stage 01 trains in ``profile`` (``train`` / ``train_oracle``)."""
    p01 = config.from_params(config.HLGeneratorParams, {}, profile=profile)
    d = out / "01_hl_generator"
    files = {g.strip(): str(d / f"{g.strip()}.pt") for g in p01.generators.split(",") if g.strip()} if p01.train else {}
    return files | ({"oracle": str(d / "oracle.pt")} if p01.train_oracle else {})


def upstream_files(params: dict) -> list[Path]:
    """Files written by earlier stages that a stage reads (so a changed input re-runs it)."""
    files = []
    strategy = params.get("strategy")
    if params.get("hl_sigmas_file") and strategy in (None, "hl_random") and params.get("hl_rule", "delta") == "delta":
        files.append(Path(params["hl_sigmas_file"]))
    if params.get("walkers_dir") and strategy in (None, "learned_all", "hl_learned"):
        files += sorted(Path(params["walkers_dir"]).glob("*/walker.pt"))
    if params.get("pretrain_dir"):
        files += sorted(Path(params["pretrain_dir"]).glob("*/encoder.pt"))
        files += sorted(Path(params["pretrain_dir"]).glob("*/gcrl.pt"))
    if params.get("transfer_dir"):
        files.append(Path(params["transfer_dir"]) / "transfer.csv")
    return [f for f in files if f.is_file()]


def fingerprint(stage: str, params: dict, legacy: bool = False) -> str:
    """The stage's inputs, hashed (:mod:`hlwb.fingerprint`): notebook, parameters, upstream
    files, the hlwb modules the notebook imports (transitively) and the shipped checkpoints."""
    return stage_fingerprint(NOTEBOOK_DIR / f"{stage}.ipynb", params, upstream_files(params), legacy=legacy)


def cell_position(executed: Path) -> str:
    """``cell 7 of 23`` of a notebook papermill is executing (from the copy it saves as cells start and end)."""
    cells = [c for c in json.loads(executed.read_text())["cells"] if c.get("cell_type") == "code"]
    status = [c.get("metadata", {}).get("papermill", {}).get("status") for c in cells]
    return f"cell {status.index('running') + 1} of {len(cells)}" if "running" in status else f"{len(cells)} cells"


# The kernel's own log is noise in a healthy run: TCP-transport warnings at start-up and, at every shutdown,
# "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." -- jupyter_client's shutdown_kernel interrupts the
# kernel (SIGINT) before it asks it to shut down, and ipykernel logs the interrupt it catches at ERROR. A cell's
# error reaches the pipeline through papermill (PapermillExecutionError), not through this log.
KERNEL_ARGS = ["--IPKernelApp.log_level=CRITICAL"]


def run_stage(stage: str, profile: str, out: Path, force: bool = False, variant: str | None = None,
              params: dict | None = None, eta: Eta | None = None) -> StageResult:
    """Run one notebook (or one ``variant`` of a swept notebook, with its ``params``) in its folder; a
    heartbeat line every 30 s (:class:`hlwb.progress.Heartbeat`) says which cell runs and, given the
    pipeline's ``eta``, the time left."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if stage not in config.NOTEBOOKS:
        raise PipelineError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    params = params if params is not None else stage_params(stage, profile, out)
    run_dir = Path(params["run_dir"]) if variant else out / stage
    stage = f"{stage}/{variant}" if variant else stage
    run_dir.mkdir(parents=True, exist_ok=True)
    notebook = stage.split("/")[0]
    fp = fingerprint(notebook, params)
    marker = run_dir / "stage.json"
    if not force and marker.exists():
        prev = json.loads(marker.read_text())
        ok = prev.get("status") == "ok" and (run_dir / "results.json").exists()
        if ok and prev.get("fingerprint") != fp and prev.get("fingerprint") == fingerprint(notebook, params, legacy=True):
            # a marker of the older scheme (module bytes) that still matches: the inputs are
            # unchanged, so it takes the current scheme's fingerprint
            logger.info("%s: fingerprint migrated to the code-only scheme", stage)
            prev["fingerprint"] = fp
            prev.setdefault("finished_at", marker.stat().st_mtime)  # the run's end, not this rewrite's
            atomic_write_json(marker, prev)
        if ok and prev.get("fingerprint") == fp:
            logger.info("%s: unchanged since its last successful run, not run again", stage)
            return StageResult(stage, "cached", 0.0, json.loads((run_dir / "results.json").read_text()))
        if force or prev.get("fingerprint") != fp:
            # training state in the stage folder (walkers, critics) belongs to other code or
            # parameters: start clean. A stage killed under the same fingerprint keeps it and resumes.
            # Caches that check their own validity per entry (KEEP_ON_CHANGE) are kept.
            keep = [run_dir / k for k in KEEP_ON_CHANGE.get(notebook, ()) if (run_dir / k).exists()]
            for child in run_dir.iterdir():
                if child not in keep:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
    executed = run_dir / f"{notebook}.ipynb"
    remove_debris(run_dir)  # temporary files of writes a kill interrupted (the pipeline holds --out)
    (run_dir / "results.json").unlink(missing_ok=True)  # a stale result must not pass for a new one
    env = {"HLWB_HEADLESS": "1", "HLWB_PROFILE": profile, "MPLBACKEND": "agg"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    atomic_write_json(marker, {"fingerprint": fp, "status": "running", "params": params})
    logger.info("%s: running (%s profile) -> %s", stage, profile, shown(executed))
    t0 = time.perf_counter()

    def beat() -> str:
        try:
            where = f", {cell_position(executed)}"
        except (OSError, ValueError, KeyError):  # the copy is being rewritten: say the rest
            where = ""
        return f"{stage}: running for {minutes(time.perf_counter() - t0)}{where}" + (f"; pipeline {eta.text()}" if eta else "")

    try:
        with Heartbeat(beat, log=logger.info):  # papermill says nothing while a cell runs
            pm.execute_notebook(NOTEBOOK_DIR / f"{notebook}.ipynb", executed, parameters=params,
                                kernel_name="python3", cwd=str(NOTEBOOK_DIR), progress_bar=False,
                                log_output=False, execution_timeout=CELL_TIMEOUT_S[profile],
                                extra_arguments=KERNEL_ARGS)
    except pm.PapermillExecutionError as e:
        atomic_write_json(marker, {"fingerprint": fp, "status": "failed", "params": params})
        raise PipelineError(f"stage {stage} failed in cell {e.cell_index} ({e.ename}: {e.evalue}); "
                            f"the partly executed notebook is {executed}") from None
    except DeadKernelError as e:
        atomic_write_json(marker, {"fingerprint": fp, "status": "failed", "params": params})
        raise PipelineError(f"stage {stage}: the kernel died ({e}), often out of memory; "
                            f"the partly executed notebook is {executed}") from None
    except CellTimeoutError as e:
        atomic_write_json(marker, {"fingerprint": fp, "status": "failed", "params": params})
        raise PipelineError(f"stage {stage}: a cell ran longer than {CELL_TIMEOUT_S[profile]} s ({e}); "
                            f"the partly executed notebook is {executed}") from None
    except BaseException:
        atomic_write_json(marker, {"fingerprint": fp, "status": "failed", "params": params})
        raise
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    wall = time.perf_counter() - t0
    results_path = run_dir / "results.json"
    if not results_path.exists():
        raise PipelineError(f"stage {stage} ran but wrote no {results_path}")
    results = json.loads(results_path.read_text())
    atomic_write_json(marker, {"fingerprint": fp, "status": "ok", "params": params, "wall_s": wall,
                               "finished_at": time.time()})
    logger.info("%s: done in %.1f s", stage, wall)
    return StageResult(stage, "ran", wall, results)


def run_pipeline(profile: str = "laptop", out: str | Path | None = None, only: str | None = None,
                 force: bool = False, jobs: int = 1, generator: str | None = None) -> str:
    """Run every stage (or ``only`` one) in order; returns the summary as Markdown. ``jobs`` > 1
    runs that many independent sweep variants side by side, one CPU thread each. ``generator``: a
    checkpoint of your own generator for stages 02-05 (:func:`set_generator`; kept in the run folder,
    so a resumed run uses it again)."""
    if profile not in config.PROFILES:
        raise PipelineError(f"unknown profile {profile!r}; valid: {', '.join(config.PROFILES)}")
    if only is not None and only not in profile_stages(profile):
        raise PipelineError(f"unknown stage {only!r} for profile {profile!r}; stages: "
                            f"{', '.join(profile_stages(profile))}")
    out = run_folder(profile, out)
    out.mkdir(parents=True, exist_ok=True)
    from .lock import DirLock

    with DirLock(out, what=f"hlwb pipeline --profile {profile}"):  # one pipeline per run folder
        if generator:
            set_generator(out, generator)
        own = run_overrides(out).get("generator")
        if own:
            logger.info("stages %s use your generator %s (recorded in %s)", ", ".join(OWN_GENERATOR_STAGES),
                        shown(Path(own)), shown(out / OVERRIDES))
        return _run_stages(profile, out, only, force, jobs)


# Wall seconds per stage measured on the reference machine (2 CPU cores, fp32; the test suite's smoke runs of
# 2026-12-03): the smoke profiles' stages are too short for hlwb.planning's model (start-up dominates).
REFERENCE_S: dict[str, dict[str, float]] = {
    "smoke": {"01_hl_generator": 22, "02_latent_explorer": 7, "03_walkers": 25, "04_chunk_perturbations": 24,
              "05_contrastive_pretraining": 150, "06_transfer": 65, "07_representation_generation": 73, "08_ood": 38},
    "smoke_color": {"01_hl_generator": 113, "02_latent_explorer": 7, "03_walkers": 29, "04_chunk_perturbations": 17,
                    "05_contrastive_pretraining": 66, "06_transfer": 63},
}


def stage_estimates(profile: str, out: Path, stages: list[str], jobs: int = 1) -> dict[str, tuple[float | None, str]]:
    """``stage -> (seconds, where the estimate comes from)``: the stage's last successful run in ``out``,
    else the reference machine's measured time (:data:`REFERENCE_S`), else the plan's estimate
    (:func:`hlwb.planning.stage_seconds`: the published laptop run's time where the settings are its, else
    its cost model; CPU minutes, so not on a machine with a GPU), else ``(None, "unknown")``."""
    import torch

    reference = REFERENCE_S.get(profile, {})
    cpu_only = not torch.cuda.is_available()  # the plan's minutes are the reference CPU's: no guide to a GPU run
    planned = {}
    if cpu_only and not set(stages) <= set(reference):
        from .planning import stage_seconds  # planning imports this module: here, not at the top

        planned = stage_seconds(profile, out, jobs=jobs)
    est: dict[str, tuple[float | None, str]] = {}
    for stage in stages:
        last = last_run_time(out, stage).get("wall_s")
        est[stage] = ((last, "its last run here") if last else
                      (float(reference[stage]), "the reference machine") if stage in reference else
                      (planned[stage], "the plan (--plan)") if planned.get(stage) else (None, "unknown"))
    return est


def _run_stages(profile: str, out: Path, only: str | None, force: bool, jobs: int) -> str:
    stages = [only] if only else list(profile_stages(profile))
    t0 = time.perf_counter()
    est = stage_estimates(profile, out, stages, jobs=jobs)
    eta = Eta({st: e for st, (e, _) in est.items()})
    sources = sorted({src for _, src in est.values()})
    logger.info("pipeline %s: %d stages -> %s; %s (estimates: %s; an unchanged stage is not run again)", profile,
                len(stages), shown(out), eta.text(), ", ".join(sources))
    done = []
    for i, stage in enumerate(stages, 1):
        logger.info("[%d/%d] %s (estimate %s, %s)", i, len(stages), stage,
                    minutes(est[stage][0]) if est[stage][0] else "unknown", est[stage][1])
        eta.begin(stage)
        r = (run_sweep(stage, profile, out, force, jobs, eta=eta) if stage in SWEEPS
             else run_stage(stage, profile, out, force, eta=eta))
        eta.end(stage, r.wall_s, cached=r.status == "cached")
        done.append(r)
        logger.info("[%d/%d] %s %s; pipeline %s", i, len(stages), stage,
                    "unchanged, not run again" if r.status == "cached" else f"done in {minutes(r.wall_s)}", eta.text())
    text = collect(out, profile, done, time.perf_counter() - t0)
    logger.info("pipeline %s finished in %s; report: %s", profile, minutes(time.perf_counter() - t0),
                shown(out / "report.md"))
    return text


# Notebook 05 runs as a sweep: the runs of hlwb.study's plan for the profile.
SWEEPS: tuple[str, ...] = ("05_contrastive_pretraining",)


def _run_variant(args: tuple) -> StageResult:
    stage, profile, out, force, name, params, eta = args
    return run_stage(stage, profile, out, force=force, variant=name, params=params, eta=eta)


def run_sweep(stage: str, profile: str, out: Path, force: bool = False, jobs: int = 1,
              eta: Eta | None = None) -> StageResult:
    """Run every variant of a swept stage (:mod:`hlwb.study`): the headline arms and the
    paper-setting contrast, then -- given the best HL arm on the validation kNN -- the other
    methods and the fixed-set runs (``jobs`` of them side by side). The stage's results.json
    maps variant -> results."""
    from . import study

    plan = study.PLANS[profile]
    base = stage_params(stage, profile, out)
    stage_dir = out / stage
    done: dict[str, StageResult] = {}
    t0 = time.perf_counter()

    def run(runs: list[tuple[str, dict]], part: str) -> None:
        side_by_side = jobs > 1 and len(runs) > 1  # workers in other processes: the heartbeat is this one's
        items = [(stage, profile, out, force, name, {**base, **extra, "run_dir": str(stage_dir / name)},
                  None if side_by_side else eta) for name, extra in runs]
        progress = Progress(len(items), f"{stage} {part}", log=logger.info)

        def report(i: int, r: StageResult) -> None:
            progress(runs[i][0], f"{r.status} in {r.wall_s:.0f} s" + (f"; pipeline {eta.text()}" if eta else ""),
                     cached=r.status == "cached")

        def beat() -> str:
            return (f"{stage} {part}: {progress.done} of {len(items)} runs done, up to {jobs} side by side"
                    + (f"; pipeline {eta.text()}" if eta else ""))

        with Heartbeat(beat, log=logger.info) if side_by_side else nullcontext():
            done.update(zip([n for n, _ in runs], run_parallel(_run_variant, items, jobs, on_done=report)))

    run(study.headline_runs(plan), "headline")
    best = study.best_hl_arm({n: r.results for n, r in done.items()})
    control = study.best_control({n: r.results for n, r in done.items()})  # None: a plan without controls
    logger.info("%s: best HL arm on the validation kNN: %s; best control: %s", stage, best, control)
    run(study.followup_runs(plan, best, base["steps"], base["batch"], best_control=control), "follow-up")
    results = {"best_hl_arm": best, "best_control": control, "selected_on": "validation kNN (Fashion-MNIST train 50k..60k)",
               "runs": {n: r.results for n, r in done.items()}}
    atomic_write_json(stage_dir / "results.json", results)
    status = "ran" if any(r.status == "ran" for r in done.values()) else "cached"
    # the wall-clock time of the stage (runs side by side overlap: not the sum of their times)
    return StageResult(stage, status, time.perf_counter() - t0, results)


def executed_notebook(out: Path, stage: str) -> Path:
    """The executed notebook of a stage in run ``out``; for a swept stage, the run with the
    notebook's own default parameters (the one committed to notebooks/)."""
    if stage in SWEEPS:
        from .study import variant

        d = config.NOTEBOOKS[stage]()
        return out / stage / variant(d.method, d.arm, d.seed, d.augment, d.sampling) / f"{stage}.ipynb"
    return out / stage / f"{stage}.ipynb"


def last_run_time(out: Path, stage: str) -> dict:
    """How long a stage's last successful run took, from its markers (``stage.json``: ``wall_s``,
    written when the run finished). For a sweep: ``wall_s`` is the wall-clock span from the first
    run's start to the last run's end (runs side by side overlap), ``run_s`` the sum over runs."""
    d = out / stage
    markers = [d / "stage.json"] if stage not in SWEEPS else sorted(d.glob("*/stage.json"))
    spans = []
    for m in markers:
        if m.exists():
            rec = json.loads(m.read_text())
            if rec.get("status") == "ok" and "wall_s" in rec:
                end = rec.get("finished_at", m.stat().st_mtime)  # older markers: written when the run ended
                spans.append((end - rec["wall_s"], end, rec["wall_s"]))
    if not spans:
        return {}
    return {"wall_s": max(e for _, e, _ in spans) - min(s for s, _, _ in spans),
            "run_s": sum(w for _, _, w in spans), "runs": len(spans)}


def earlier_stages(out: Path, skip: list[str]) -> list[StageResult]:
    """Stages of run ``out`` not in ``skip`` whose last run finished (status ``earlier``), so a
    report after ``--only STAGE`` still covers the whole run."""
    found = []
    for stage in STAGES:
        res = out / stage / "results.json"
        if stage in skip:
            continue
        if stage in SWEEPS and not res.exists():  # a sweep stopped part-way: its finished runs
            from . import study

            runs = study.sweep_results(out / stage)
            if runs:
                best = study.best_hl_arm(runs) if any(r.get("arm") in study.HL_ARMS for r in runs.values()) else None
                found.append(StageResult(stage, "partial", 0.0, {"best_hl_arm": best, "complete": False,
                                                                 "selected_on": "validation kNN (Fashion-MNIST train 50k..60k)",
                                                                 "runs": runs}))
            continue
        if not res.exists():
            continue
        if stage not in SWEEPS:
            marker = out / stage / "stage.json"
            if not marker.exists() or json.loads(marker.read_text()).get("status") != "ok":
                continue
        found.append(StageResult(stage, "earlier", 0.0, json.loads(res.read_text())))
    return found


def collect(out: Path, profile: str, done: list[StageResult], wall_s: float) -> str:
    """Gather every stage's results into summary.json, summary.md and report.md (:mod:`hlwb.report`);
    each stage also gets ``last_wall_s``, the wall time of the run that produced its results."""
    done = list(done) + earlier_stages(out, [r.stage for r in done])
    done.sort(key=lambda r: STAGES.index(r.stage) if r.stage in STAGES else len(STAGES))
    summary = {"profile": profile, "wall_s": wall_s,
               "stages": {r.stage: {"status": r.status, "wall_s": r.wall_s, "results": r.results,
                                    **{f"last_{k}": v for k, v in last_run_time(out, r.stage).items()}}
                          for r in done}}
    atomic_write_json(out / "summary.json", summary)
    text = report.summary_markdown(summary)
    atomic_write_text(out / "summary.md", text)
    fig_dirs = {st: Path(stage_params(st, profile, out).get("figures_dir") or out / st / "figures")
                for st in summary["stages"] if st in config.NOTEBOOKS}
    report.write_report(out, profile, summary, fig_dirs, swept=SWEEPS)
    sweep = "05_contrastive_pretraining"
    p5 = stage_params(sweep, profile, out)
    numbers = report.results_file(out, {k: p5[k] for k in ("steps", "batch", "width", "blocks", "precision") if k in p5},
                                  summary["stages"].get(sweep, {}).get("last_wall_s"))
    numbers["stage_wall_s"] = {st: v.get("last_wall_s") for st, v in summary["stages"].items()}
    numbers["sweep_run_s"] = summary["stages"].get(sweep, {}).get("last_run_s")
    atomic_write_json(out / f"results_{profile}.json", {"profile": profile, **numbers})
    return text


MANIFEST = "published.json"
"""``figures/published.json``: which run the published files came from (profile, commit, machine) and the files."""

CODE_PATHS = ("hlwb", "pyproject.toml")
"""What makes a run's numbers besides the notebooks (whose code cells each stage's fingerprint holds): a run
made at another commit is the checked-out code's when no file under these differs between the two commits."""


def publish_run(run: str | Path, figures: str | Path = config.REPO_ROOT / "figures",
                notebooks: str | Path = NOTEBOOK_DIR, force: bool = False,
                profile: str | None = None) -> list[Path]:
    """Copy a finished run into the repository (the explicit step after a pipeline: the run
    itself writes only inside its folder). A ``laptop`` run: its executed notebooks, cleaned
    (:func:`publish_notebook`), into ``notebooks``; its figures, ``results_laptop.json`` and ``report.md``
    (as ``report_laptop.md``, figure links rewritten) into ``figures``, and :data:`MANIFEST` recording the
    run's profile, commit and machine and the files written. A run of a :data:`SIDE_PROFILES` profile: the
    same into ``figures/<profile>/`` (notebooks into ``figures/<profile>/notebooks/``), its results file
    into ``figures/results_<profile>.json`` -- the laptop run's files stay; the notebooks of its stages the
    laptop profile does not run (laptop_side's 03 and 08) go into ``notebooks``, so that every notebook
    there carries the outputs of a published run.

    Refused (:class:`PipelineError`, nothing written): a run of another profile than ``profile`` (default:
    any published one -- a smoke run's numbers would replace the study's); a run folder another process
    holds (:class:`hlwb.lock.LockedError`: a pipeline writing it) or with a stage not marked finished; and,
    unless ``force``, a run whose numbers were made by other code than the one checked out: another commit
    whose :data:`CODE_PATHS` differ from this one's (or that this repository does not know), or stages whose
    fingerprint (code, parameters, inputs) differs from what this code computes. With ``force`` the
    replaced files and where they came from are logged.
    """
    from .lock import DirLock

    run, figures, notebooks = Path(run), Path(figures), Path(notebooks)
    if not (run / "summary.json").is_file():
        raise PipelineError(f"{run} holds no finished pipeline run (no summary.json); run the pipeline first")
    with DirLock(run, what="hlwb publish"):  # a pipeline writing the run refuses us (and waits while we copy)
        made = json.loads((run / "summary.json").read_text()).get("profile", run.name)
        allowed = (profile,) if profile else (PUBLISHED_PROFILE, *SIDE_PROFILES)
        if made not in allowed:
            raise PipelineError(
                f"{run} is a {made}-profile run, but notebooks/ and figures/ hold the {PUBLISHED_PROFILE} profile's "
                f"results (figures/<profile>/ those of {', '.join(SIDE_PROFILES)}): publishing would overwrite them "
                f"with {made} numbers. Publish a run of {' or '.join(allowed)} (make pipeline PROFILE=...); "
                f"a {made} run's report and results stay in {run}")
        unfinished = _unfinished_stages(run)
        if unfinished:
            raise PipelineError(f"{run}: {len(unfinished)} stage(s) not marked finished ({', '.join(unfinished[:6])}"
                                f"{' …' if len(unfinished) > 6 else ''}); publish a run whose every stage finished: "
                                f"run the pipeline to the end first")
        source = _run_provenance(run, made)
        stale = _stale(run, source)
        why = ([f"its numbers were not made by the code checked out — {'; '.join(stale)}"] if stale else []) + \
            _mixed_machines(run)
        if why and not force:
            raise PipelineError(f"{run}: {'; and '.join(why)}. Run the pipeline again with this code on one machine, "
                                "or pass --force to publish them anyway")
        own = {}  # a side profile's stages the laptop profile does not run: their one executed copy, in notebooks/
        if made in SIDE_PROFILES:  # its own folder: the laptop run's files stay
            own = {s: notebooks for s in config.PROFILES[made] if s not in config.PROFILES[PUBLISHED_PROFILE]}
            results_dir, figures, notebooks = figures, figures / made, figures / made / "notebooks"
        else:
            results_dir = figures
        if force and why:
            before = _read_json(figures / MANIFEST)
            logger.warning("publish --force: replacing the published files of %s with %s's (%s)",
                           _describe(before) if before else "an unrecorded run", run, "; ".join(why))
        written = _copy_run(run, made, figures, notebooks, results_dir, own)
        manifest = {"run": shown(run), "profile": made, **{k: source.get(k) for k in ("commit", "dirty", "machine")},
                    "published_at": time.strftime("%Y-%m-%d %H:%M:%S"), "published_from_commit":
                    report.provenance().get("commit"), "forced": bool(force and why),
                    "files": sorted(_repo_relative(p, results_dir.parent) for p in written)}
        atomic_write_json(figures / MANIFEST, manifest)
        return [*written, figures / MANIFEST]


def _repo_relative(path: Path, root: Path) -> str:
    """``figures/x.png``, ``notebooks/01_hl_generator.ipynb``, ``figures/laptop_deep/notebooks/05_pretrain.ipynb``."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path.relative_to(path.parents[1]))


def _copy_run(run: Path, profile: str, figures: Path, notebooks: Path, results_dir: Path,
              elsewhere: dict[str, Path]) -> list[Path]:
    written = []
    for stage in STAGES:
        src = executed_notebook(run, stage)
        if src.exists():
            written.append(publish_notebook(src, elsewhere.get(stage, notebooks) / f"{stage}.ipynb"))
    figures.mkdir(parents=True, exist_ok=True)
    for f in sorted((run / "figures").glob("*")) if (run / "figures").is_dir() else []:
        if f.is_file():
            atomic_write_bytes(figures / f.name, f.read_bytes())
            written.append(figures / f.name)
    if (run / f"results_{profile}.json").is_file():
        atomic_write_bytes(results_dir / f"results_{profile}.json", (run / f"results_{profile}.json").read_bytes())
        written.append(results_dir / f"results_{profile}.json")
    if (run / "report.md").is_file():
        text = (run / "report.md").read_text().replace("](figures/", "](")
        atomic_write_text(figures / f"report_{profile}.md", text)
        written.append(figures / f"report_{profile}.md")
    return written


def _markers(run: Path) -> list[Path]:
    """Every stage marker of a run: ``<stage>/stage.json`` and, for a sweep, ``<stage>/<variant>/stage.json``."""
    return sorted([*run.glob("*/stage.json"), *run.glob("*/*/stage.json")])


def _read_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _unfinished_stages(run: Path) -> list[str]:
    """``stage (status)`` of every marker not ``ok``, and of every stage with a notebook to publish but no marker."""
    out = [f"{m.parent.relative_to(run)} ({_read_json(m).get('status', 'unreadable')})"
           for m in _markers(run) if _read_json(m).get("status") != "ok"]
    for stage in STAGES:
        nb = executed_notebook(run, stage)
        if nb.exists() and not (nb.parent / "stage.json").exists():
            out.append(f"{nb.parent.relative_to(run)} (no stage.json)")
    return out


def _mixed_machines(run: Path) -> list[str]:
    """Why ``run``'s pretraining runs are not one machine's (empty: they are): each sweep run's ``results.json``
    records its CPU model and precision, and bf16 runs of one seed differ across CPUs by tenths of a point,
    so a study mixing them is not one study."""
    made: dict[str, list[str]] = {}
    for res in sorted(run.glob(f"{SWEEPS[0]}/*/results.json")):
        r = _read_json(res)
        cpu = (r.get("machine") or {}).get("cpu") or "CPU not recorded"
        made.setdefault(f"{cpu}, {r.get('precision') or 'precision not recorded'}", []).append(res.parent.name)
    if len(made) <= 1:
        return []
    each = "; ".join(f"{k}: {len(v)} run{'s' if len(v) != 1 else ''} ({', '.join(v[:3])}{' …' if len(v) > 3 else ''})"
                     for k, v in sorted(made.items(), key=lambda kv: -len(kv[1])))
    return [(f"its pretraining runs were made on {len(made)} machines or precisions ({each}) — one study's numbers "
            f"come from one machine: delete the other machines' run folders under {SWEEPS[0]}/ and run the pipeline "
            "again on one")]


def _run_provenance(run: Path, profile: str) -> dict:
    """What the run recorded about where its numbers come from (``results_<profile>.json`` ``provenance``)."""
    return _read_json(run / f"results_{profile}.json").get("provenance") or {}


def _stale(run: Path, source: dict) -> list[str]:
    """Why the run's numbers are not those of the checked-out code (empty: they are): another commit, or
    stages whose fingerprint (code, parameters, inputs) differs from what this code computes."""
    here = report.provenance()
    why = []
    if not source.get("commit"):
        why.append("the run records no commit (made before runs recorded one)")
    elif source["commit"] != here.get("commit"):
        code = code_changes(source["commit"], here.get("commit"))
        if code is None or code:
            what = (f" ({len(code)} file(s) of {', '.join(CODE_PATHS)} differ: {', '.join(code[:4])}"
                    f"{' …' if len(code) > 4 else ''})" if code else "")
            why.append(f"it was made at commit {source['commit'][:12]}, {str(here.get('commit') or 'unknown')[:12]} "
                       f"is checked out{what}")
    changed = []
    for m in _markers(run):
        rec = _read_json(m)
        stage = m.parent.relative_to(run).parts[0]
        if stage not in config.NOTEBOOKS or "params" not in rec:
            continue
        if rec.get("fingerprint") != fingerprint(stage, rec["params"]) and \
                rec.get("fingerprint") != fingerprint(stage, rec["params"], legacy=True):  # a marker of the older scheme
            changed.append(str(m.parent.relative_to(run)))
    if changed:
        why.append(f"the code or inputs of {len(changed)} stage(s) changed since they ran ({', '.join(changed[:4])}"
                   f"{' …' if len(changed) > 4 else ''})")
    return why


def code_changes(a: str, b: str | None, root: Path = config.REPO_ROOT) -> list[str] | None:
    """The files under :data:`CODE_PATHS` that differ between commits ``a`` and ``b`` of the git repository
    at ``root`` (``[]``: the same code); None when git cannot tell (a commit it does not know, no git)."""
    if not b:
        return None
    names = report.git("diff", "--name-only", a, b, "--", *CODE_PATHS, root=root, timeout=60)
    return None if names is None else names.split()


def _describe(manifest: dict) -> str:
    return (f"the {manifest.get('profile')} run {manifest.get('run')} (commit {str(manifest.get('commit'))[:12]}, "
            f"{manifest.get('machine')}, published {manifest.get('published_at')})")


KEEP_TAG = "keep_output"


def publish_notebook(executed: str | Path, dest: str | Path) -> Path:
    """Turn an executed pipeline notebook into its committed form (what `publish` copies into notebooks/).

    Drops papermill's injected-parameters cell and all execution metadata; keeps every code
    cell's execution count (executed top to bottom, as nbstripout ``--keep-count``) and the
    outputs only of cells tagged ``keep_output``.
    """
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    if nb.metadata.get("papermill", {}).get("exception"):
        raise PipelineError(f"{executed} failed during execution; publish a successful run")
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags:
            continue
        cell.metadata = {"tags": tags} if tags else {}
        if cell.cell_type == "code" and KEEP_TAG not in tags:
            cell.outputs = []
        cells.append(cell)
    nb.cells = cells
    code = [c for c in cells if c.cell_type == "code"]
    for i, c in enumerate(code, 1):  # renumber: the dropped injected cell leaves no gap
        c.execution_count = i
        for o in c.outputs:
            if "execution_count" in o:
                o.execution_count = i
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                  "language": "python"},
                   "language_info": {"name": "python"}}
    dest = Path(dest)
    atomic_write_text(dest, nbformat.writes(nb) + "\n")
    return dest
