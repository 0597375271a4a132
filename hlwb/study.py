"""The view study as data: which pretraining runs notebook 05 makes in each profile, and why.

The study compares *latent* views (T_z) at one pixel augmentation T_x, so that the headline
measures the one thing it claims to:

* **headline** arms — SimCLR, every arm with the same ``fair`` T_x (:data:`hlwb.views.FAIR_PRESET`):
  ``real``; ``synth`` (T_z = identity); GenRep ``gaussian``; COP-Gen ``learned_all`` and
  ``hl_learned`` at notebook 03's *selected* walkers; ``hl_random_paper`` (the paper's rule,
  chunk 0 untouched); ``hl_random_delta`` (notebook 04's delta_i: **oracle-calibrated**, labels
  chose its sigmas); ``flat_matched`` (every chunk at one sigma with the paper-rule arm's mean
  ||z' - z||: hierarchy vs strength). The verdict rests on real, GenRep, the paper-rule arm and
  the flat control: those get the most seeds.
* **contrast** — the paper's confounded setting (HL arms crop+flip, baselines full SimCLR T_x)
  for real, GenRep and the paper-rule arm, shown beside the headline. An arm whose paper T_x is
  the fair one (real and GenRep: both SimCLR) is not trained twice: its headline runs are its
  paper-setting rows (:func:`paper_setting`), so only the HL arm's T_x changes between the two tables.
* **methods** — the other SSL methods on real, GenRep and the best HL arm (one seed).
* **sampling** — continuous sampling vs a fixed set re-used ``fixed_passes`` times, at equal
  steps, on the best HL arm (its continuous runs are the headline runs of the same seeds).
* **rcg** — a headline arm with the same T_x and seeds as the verdict's: anchor and positive are two
  renderings of one RDM representation by the representation-conditioned generator under two noises
  (:mod:`hlwb.rcg.views`; RCG's models are shipped, so the arm uses no real image at training time). It is
  compared with real data, GenRep and the paper-rule HL arm; it is not an HL arm (never the "best HL arm").
* **gcrl** — the hybrid generative-contrastive method (:mod:`hlwb.ssl.gcrl`) at the same budget and
  T_x, on real data and on the best HL arm: alpha only (generative) and a mix (:data:`GCRL_RUNS`).
  Its beta-only row is SimCLR itself (at alpha = 0 GCRL's loss is SimCLR's, tested), so the headline's
  SimCLR runs of the same arm and seeds are that row; they are not trained again. **Caveat**: a GCRL run
  pairs a weak view (flip, small shift: what its density models) with a strong one, while SimCLR pairs two
  strong views, so "mix − beta only" measures L_gen *and* the change of pairing; a GCRL alpha = 0 row on
  the weak/strong pairs (``GcrlRun(0.0, 1.0, ...)``) would separate them (not in the plans yet).
* **controls** (issue 29; docs/methods.md §2, §7) — separate "hierarchy" from "leave the global chunk
  alone", all at the HL arm's T_x: ``hl_keep{k}`` (the paper rule's sigma on every chunk but chunk k,
  k = 1..K-1; ``hl_keep0`` is the paper rule), the strength curves ``hl_scale{s}`` (the rule's sigmas x s
  on chunks 1..K-1, chunk 0 fixed) beside ``flat_matched{s}`` (every chunk at the same mean ||z' - z||),
  s in :data:`SCALES` (s = 1: ``hl_random_paper`` and ``flat_matched`` themselves), and
  ``gaussian_keep0`` (GenRep's sigma, chunk 0 fixed). The best control (:func:`best_control`, on the
  validation kNN like the best HL arm) gets the verdict arms' seeds as follow-up runs.

The best HL arm is chosen on the kNN monitor's **validation** split (Fashion-MNIST train
images 50k..60k; ``knn_split="val"``), never on the test set.

Profiles (each <= 150 min on this project's 2-core CPU at ``--jobs 2``; ``python -m hlwb pipeline
--profile P --plan`` prints the estimate, :mod:`hlwb.planning`):

* ``laptop`` — the verdict: real, GenRep, the paper rule and the flat control with 5 seeds, the
  controls with 3 and the best control brought to 5, RCG (3 seeds), and synth and the delta-calibrated
  HL arm (2 seeds). To fit (~2 h estimated), what the 2026-12-02 run (145 min) had already settled
  **moved to** ``laptop_side``: the other SSL methods, continuous vs fixed sampling, the paper-T_x
  contrast, GCRL (with notebook 08, which scores its runs) and the learned walkers (with notebook 03,
  which trains them: 37 of those 145 min). They are context, not the verdict (hl_random_paper was the
  best HL arm there; the learned walkers trailed it); with them ``laptop`` would need ~3.5 h.
* ``laptop_side`` — those side studies on the same budget, with real, GenRep and the paper rule (3 seeds)
  as their references; every pair it compares ran the same seeds, so each interval is paired seed by
  seed: continuous vs fixed sampling (seeds 0-2 of the paper rule), the paper T_x vs the fair one
  (seeds 0-2), GCRL's mix vs SimCLR on real data (seeds 0-2). The learned walkers' arms keep 2 seeds.
* ``laptop_deep`` — the verdict at the budget where the real-data encoder clears raw pixels on the
  linear probe by >= 2.5 points (figures/calibration_laptop.json: width 16, 2000 steps, +2.85): real,
  GenRep, the paper rule, the flat control and :data:`DEEP_CONTROL` with 3 seeds; stages 05-06 only, on
  the shipped generators. ``DEEP_CONTROL`` is the best control of the published ``laptop`` study (chosen
  there on the validation kNN among all :data:`CONTROLS`, ``figures/results_laptop.json`` ->
  ``study.best_control``; a test ties the two), so its runs here are fresh seeds of an arm chosen
  elsewhere: no winner's curse, and no control run only to be discarded (every control at one seed at
  this budget would add ~70 min on a 2-core AVX-512 CPU and put the profile at ~3 h).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import rcg  # noqa: F401  (importing hlwb.rcg registers the "rcg" view strategy, an arm of every plan)
from .ssl.gcrl import method_label as gcrl_label  # the name of a GCRL run's method in tables
from .views import lookup, preset_for

HL_RULES = ("paper", "delta")  # hl_random's sigmas: the reference's fixed rule, or notebook 04's delta_i


@dataclass(frozen=True)
class Arm:
    """One arm: a view strategy with its T_x setting and rule, run with each of ``seeds``."""

    name: str
    strategy: str
    seeds: tuple[int, ...] = (0,)
    hl_rule: str = "paper"        # hl_random only: paper (the reference's rule) or delta (notebook 04)
    oracle_calibrated: bool = False  # labels chose a hyper-parameter of this arm
    hl_keep: int = 0              # hl_keep only: the chunk kept fixed
    hl_scale: float = 1.0         # hl_scaled / flat_matched only: the paper rule's strength times this

    def __post_init__(self) -> None:
        lookup(self.strategy)  # a view strategy of hlwb.views.STRATEGIES (else: the valid names)
        if self.hl_rule not in HL_RULES:
            raise ValueError(f"arm {self.name!r}: hl_rule must be one of {', '.join(HL_RULES)}, got {self.hl_rule!r}")

    def params(self) -> dict:
        """The notebook-05 parameters (:class:`hlwb.config.PretrainParams`) that select this arm's views
        (``hl_keep`` / ``hl_scale`` when the strategy reads them and they are not the defaults)."""
        reads = lookup(self.strategy).params
        extra = {k: v for k, v, default in (("hl_keep", self.hl_keep, 0), ("hl_scale", self.hl_scale, 1.0))
                 if k in reads and v != default}
        return {"arm": self.name, "strategy": self.strategy, "hl_rule": self.hl_rule, **extra}


KEEP_CHUNKS = (1, 2, 3)   # hl_keep1..hl_keep{K-1} of the 4-chunk biggan (hl_keep0 is the paper rule)
SCALES = (0.25, 0.5, 1.5)  # the strength sweep beside s = 1 (hl_random_paper and flat_matched themselves)
STRENGTH_CURVES = ("chunk 0 fixed", "all chunks")  # hlwb.plots.save_strength_figure's two curves


def control_arms(seeds: tuple[int, ...]) -> tuple[Arm, ...]:
    """The controls of issue 29 (module docstring), each run with ``seeds``."""
    return (tuple(Arm(f"hl_keep{k}", "hl_keep", seeds, hl_keep=k) for k in KEEP_CHUNKS)
            + tuple(Arm(f"hl_scale{s:g}", "hl_scaled", seeds, hl_scale=s) for s in SCALES)
            + tuple(Arm(f"flat_matched{s:g}", "flat_matched", seeds, hl_scale=s) for s in SCALES)
            + (Arm("gaussian_keep0", "gaussian_keep0", seeds),))


CONTROLS = tuple(a.name for a in control_arms((0,)))  # the candidates for "best control"


def strength_curve(arm: Arm) -> str | None:
    """The strength curve an arm lies on (:data:`STRENGTH_CURVES`): the paper rule at any scale keeps
    chunk 0 fixed, the flat control moves all chunks; None for every other arm (a point)."""
    if arm.strategy == "hl_scaled" or (arm.strategy == "hl_random" and arm.hl_rule == "paper"):
        return STRENGTH_CURVES[0]
    return STRENGTH_CURVES[1] if arm.strategy == "flat_matched" else None


HL_ARMS = ("hl_random_paper", "hl_random_delta", "hl_learned")  # the candidates for "best HL arm"
# laptop_deep's control (module docstring): the published laptop study's best control
# (figures/results_laptop.json -> study.best_control; tests/test_study.py checks that they agree)
DEEP_CONTROL = "hl_scale1.5"


@dataclass(frozen=True)
class GcrlRun:
    """GCRL runs at one (alpha, beta) on one arm ("best": the best HL arm), one per seed."""

    alpha: float
    beta: float
    arm: str
    seeds: tuple[int, ...] = (0,)

    @property
    def label(self) -> str:
        return gcrl_label(self.alpha, self.beta)

    def arm_for(self, best: str) -> str:
        """The arm these runs train on, given the best HL arm."""
        return best if self.arm == "best" else self.arm


# alpha only and the mix on real data and the best HL arm; >= 3 seeds on the mix on real data
GCRL_RUNS = (GcrlRun(1.0, 0.0, "real"), GcrlRun(1.0, 1.0, "real", (0, 1, 2)),
             GcrlRun(1.0, 0.0, "best"), GcrlRun(1.0, 1.0, "best"))


@dataclass(frozen=True)
class Plan:
    """The runs of one profile; see the module docstring."""

    method: str
    arms: tuple[Arm, ...]
    contrast: tuple[str, ...] = ()           # arm names also run in the paper's T_x setting
    contrast_seeds: tuple[int, ...] = (0,)   # seeds of those paper-setting runs
    methods: tuple[str, ...] = ()            # other methods, on real, gaussian and the best HL arm (seed 0)
    fixed_seeds: tuple[int, ...] = ()        # fixed-set runs of the best HL arm (those of its seeds)
    fixed_passes: int = 10                   # the fixed set holds steps x batch / passes pairs
    gcrl: tuple[GcrlRun, ...] = ()           # GCRL runs (their beta-only row: the SimCLR runs)
    best_control_seeds: tuple[int, ...] = ()  # the seeds the best control reaches (its missing ones: follow-up)

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"no arm {name!r} in this plan; arms: {', '.join(a.name for a in self.arms)}")


VERDICT = ("real", "gaussian", "hl_random_paper", "flat_matched")  # the arms the verdict rests on (+ best control)
FIVE, THREE, TWO = (0, 1, 2, 3, 4), (0, 1, 2), (0, 1)


def _arms(main_seeds: tuple[int, ...], other_seeds: tuple[int, ...], with_rcg: bool = True) -> tuple[Arm, ...]:
    """The study's arms; ``with_rcg``: with the RCG arm (its shipped models are Fashion-MNIST's)."""
    return _verdict(main_seeds) + _side(other_seeds) + ((Arm("rcg", "rcg", main_seeds),) if with_rcg else ())


def _verdict(seeds: tuple[int, ...]) -> tuple[Arm, ...]:
    return (Arm("real", "real", seeds), Arm("gaussian", "gaussian", seeds),
            Arm("hl_random_paper", "hl_random", seeds, hl_rule="paper"), Arm("flat_matched", "flat_matched", seeds))


def _side(seeds: tuple[int, ...]) -> tuple[Arm, ...]:
    return (Arm("synth", "synth", seeds), Arm("learned_all", "learned_all", seeds),
            Arm("hl_learned", "hl_learned", seeds),
            Arm("hl_random_delta", "hl_random", seeds, hl_rule="delta", oracle_calibrated=True))


PLANS: dict[str, Plan] = {
    # two control runs at most (hl_keep and hl_scaled: the suite runs this plan end to end)
    "smoke": Plan("simclr", (Arm("real", "real"), Arm("synth", "synth"),
                             Arm("hl_random_paper", "hl_random", hl_rule="paper"),
                             Arm("flat_matched", "flat_matched"), Arm("hl_learned", "hl_learned"),
                             Arm("rcg", "rcg"), Arm("hl_keep1", "hl_keep", hl_keep=1),
                             Arm("hl_scale0.5", "hl_scaled", hl_scale=0.5)),
                  contrast=("real", "hl_random_paper"), methods=("byol",), fixed_seeds=(0,), fixed_passes=2,
                  gcrl=(GcrlRun(1.0, 0.0, "real"), GcrlRun(1.0, 1.0, "real"))),
    "laptop": Plan("simclr", _verdict(FIVE) + (Arm("rcg", "rcg", THREE),) + control_arms(THREE)
                   + (Arm("synth", "synth", TWO), Arm("hl_random_delta", "hl_random", TWO, hl_rule="delta",
                                                      oracle_calibrated=True)),
                   best_control_seeds=FIVE),
    "laptop_side": Plan("simclr", _verdict(THREE)[:3] + _side(TWO)[1:3], contrast=("real", "gaussian", "hl_random_paper"),
                        contrast_seeds=THREE, methods=("simsiam", "moco", "byol", "swav"), fixed_seeds=THREE,
                        gcrl=GCRL_RUNS),
    "laptop_deep": Plan("simclr", _verdict(THREE) + tuple(a for a in control_arms(THREE) if a.name == DEEP_CONTROL),
                        best_control_seeds=THREE),
    # the smoke plan on the colour set, without rcg (Fashion-MNIST's shipped models)
    "smoke_color": Plan("simclr", (Arm("real", "real"), Arm("synth", "synth"),
                                   Arm("hl_random_paper", "hl_random", hl_rule="paper"),
                                   Arm("flat_matched", "flat_matched"), Arm("hl_learned", "hl_learned")),
                        gcrl=(GcrlRun(1.0, 1.0, "real"),)),  # the paper-T_x and fixed-set paths: the smoke plan's
    # CIFAR-10 (config.PROFILES["gpu"]): every arm but rcg, and the controls
    "gpu": Plan("simclr", _arms(THREE, THREE, with_rcg=False) + control_arms(THREE),
                contrast=("real", "gaussian", "hl_random_paper"), contrast_seeds=THREE,
                methods=("simsiam", "moco", "byol", "swav"), fixed_seeds=THREE,
                gcrl=GCRL_RUNS[:3] + (GcrlRun(1.0, 1.0, "best", THREE),), best_control_seeds=FIVE),
}


# Published linear-probe top-1 (%) on a standard benchmark, set beside a profile's results on that dataset as
# references for the expected ordering, not as our numbers (their budget: ResNet-18, ~1000 epochs, full
# augmentations): solo-learn's CIFAR-10 table (da Costa et al., JMLR 2022, github.com/vturrisi/solo-learn).
PUBLISHED: dict[str, dict] = {
    "cifar10": {"source": "solo-learn, ResNet-18, ~1000 epochs, linear top-1",
                "top1": {"simclr": 90.7, "simsiam": 90.5, "byol": 92.6, "moco": 92.9, "swav": 89.2}},
}


def variant(method: str, arm: str, seed: int, augment: str = "fair", sampling: str = "continuous") -> str:
    """The run folder name: ``simclr-hl_random_paper-s0``, ``-paper`` / ``-fixed`` when not the default."""
    return "-".join([method, arm] + (["paper"] if augment == "paper" else [])
                    + (["fixed"] if sampling == "fixed" else []) + [f"s{seed}"])


def _paper_is_fair(a: Arm) -> bool:
    return preset_for(a.strategy, "paper") == preset_for(a.strategy, "fair")


def headline_runs(plan: Plan) -> list[tuple[str, dict]]:
    """(variant, notebook-05 parameters) of the headline and the paper-setting contrast (only
    the contrast arms whose paper T_x differs from the fair one are trained again)."""
    runs = [(variant(plan.method, a.name, s), {**a.params(), "method": plan.method, "augment": "fair", "seed": s})
            for a in plan.arms for s in a.seeds]
    for name in plan.contrast:
        a = plan.arm(name)
        if not _paper_is_fair(a):
            runs += [(variant(plan.method, a.name, s, augment="paper"),
                      {**a.params(), "method": plan.method, "augment": "paper", "seed": s})
                     for s in plan.contrast_seeds]
    return runs


def paper_setting(plan: Plan) -> dict[str, list[str]]:
    """Contrast arm -> the variants that are its rows in the paper's T_x setting: its own
    paper-T_x runs, or its headline runs where the paper's T_x is the fair one (same runs)."""
    out = {}
    for name in plan.contrast:
        a = plan.arm(name)
        out[name] = ([variant(plan.method, name, s) for s in a.seeds]
                     if _paper_is_fair(a) else [variant(plan.method, name, s, augment="paper")
                                                for s in plan.contrast_seeds])
    return out


