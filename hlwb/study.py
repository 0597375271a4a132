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
  SimCLR runs of the same arm and seeds are that row; they are not trained again.

The best HL arm is chosen on the kNN monitor's **validation** split (Fashion-MNIST train
images 50k..60k; ``knn_split="val"``), never on the test set.
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

    def __post_init__(self) -> None:
        lookup(self.strategy)  # a view strategy of hlwb.views.STRATEGIES (else: the valid names)
        if self.hl_rule not in HL_RULES:
            raise ValueError(f"arm {self.name!r}: hl_rule must be one of {', '.join(HL_RULES)}, got {self.hl_rule!r}")

    def params(self) -> dict:
        """The notebook-05 parameters (:class:`hlwb.config.PretrainParams`) that select this arm's views."""
        return {"arm": self.name, "strategy": self.strategy, "hl_rule": self.hl_rule}


HL_ARMS = ("hl_random_paper", "hl_random_delta", "hl_learned")  # the candidates for "best HL arm"


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
    fixed_seeds: tuple[int, ...] = ()        # fixed-set runs of the best HL arm
    fixed_passes: int = 10                   # the fixed set holds steps x batch / passes pairs
    gcrl: tuple[GcrlRun, ...] = ()           # GCRL runs (their beta-only row: the SimCLR runs)

    def arm(self, name: str) -> Arm:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"no arm {name!r} in this plan; arms: {', '.join(a.name for a in self.arms)}")


def _arms(main_seeds: tuple[int, ...], other_seeds: tuple[int, ...], with_rcg: bool = True) -> tuple[Arm, ...]:
    """The study's arms; ``with_rcg``: with the RCG arm (its shipped models are Fashion-MNIST's)."""
    return (Arm("real", "real", main_seeds), Arm("gaussian", "gaussian", main_seeds),
            Arm("hl_random_paper", "hl_random", main_seeds, hl_rule="paper"),
            Arm("flat_matched", "flat_matched", main_seeds),
            Arm("synth", "synth", other_seeds), Arm("learned_all", "learned_all", other_seeds),
            Arm("hl_learned", "hl_learned", other_seeds),
            Arm("hl_random_delta", "hl_random", other_seeds, hl_rule="delta", oracle_calibrated=True)) \
        + ((Arm("rcg", "rcg", main_seeds),) if with_rcg else ())


PLANS: dict[str, Plan] = {
    "smoke": Plan("simclr", (Arm("real", "real"), Arm("synth", "synth"),
                             Arm("hl_random_paper", "hl_random", hl_rule="paper"),
                             Arm("flat_matched", "flat_matched"), Arm("hl_learned", "hl_learned"),
                             Arm("rcg", "rcg")),
                  contrast=("real", "hl_random_paper"), methods=("byol",), fixed_seeds=(0,), fixed_passes=2,
                  gcrl=(GcrlRun(1.0, 0.0, "real"), GcrlRun(1.0, 1.0, "real"))),
    "laptop": Plan("simclr", _arms((0, 1, 2), (0, 1)), contrast=("real", "gaussian", "hl_random_paper"),
                   contrast_seeds=(0, 1), methods=("simsiam", "moco", "byol", "swav"), fixed_seeds=(0, 1, 2),
                   gcrl=GCRL_RUNS),
    # the smoke plan on the colour set, without rcg (Fashion-MNIST's shipped models)
    "smoke_color": Plan("simclr", (Arm("real", "real"), Arm("synth", "synth"),
                                   Arm("hl_random_paper", "hl_random", hl_rule="paper"),
                                   Arm("flat_matched", "flat_matched"), Arm("hl_learned", "hl_learned")),
                        gcrl=(GcrlRun(1.0, 1.0, "real"),)),  # the paper-T_x and fixed-set paths: the smoke plan's
    # CIFAR-10 (config.PROFILES["gpu"]): every arm but rcg
    "gpu": Plan("simclr", _arms((0, 1, 2), (0, 1, 2), with_rcg=False), contrast=("real", "gaussian", "hl_random_paper"),
                contrast_seeds=(0, 1, 2), methods=("simsiam", "moco", "byol", "swav"), fixed_seeds=(0, 1, 2),
                gcrl=GCRL_RUNS[:3] + (GcrlRun(1.0, 1.0, "best", (0, 1, 2)),)),
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


def best_hl_arm(results: dict[str, dict]) -> str:
    """The HL arm (:data:`HL_ARMS`) with the highest mean validation kNN over its fair-T_x,
    continuous runs of the headline method; results without ``knn_split == "val"`` are refused."""
    by: dict[str, list[float]] = {}
    for name, r in results.items():
        if r.get("arm") in HL_ARMS and r.get("augment") == "fair" and r.get("sampling", "continuous") == "continuous":
            if r.get("knn_split") != "val":
                raise ValueError(f"run {name} was scored on {r.get('knn_split')!r}, not the validation split: "
                                 "the best arm is never chosen on the test set")
            by.setdefault(r["arm"], []).append(r["knn_top1"])
    if not by:
        raise ValueError("the sweep ran no HL arm; nothing to choose the best HL arm from")
    return max(sorted(by), key=lambda k: sum(by[k]) / len(by[k]))


def followup_runs(plan: Plan, best: str, steps: int, batch: int) -> list[tuple[str, dict]]:
    """(variant, parameters) of the fixed-set runs, the other methods and the GCRL runs, given the
    best HL arm (the fixed-set runs first: they complete the SimCLR study)."""
    runs = []
    a = plan.arm(best)
    n_fixed = max(batch, steps * batch // plan.fixed_passes)  # each pair seen ~fixed_passes times
    for s in plan.fixed_seeds:
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


def comparisons(plan: Plan, best: str) -> list[tuple[str, str]]:
    """The verdict's arm pairs (a, b), read "a − b": each HL candidate and the best HL arm against
    real data, GenRep and the matched-delta flat control; the paper rule against flat at matched
    strength (hierarchy vs strength); learned vs random HL; RCG views against real data, GenRep and the paper rule."""
    names = {a.name for a in plan.arms}
    pairs = [(h, b) for h in dict.fromkeys(["hl_random_paper", best]) for b in ("real", "gaussian", "flat_matched")]
    pairs += [("hl_random_delta", "hl_random_paper"), ("hl_learned", "hl_random_paper"), ("hl_learned", "learned_all"),
              ("gaussian", "real"), ("flat_matched", "gaussian"), ("synth", "real"),
              ("rcg", "real"), ("rcg", "gaussian"), ("rcg", "hl_random_paper")]
    return [(a, b) for a, b in dict.fromkeys(pairs) if a in names and b in names and a != b]


def gcrl_runs(plan: Plan, best: str, arm: str, steps: int = 1, batch: int = 2) -> list[tuple[str, dict]]:
    """(variant, notebook-05 parameters) of the runs behind ``gcrl_rows(plan, best)[arm]``: that arm's
    SimCLR headline runs and GCRL follow-up runs, as the sweep makes them (``steps`` and ``batch``
    only size the fixed sets, which are not among them)."""
    want = {v for vs in gcrl_rows(plan, best).get(arm, {}).values() for v in vs}
    return [(n, p) for n, p in headline_runs(plan) + followup_runs(plan, best, steps, batch) if n in want]
