"""The valid range of every numeric parameter, stated once and checked in one place.

``RANGES`` maps a config dataclass (by class name: the notebook parameters of
:mod:`hlwb.config`, ``PretrainConfig``, ``GANConfig``, ``OracleConfig``, ``MinMaxConfig``, and RCG's
``RDMConfig`` and ``RepGANConfig``) to one rule per numeric field; ``CLI_FLAGS`` does the same for
the explicit flags of ``python -m hlwb``. A rule is

* a :class:`Range` (an interval, each end open or closed; the value must be finite),
* :class:`Numbers` for a comma-separated string of numbers (``sigmas``, ``blocks``),
* :class:`OneOf` for a string that picks a mode another range depends on (``knn_split``), or
* a function of the whole config returning a :class:`Range`: a cross-field rule, such as
  ``warmup < steps`` or ``knn_train <= the images of the split the memory is drawn from``.

:func:`check_ranges` is called from each dataclass's ``__post_init__`` (so a notebook's
``from_params``, the CLI and library callers all pass the same door); an out-of-range value
raises :class:`ConfigError` naming the parameter, its value and the range. The rules are
written to refuse what would otherwise run and report a false result (a kNN memory silently
capped at the split's size, a negative sigma in notebook 04's grid) or crash late
(``ckpt_every = 0``), and to accept every profile's values.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INF = math.inf


class ConfigError(ValueError):
    """A parameter is unknown, has the wrong type or is out of range; the message names it
    (``param``: its name, when one parameter is at fault)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def _num(x: float) -> str:
    if x in (INF, -INF):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(frozen=True)