def _best(results: dict[str, dict], candidates: tuple[str, ...], what: str) -> str | None:
    """The arm of ``candidates`` with the highest mean validation kNN over its fair-T_x, continuous
    runs; None when no run of a candidate is in ``results``."""
    by: dict[str, list[float]] = {}
    for name, r in results.items():
        if r.get("arm") in candidates and r.get("augment") == "fair" and r.get("sampling", "continuous") == "continuous":
            if r.get("knn_split") != "val":
                raise ValueError(f"run {name} was scored on {r.get('knn_split')!r}, not the validation split: "
                                 f"the {what} is never chosen on the test set")
            by.setdefault(r["arm"], []).append(r["knn_top1"])
    return max(sorted(by), key=lambda k: sum(by[k]) / len(by[k])) if by else None


def best_hl_arm(results: dict[str, dict]) -> str:
    """The HL arm (:data:`HL_ARMS`) with the highest mean validation kNN over its fair-T_x,
    continuous runs of the headline method; results without ``knn_split == "val"`` are refused."""
    best = _best(results, HL_ARMS, "best HL arm")
    if best is None and not results:  # notebooks 06 and 08 in a clone without the sweep's runs
        from .published import producer

        raise FileNotFoundError("no finished run of the pretraining sweep (notebook 05) to choose the best HL arm "
                                "from: " + producer("05_contrastive_pretraining"))
    if best is None:
        raise ValueError("the sweep ran no HL arm; nothing to choose the best HL arm from")
    return best