class Range:
    """``lo <= v <= hi`` (``lo_open``/``hi_open``: strict); ``why`` says where a bound comes from."""

    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    hi_open: bool = False
    why: str = ""

    def __contains__(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        return (v > self.lo if self.lo_open else v >= self.lo) and (v < self.hi if self.hi_open else v <= self.hi)

    def __str__(self) -> str:
        left = "(" if self.lo_open or self.lo == -INF else "["
        right = ")" if self.hi_open or self.hi == INF else "]"
        return f"{left}{_num(self.lo)}, {_num(self.hi)}{right}" + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class Numbers:
    """A comma-separated string of numbers, each in ``each``."""

    each: Range
    min_len: int = 1
    increasing: bool = False  # strictly
    integer: bool = False

    def __str__(self) -> str:
        kind = "integers" if self.integer else "numbers"
        order = ", strictly increasing" if self.increasing else ""
        return f"at least {self.min_len} comma-separated {kind}{order}, each in {self.each}"


@dataclass(frozen=True)
class OneOf:
    values: tuple[str, ...]

    def __str__(self) -> str:
        return "one of " + ", ".join(map(repr, self.values))


Rule = Range | Numbers | OneOf | Callable[[Any], Range]


def at_least(lo: float, why: str = "") -> Range:
    return Range(lo, why=why)


def above(lo: float, why: str = "") -> Range:
    return Range(lo, lo_open=True, why=why)


# Fashion-MNIST: 60k train images (the last 10k are hlwb's validation split), 10k test images.
FASHION_TRAIN, FASHION_TEST, VAL_SPLIT = 60_000, 10_000, 50_000  # VAL_SPLIT: hlwb.pretrain.VAL_SPLIT
KNN_MEMORY = {"val": VAL_SPLIT, "test": FASHION_TRAIN}  # train images the kNN memory is drawn from
KNN_QUERIES = {"val": FASHION_TRAIN - VAL_SPLIT, "test": FASHION_TEST}  # images the monitor can score
KNN_K = 200  # PretrainConfig.knn_k, the neighbours notebook 05's monitor uses (a test keeps them equal)

SEED = Range(0, 2**32 - 1, why="numpy's seed range")
COUNT = at_least(1)
NONNEG = at_least(0)
THREADS = at_least(0, why="0: leave torch's default")
LR = above(0)
BATCH = at_least(2, why="a contrastive batch, and batch norm, need 2 samples")
BETA = Range(0, 1, hi_open=True, why="Adam")
N_BOOT = at_least(40, why="each 2.5 % tail of a 95 % interval holds at least one draw")
MIN_TRUNCATION = 0.1  # hlwb.latents.MIN_TRUNCATION (a test keeps them equal; ranges imports no torch)


def TRUNCATION(c, field: str = "anchor_truncation") -> Range:
    """A |z| bound: 0 (the family's own) or >= MIN_TRUNCATION, where rejection sampling stays cheap."""
    if getattr(c, field) == 0:
        return Range(0, 0, why="0: the family's own")
    return at_least(MIN_TRUNCATION, why=f"|z| bound: below {MIN_TRUNCATION} sampling the anchors only slows "
                                        "down; or 0: the family's own")
IMAGE_SIZE = Range(0, 256, why="0: the dataset's own size; else 8..256 px (hlwb.spec)")


def _held(lo: int | Callable[[Any], int], per: int, what: str) -> Callable[[Any], Range]:
    """A count of samples a notebook holds in memory at once, ``per`` float images of the data's spec each:
    at least ``lo`` (a number, or a function of the config), at most what fits in this machine's memory
    (:func:`hlwb.budget.images_that_fit`)."""
    def rule(c) -> Range:
        from .budget import images_that_fit

        least = lo(c) if callable(lo) else lo
        return Range(least, max(least, images_that_fit(c) // per),
                     why=f"{what}: {per} images each, in this machine's memory")
    return rule


def _warmup(c) -> Range:
    return Range(0, c.steps, hi_open=True, why=f"the warm-up ends before the last step: < steps = {c.steps}; "
                 f"e.g. warmup = {c.steps // 10}, a tenth of the steps, what pretrain does without --warmup")


def _knn_test(c) -> Range:
    return Range(1, KNN_QUERIES[c.knn_split], why=f"the images of the {c.knn_split} split it scores")


def _knn_train(k: int) -> Callable[[Any], Range]:
    def rule(c) -> Range:
        return Range(k, KNN_MEMORY[c.knn_split],
                     why=f">= knn_k = {k} neighbours; <= the train images the {c.knn_split} memory is drawn from")
    return rule


LOSS_WEIGHT_MAX = 10.0
LOSS_WEIGHT_WHY = ("only alpha / beta is a modelling choice; their scale multiplies the step as the learning rate "
                   "does (alpha 100 at the method's rate: NaN within 5 steps): weigh one loss more by lowering the other")
GCRL_WEIGHT = Range(0, LOSS_WEIGHT_MAX, why=LOSS_WEIGHT_WHY)


HL_SCALE = Range(0, 4, lo_open=True, why="a multiple of the paper rule's sigmas (issue 29 sweeps 0.25-1.5)")


def _train_batch(c) -> Range:
    """A batch drawn from a dataset's train split: no larger than it (known here for Fashion-MNIST;
    any dataset's batch is also bounded by memory, :data:`BUDGETS`)."""
    if getattr(c, "dataset", "fashion_mnist") == "fashion_mnist":
        return Range(2, FASHION_TRAIN, why="the Fashion-MNIST train images a batch draws from")
    return BATCH


def _pretrain_batch(c) -> Range:
    """Notebook 05: real views draw from the train split; a fixed set's views from its n_fixed pairs."""
    if c.strategy == "real":
        return _train_batch(c)
    if c.sampling == "fixed":
        return Range(2, c.n_fixed, why=f"the fixed set of n_fixed = {c.n_fixed} view pairs a batch draws from")
    return BATCH


def _gcrl_beta(c) -> Range:
    if c.gcrl_alpha == 0:
        return Range(0, LOSS_WEIGHT_MAX, lo_open=True, why="gcrl_alpha = 0: one of the two GCRL losses must be on; "
                     + LOSS_WEIGHT_WHY)
    return GCRL_WEIGHT


RANGES: dict[str, dict[str, Rule]] = {
    # notebook parameters (hlwb.config.NOTEBOOKS)
    "HLGeneratorParams": {
        "oracle_epochs": COUNT, "oracle_steps": NONNEG,
        "image_size": IMAGE_SIZE,
        "train_steps": COUNT, "stat_batches": Range(1, 10_000, why="batches of 256 latents"),
        "n_samples": Range(2, FASHION_TRAIN, why="the real-vs-real FD draws as many Fashion-MNIST train images"),
        "n_test": Range(2, FASHION_TEST, why="Fashion-MNIST test images"),
        "n_anchors": _held(1, 4, "anchors of the chunk table"), "grid_anchors": _held(1, 16, "rows of the figure"),
        "seed": SEED,
    },
    "ExplorerParams": {
        "image_size": IMAGE_SIZE,
        "anchor_seed": SEED,
        "n_positives": Range(0, 64, why="the explorer's limit"),
        "sweep_sigmas": Numbers(at_least(0)),
    },
    "WalkersParams": {
        "image_size": IMAGE_SIZE,
        "steps": COUNT, "batch": BATCH, "lr_walker": LR, "lr_critic": LR, "critic_width": COUNT,
        "walker_hidden": at_least(0, why="0: the walker's input width"),
        "snapshot_every": lambda c: Range(1, c.steps, why=f"snapshots are what is selected: <= steps = {c.steps}"),
        "smooth": COUNT, "snapshot_anchors": _held(lambda c: c.batch, 2, "held-out anchors (a full batch at least: InfoNCE is per batch) and positives"),
        "mc_anchors": _held(lambda c: c.batch, 2, "anchors (a full batch at least) and their positives"),
        "anchor_truncation": TRUNCATION, "select_after": NONNEG, "early_stop_loss": above(0),
        "early_stop_after": NONNEG, "seed": SEED,
    },
    "PerturbationParams": {
        "image_size": IMAGE_SIZE,
        "sigmas": Numbers(at_least(0), min_len=2, increasing=True),
        "n_anchors": lambda c: at_least(2 * c.critic_batch, why=f"critic_batch = {c.critic_batch} pairs to train "
                                        "on and as many held out"),
        "anchor_truncation": TRUNCATION,
        "level": Range(0, 1, lo_open=True, why="an agreement fraction: at 0 every chunk is censored, above 1 no sigma qualifies"),
        "n_boot": N_BOOT,
        "critic_train": lambda c: Range(c.critic_batch, c.n_anchors - c.critic_batch,
                                        why=f"a batch to train on and one held out of n_anchors = {c.n_anchors}"),
        "critic_steps": COUNT, "critic_width": COUNT, "critic_batch": BATCH, "seed": SEED,
    },
    "PretrainParams": {
        "image_size": IMAGE_SIZE, "ckpt_every": at_least(0, why="0: steps // 5"),
        "n_fixed": COUNT, "steps": COUNT, "batch": _pretrain_batch,
        "decode_chunk": at_least(0, why="0: anchor and positive in one pass"), "width": COUNT,
        "blocks": Numbers(at_least(1), integer=True),
        "base_lr": at_least(0, why="0: the method's default, hlwb.ssl.BASE_LR"),
        "warmup": _warmup, "knn_every": at_least(0, why="0: only at the end"),
        "knn_split": OneOf(("val", "test")), "knn_train": _knn_train(KNN_K), "knn_test": _knn_test, "seed": SEED,
        "gcrl_alpha": GCRL_WEIGHT, "gcrl_beta": _gcrl_beta,
        "hl_keep": at_least(0, why="a chunk index; below the generator's chunk count, checked when the views are built"),
        "hl_scale": HL_SCALE,
    },
    "TransferParams": {"eval_jobs": COUNT, "n_boot": N_BOOT, "seed": SEED, "image_size": IMAGE_SIZE,
                       "positive_anchors": Range(1, 100_000, why="anchors decoded twice per arm")},
    "RCGParams": {
        "image_size": IMAGE_SIZE,
        "n_samples": Range(2, FASHION_TRAIN, why="the real-vs-real FD draws as many Fashion-MNIST train images"),
        "n_test": Range(2, FASHION_TEST, why="Fashion-MNIST test images"),
        "kmeans_ks": Numbers(Range(2, 1000), integer=True),
        "rdm_steps": Range(1, 1000, why="DDIM steps of the 1000-step schedule"),
        "guidances": Numbers(at_least(0)),
        "rep_fd_n": Range(2, FASHION_TRAIN // 2, why="the real-vs-real reference compares two disjoint sets of train "
                          "representations: n and the other N - n >= n"),
        "unconditional_steps": NONNEG,
        "n_train": lambda c: Range(0, FASHION_TRAIN) if c.n_train == 0 else Range(
            max(c.n_samples, 2 * c.rep_fd_n, *[int(k) for k in c.kmeans_ks.split(",") if k.strip()]), FASHION_TRAIN,
            why="0 encodes every train image; a subset must hold n_samples, twice rep_fd_n (two disjoint sets) and "
                "the largest k of kmeans_ks"),
        "grid_n": lambda c: Range(1, c.n_samples, why=f"drawn from the n_samples = {c.n_samples} of each row"),
        "posterior_n": Range(1, FASHION_TEST, why="Fashion-MNIST test images"),
        "posterior_ks": Numbers(Range(2, 1_000_000), integer=True, increasing=True),
        "posterior_temperatures": Numbers(above(0), increasing=True),
        "posterior_dicts": COUNT, "seed": SEED,
    },
    "OodParams": {
        "image_size": IMAGE_SIZE,
        "run_seed": SEED, "n_ood": _held(1, 4, "the in-distribution set and each OOD set"), "knn_k": lambda c: Range(1, c.n_bank, why=f"a neighbour among n_bank = {c.n_bank}"),
        "n_bank": Range(1, 60_000, why="Fashion-MNIST train images"),
        "bg_rate": Range(0.1, 0.3, why="the background model's mutation rate (Ren et al. 2019)"),
        "bg_steps": at_least(0, why="0: the foreground runs' steps"), "bg_weight_decay": NONNEG, "bits_test": Range(1, 10_000, why="Fashion-MNIST test images"),
        "n_samples": _held(2, 2, "generated samples (a Frechet distance needs 2)"), "seed": SEED,
    },
    # library configs
    "PretrainConfig": {
        "image_size": IMAGE_SIZE, "steps": COUNT, "batch": BATCH, "width": COUNT, "blocks": Numbers(at_least(1), integer=True),
        "base_lr": LR, "momentum": Range(0, 1, hi_open=True), "weight_decay": NONNEG, "warmup": _warmup,
        "seed": SEED, "ckpt_every": COUNT, "knn_every": at_least(0, why="0: never"),
        "knn_split": OneOf(("val", "test")), "knn_k": COUNT, "knn_t": above(0),
        "knn_train": lambda c: _knn_train(c.knn_k)(c), "knn_test": _knn_test,
        "gcrl_alpha": GCRL_WEIGHT, "gcrl_beta": _gcrl_beta,
    },
    "GANConfig": {
        "steps": COUNT, "batch": _train_batch, "g_ch": COUNT, "d_ch": COUNT, "chunk_dim": COUNT, "lr_g": LR,
        "lr_d": LR, "beta1": BETA, "beta2": BETA, "ema": Range(0, 1, why="EMA decay"), "ema_start": NONNEG, "seed": SEED,
        "ckpt_every": COUNT, "threads": THREADS, "image_size": IMAGE_SIZE,
        "stat_batches": Range(1, 10_000, why="batches of 256 latents"),
    },
    "OracleConfig": {
        "epochs": COUNT, "batch": Range(2, FASHION_TRAIN, why="an epoch is 60000 // batch steps"), "lr": LR,
        "weight_decay": NONNEG, "width": COUNT, "seed": SEED, "threads": THREADS, "max_steps": NONNEG,
        "image_size": IMAGE_SIZE,
    },
    "MinMaxConfig": {
        "steps": COUNT, "batch": BATCH, "tau": above(0), "lr_walker": LR, "lr_critic": LR, "beta1": BETA,
        "beta2": BETA, "critic_width": COUNT, "walker_hidden": at_least(0, why="0: the walker's input width"),
        "seed": SEED, "ckpt_every": COUNT, "snapshot_every": at_least(0, why="0: none"),
        "early_stop_loss": above(0), "early_stop_after": NONNEG,
    },
    "RDMConfig": {
        "dim": at_least(2, why="per-sample standardisation needs 2 dimensions"),
        "width": lambda c: at_least(4 * c.dim, why=f">= 4 x dim = {4 * c.dim}: RCG Table 8, width matters most"),
        "blocks": COUNT, "lr": LR, "weight_decay": NONNEG, "steps": COUNT,
        "batch": Range(1, FASHION_TRAIN, why="the train representations a batch draws from"),
        "ema": Range(0, 1, why="EMA decay"), "sample_steps": Range(1, 1000, why="DDIM steps of the T = 1000 schedule"),
        "seed": SEED, "ckpt_every": COUNT,
    },
    "RepGANConfig": {
        "rep_dim": COUNT, "steps": COUNT,
        "batch": Range(2, FASHION_TRAIN, why="the Fashion-MNIST train images (and their representations) it draws from"),
        "g_ch": COUNT, "d_ch": COUNT, "chunk_dim": COUNT,
        "lr_g": LR, "lr_d": LR, "beta1": BETA, "beta2": BETA, "ema": Range(0, 1, why="EMA decay"),
        "ema_start": NONNEG, "p_uncond": Range(0, 1, hi_open=True, why="a probability; 1 would never condition"),
        "stat_batches": COUNT, "seed": SEED, "ckpt_every": COUNT,
    },
}

# explicit (non-dataclass) numeric flags of python -m hlwb, by command
CLI_FLAGS: dict[str, dict[str, Range]] = {
    "eval-generator": {"n": RANGES["HLGeneratorParams"]["n_samples"], "anchors": COUNT, "seed": SEED},
    "calibrate": {"seed": SEED},
    "pipeline": {"jobs": COUNT},
    "bench": {"n": COUNT},
    "train-rep-generator": {"posterior_k": at_least(2, why="a dictionary to choose from"), "posterior_t": above(0),
                            "posterior_dicts": COUNT},
}


BUDGETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # config -> (its run's memory in hlwb.budget, the batch field, the size fields it builds models from)
    "GANConfig": ("gan", "batch", ("g_ch", "d_ch", "chunk_dim")),
    "RepGANConfig": ("rep_gan", "batch", ("g_ch", "d_ch", "chunk_dim", "rep_dim")),
    "RDMConfig": ("rdm", "batch", ("width", "dim", "blocks")),
    "PretrainConfig": ("pretraining", "batch", ("width",)),
    "PretrainParams": ("pretraining", "batch", ("width", "n_fixed")),
    "OracleConfig": ("oracle", "batch", ("width",)),
    "MinMaxConfig": ("minmax", "batch", ("critic_width",)),
}
"""The size settings checked against this machine's memory after the ranges (:func:`hlwb.budget.check`):
what the run would allocate, measured on the meta device, before anything is allocated or written."""


def check_value(name: str, value: Any, rule: Range | Numbers | OneOf, where: str = "",
                integer: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``value`` satisfies ``rule``; ``where`` names its owner."""
    at = f" ({where})" if where else ""

    def bad(expected: str):
        return ConfigError(f"parameter {name!r} = {value!r}{at} is out of range: must be {expected}", param=name)

    if isinstance(rule, OneOf):
        if value not in rule.values:
            raise bad(str(rule))
        return
    if isinstance(rule, Numbers):
        if not isinstance(value, str):
            raise bad(str(rule))
        try:
            nums = [(int if rule.integer else float)(s) for s in value.split(",")]
        except ValueError:
            raise bad(str(rule)) from None
        if len(nums) < rule.min_len or any(v not in rule.each for v in nums):
            raise bad(str(rule))
        if rule.increasing and any(b <= a for a, b in itertools.pairwise(nums)):
            raise bad(str(rule))
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ConfigError(f"parameter {name!r} = {value!r}{at} must be {'an int' if integer else 'a number'}",
                          param=name)
    if value not in rule:
        raise bad(f"in {rule}")


def check_ranges(obj: Any) -> None:
    """Check every field of config dataclass ``obj`` that ``RANGES`` names (single-field rules
    first, then the cross-field ones, which may assume the former hold)."""
    cls = type(obj).__name__
    if cls not in RANGES:
        raise KeyError(f"no range table for {cls}; tables: {', '.join(RANGES)}")
    ints = {f.name for f in dataclasses.fields(obj) if f.type in ("int", int)}
    rules = RANGES[cls]
    for name in sorted(rules, key=lambda n: callable(rules[n])):
        rule = rules[name]
        check_value(name, getattr(obj, name), rule(obj) if callable(rule) else rule, cls, integer=name in ints)
    if cls in BUDGETS:  # the sizes, against what they would allocate on this machine
        from . import budget

        need_of, batch, sizes = BUDGETS[cls]
        budget.check(obj, getattr(budget, need_of), batch, sizes)


def check_flags(cmd: str, values: dict[str, Any]) -> None:
    """Check the explicit numeric flags of CLI command ``cmd`` (names as argparse stores them)."""
    for name, rule in CLI_FLAGS.get(cmd, {}).items():
        check_value(f"--{name}", values[name], rule, f"hlwb {cmd}", integer=not isinstance(values[name], float))