def best_control(results: dict[str, dict]) -> str | None:
    """The control (:data:`CONTROLS`) with the highest mean validation kNN, chosen like
    :func:`best_hl_arm`; None for a sweep without controls."""
    return _best(results, CONTROLS, "best control")


def followup_runs(plan: Plan, best: str, steps: int, batch: int,
                  best_control: str | None = None) -> list[tuple[str, dict]]:
    """(variant, parameters) of the follow-up runs, given the best HL arm and the best control: the
    best control's seeds of :attr:`Plan.best_control_seeds` it lacks (they complete the verdict), the
    fixed-set runs (they complete the SimCLR study; only at seeds the best HL arm's continuous runs have, so
    continuous − fixed is paired seed by seed), the other methods and the GCRL runs."""
    runs = []
    if best_control is not None and plan.best_control_seeds:
        c = plan.arm(best_control)
        runs += [(variant(plan.method, c.name, s), {**c.params(), "method": plan.method, "augment": "fair", "seed": s})
                 for s in plan.best_control_seeds if s not in c.seeds]
    a = plan.arm(best)
    n_fixed = max(batch, steps * batch // plan.fixed_passes)  # each pair seen ~fixed_passes times
    for s in (s for s in plan.fixed_seeds if s in a.seeds):  # paired with its continuous runs, seed by seed
        runs.append((variant(plan.method, best, s, sampling="fixed"),
                     {**a.params(), "method": plan.method, "augment": "fair", "seed": s, "sampling": "fixed",
                      "n_fixed": n_fixed}))
    for m in plan.methods:
        for name in dict.fromkeys(["real", "gaussian", best]):
            if any(a.name == name for a in plan.arms):
                a = plan.arm(name)
                runs.append((variant(m, name, 0), {**a.params(), "method": m, "augment": "fair", "seed": 0}))
    for g in plan.gcrl:
        a = plan.arm(g.arm_for(best))
        runs += [(variant(g.label, a.name, s), {**a.params(), "method": "gcrl", "gcrl_alpha": g.alpha,
                                                 "gcrl_beta": g.beta, "augment": "fair", "seed": s})
                 for s in g.seeds]
    return runs


def gcrl_rows(plan: Plan, best: str) -> dict[str, dict[str, list[str]]]:
    """Arm -> {GCRL row name -> run variants}: ``beta only (simclr)`` (the headline SimCLR runs of
    the arm, their seeds matched to the mix's), then each (alpha, beta) of :attr:`Plan.gcrl`."""
    rows: dict[str, dict[str, list[str]]] = {}
    seeds: dict[str, tuple[int, ...]] = {}  # per arm, the longest seed list of its GCRL runs
    for g in plan.gcrl:
        arm = g.arm_for(best)
        rows.setdefault(arm, {})[g.label] = [variant(g.label, arm, s) for s in g.seeds]
        seeds[arm] = max(seeds.get(arm, ()), g.seeds, key=len)
    simclr = gcrl_label(0.0, 1.0) + " (simclr)"
    return {arm: {simclr: [variant(plan.method, arm, s) for s in seeds[arm] if s in plan.arm(arm).seeds], **r}
            for arm, r in rows.items()}


def sweep_results(pretrain_dir) -> dict[str, dict]:
    """``variant -> results`` of every finished run of a sweep folder (``*/results.json``)."""
    import json
    from pathlib import Path

    return {p.parent.name: json.loads(p.read_text()) for p in sorted(Path(pretrain_dir).glob("*/results.json"))}


def sweep_choices(pretrain_dir, method: str = "simclr") -> tuple[str, str | None]:
    """``(best HL arm, best control)`` of a sweep folder: the choices the sweep itself recorded in its
    ``results.json`` (made on the validation kNN over the headline runs, *before* the follow-up runs
    brought the best control to more seeds), else chosen here the same way (:func:`best_hl_arm`,
    :func:`best_control`) over the ``method`` runs of ``*/results.json`` (a sweep run by hand). Choosing
    again over a finished sweep would set the best control's mean over its follow-up seeds against its
    rivals' fewer ones, so a notebook reads the sweep's choice rather than making its own."""
    import json
    from pathlib import Path

    saved = Path(pretrain_dir) / "results.json"
    chosen = json.loads(saved.read_text()) if saved.is_file() else {}
    mine = {n: r for n, r in sweep_results(pretrain_dir).items() if r.get("method") == method}
    best = chosen.get("best_hl_arm") or best_hl_arm(mine)
    return best, chosen["best_control"] if "best_control" in chosen else best_control(mine)  # None: no controls


def comparisons(plan: Plan, best: str, best_control: str | None = None) -> list[tuple[str, str]]:
    """The verdict's arm pairs (a, b), read "a − b": each HL candidate and the best HL arm against
    real data, GenRep and the matched-delta flat control; the paper rule against flat at matched
    strength (hierarchy vs strength); learned vs random HL; RCG views against real data, GenRep and the
    paper rule; and the controls' family (:func:`control_comparisons`). One family: Holm applies over
    all of them."""
    names = {a.name for a in plan.arms}
    pairs = [(h, b) for h in dict.fromkeys(["hl_random_paper", best]) for b in ("real", "gaussian", "flat_matched")]
    pairs += [("hl_random_delta", "hl_random_paper"), ("hl_learned", "hl_random_paper"), ("hl_learned", "learned_all"),
              ("gaussian", "real"), ("flat_matched", "gaussian"), ("synth", "real"),
              ("rcg", "real"), ("rcg", "gaussian"), ("rcg", "hl_random_paper")]
    pairs += control_comparisons(best_control)
    return [(a, b) for a, b in dict.fromkeys(pairs) if a in names and b in names and a != b]


def control_comparisons(best_control: str | None = None) -> list[tuple[str, str]]:
    """The controls' pairs: each chunk kept fixed and each strength of the rule against the paper
    rule; the rule against flat at each strength s (``hl_scale{s} − flat_matched{s}``, read like
    ``hl_random_paper − flat_matched`` at s = 1, which :func:`comparisons` lists); GenRep with chunk 0
    fixed against GenRep and the rule; the best control against real data, GenRep and the flat control."""
    pairs = [(f"hl_keep{k}", "hl_random_paper") for k in KEEP_CHUNKS]
    pairs += [(f"hl_scale{s:g}", "hl_random_paper") for s in SCALES]
    pairs += [(f"hl_scale{s:g}", f"flat_matched{s:g}") for s in SCALES]
    pairs += [("gaussian_keep0", "gaussian"), ("gaussian_keep0", "hl_random_paper")]
    if best_control is not None:
        pairs += [(best_control, b) for b in ("real", "gaussian", "flat_matched")]
    return pairs


def gcrl_runs(plan: Plan, best: str, arm: str, steps: int = 1, batch: int = 2) -> list[tuple[str, dict]]:
    """(variant, notebook-05 parameters) of the runs behind ``gcrl_rows(plan, best)[arm]``: that arm's
    SimCLR headline runs and GCRL follow-up runs, as the sweep makes them (``steps`` and ``batch``
    only size the fixed sets, which are not among them)."""
    want = {v for vs in gcrl_rows(plan, best).get(arm, {}).values() for v in vs}
    return [(n, p) for n, p in headline_runs(plan) + followup_runs(plan, best, steps, batch) if n in want]
