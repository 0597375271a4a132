"""One contrastive pretraining run: a method, a view source, the one loop, a kNN monitor.

SGD with momentum, linear warm-up and cosine decay (docs/methods.md §5, lr = base x batch / 256),
the method's ``after_step`` (EMA, queue, prototypes) after each optimiser step, and a weighted
kNN monitor on the run's dataset (features of a train subset vs. a validation or test split)
every ``knn_every`` steps. Checkpoints and resume come from :func:`hlwb.train.fit`; view sources are
addressable by step, so a resumed run sees the batches an uninterrupted one would have seen.
Launched by torchrun, the same function runs data-parallel (see :func:`pretrain`).

A run's settings are one object, :class:`hlwb.config.PretrainParams` (notebook 05's parameters and
``python -m hlwb pretrain``'s flags, one set of defaults): :func:`settings` turns them into this
module's :class:`PretrainConfig`, :func:`run_source` into the view source. The trunk, the views and
the monitor all follow the dataset's image spec.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import amp, data, rcg, ssl  # noqa: F401  (rcg: importing it registers the "rcg" view strategy)
from . import distributed as D
from .checkpoint import atomic_write_json
from .config import ConfigError, PretrainParams, check_data, resolve_path
from .encoders import ResNetTrunk
from .evaluate import features, knn_accuracy
from .ranges import check_ranges
from .train import check_finite, fit, warmup_cosine
from .views import ViewSource, load_hl_sigmas, lookup, make_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainConfig:
    method: str = "simclr"
    steps: int = 500
    batch: int = 128
    width: int = 16               # trunk width (ResNet-18: 64)
    blocks: str = "2,2,2,2"       # basic blocks per stage
    base_lr: float = 0.3          # lr = base_lr * batch / 256
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup: int = 50
    seed: int = 0
    ckpt_every: int = 100
    knn_every: int = 100          # 0: never
    knn_train: int = 5000         # Fashion-MNIST train images that form the kNN memory
    knn_test: int = 2000          # images scored (of the validation split or of test)
    knn_split: str = "val"        # val: the last 10k train images (nothing chosen on test); test
    knn_k: int = 200
    knn_t: float = 0.1
    gcrl_alpha: float = 1.0       # GCRL only: weight of the generative loss (nats per pixel)
    gcrl_beta: float = 1.0        # GCRL only: weight of the contrastive (NT-Xent) loss
    precision: str = "fp32"       # fp32, or bf16: encoder under autocast, losses in fp32 (hlwb.amp)
    dataset: str = "fashion_mnist"  # the data the trunk is built for and the kNN monitor reads (hlwb.data)
    image_size: int = 0           # its side in px (0: the dataset's own)

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        amp.check(self.precision)
        check_data(self)

    @property
    def spec(self):
        """The :class:`~hlwb.spec.ImageSpec` of the run's dataset (its train split) at ``image_size``."""
        return data.spec_of(self.dataset, self.image_size or None, split="train")


def build_method(cfg: PretrainConfig) -> nn.Module:
    """The method around a seeded trunk built for the dataset's image spec."""
    spec = cfg.spec
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        trunk = ResNetTrunk(cfg.width, tuple(int(b) for b in cfg.blocks.split(",")), channels=spec.channels,
                            size=spec.size)
        kwargs = ssl.budget_settings(cfg.method, cfg.steps, cfg.batch)
        if cfg.method == "gcrl":
            kwargs |= {"alpha": cfg.gcrl_alpha, "beta": cfg.gcrl_beta}
        return ssl.build(cfg.method, trunk, **kwargs)


_DEFAULT_DATA = {f.name: f.default for f in dataclasses.fields(PretrainConfig) if f.name in ("dataset", "image_size")}


def config_dict(cfg: PretrainConfig) -> dict:
    """The config as stored with a run; the ``gcrl_*`` fields only for GCRL, ``precision`` only
    when not fp32 and ``dataset`` / ``image_size`` only when not the defaults, so the other runs
    (and checkpoints) are described as before those fields existed."""
    d = amp.stored(dataclasses.asdict(cfg))
    d = {k: v for k, v in d.items() if k not in _DEFAULT_DATA or v != _DEFAULT_DATA[k]}
    return d if cfg.method == "gcrl" else {k: v for k, v in d.items() if not k.startswith("gcrl_")}


VAL_FRACTION = 6  # the last sixth of a train split holds the monitor's validation queries
VAL_SPLIT = 50_000  # Fashion-MNIST's: val_start(60,000) (hlwb.ranges keeps the same number)


def val_start(n_train: int) -> int:
    """Train images ``[0, val_start)`` form the kNN memory, ``[val_start, n_train)`` the validation
    queries: the last ``1 / VAL_FRACTION`` (Fashion-MNIST: 50,000..59,999)."""
    return n_train - n_train // VAL_FRACTION


def _grouped(labels: torch.Tensor) -> bool:
    """Whether a split lists its images class by class (a folder dataset does: sorted by class)."""
    return len(labels) > 1 and bool((labels[1:] >= labels[:-1]).all()) and bool(labels[0] != labels[-1])


def _round_robin(per_class: list[torch.Tensor]) -> torch.Tensor:
    """Indices of every class taken in turn (class 0's first, class 1's first, ...): any prefix is balanced."""
    turn = torch.cat([torch.arange(len(ix)) * len(per_class) + c for c, ix in enumerate(per_class)])
    return torch.cat(per_class)[turn.argsort()]


def monitor_split(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(memory pool, validation queries) of a train split's indices: the queries are the last
    ``1 / VAL_FRACTION`` (:func:`val_start`); for a split listed class by class (a folder), the last
    ``1 / VAL_FRACTION`` of each class instead, taken class by class in turn, so the queries are not one class."""
    if not _grouped(labels):
        start = val_start(len(labels))
        return torch.arange(start), torch.arange(start, len(labels))
    pos = [(labels == c).nonzero().flatten() for c in labels.unique()]
    cut = [val_start(len(p)) for p in pos]
    return torch.cat([p[:k] for p, k in zip(pos, cut)]), _round_robin([p[k:] for p, k in zip(pos, cut)])


class KnnMonitor:
    """Weighted kNN top-1 of ``knn_test`` queries against a seeded ``knn_train``-image memory of the
    run's dataset (``cfg.dataset`` at ``cfg.image_size``), read once.

    ``knn_split="val"`` (default): memory from the train images before the validation queries, queries
    the first ``knn_test`` of them (:func:`monitor_split`: Fashion-MNIST's train images 50,000..59,999)
    — a validation split, so anything chosen on this number (the sweep's best generated strategy) is
    chosen without the test set. ``"test"``: memory from all of train, queries the first ``knn_test``
    test images (class by class in turn when the split lists them by class). A dataset smaller than
    the memory or the queries asked for gives what it has (``n_memory``, ``n_queries``, ``k``;
    :func:`pretrain` logs them).
    """

    def __init__(self, cfg: PretrainConfig):
        if cfg.knn_split not in ("val", "test"):
            raise ValueError(f"knn_split must be 'val' or 'test', got {cfg.knn_split!r}")
        size = cfg.image_size or None
        train = data.load(cfg.dataset, "train", size)
        if train.labels is None:
            raise ValueError(f"dataset {cfg.dataset!r} is unlabelled: no kNN monitor (knn_every 0)")
        if cfg.knn_split == "val":
            pool, q = monitor_split(train.labels)
            q = q[:cfg.knn_test]
            q_img, q_lab = train.images[q], train.labels[q]
        else:
            test = data.load(cfg.dataset, "test", size)
            pool = torch.arange(len(train))
            q = (_round_robin([(test.labels == c).nonzero().flatten() for c in test.labels.unique()])
                 if _grouped(test.labels) else torch.arange(len(test)))[:cfg.knn_test]
            q_img, q_lab = test.images[q], test.labels[q]
        if len(pool) < 1 or len(q_img) < 1:
            raise ValueError(f"dataset {cfg.dataset!r} has {len(train)} train images: too few for a kNN memory and "
                             f"{cfg.knn_split} queries (the validation split is the last 1/{VAL_FRACTION} of train); "
                             "use knn_split 'test' or a larger dataset")
        idx = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.knn_train]]
        self.memory, self.memory_labels, self.queries, self.query_labels = train.images[idx], train.labels[idx], q_img, q_lab
        self.n_memory, self.n_queries, self.k, self.t = len(idx), len(q_img), min(cfg.knn_k, len(idx)), cfg.knn_t

    def __call__(self, encoder: nn.Module) -> float:
        ftr, fte = features(encoder, self.memory), features(encoder, self.queries)
        return knn_accuracy(ftr, self.memory_labels, fte, self.query_labels, k=self.k, temperature=self.t)


def knn_monitor(encoder: nn.Module, cfg: PretrainConfig) -> float:
    """One score of :class:`KnnMonitor` (reads the dataset each call; :func:`pretrain` keeps one monitor)."""
    return KnnMonitor(cfg)(encoder)


def run_meta(source, cfg: PretrainConfig, world: int = 1) -> dict:
    """What determines a run's weights: the pretraining config and the view source's ``spec``
    (:func:`hlwb.views.make_source`); stored in its checkpoint and compared on resume."""
    spec = getattr(source, "spec", None)
    return {"config": config_dict(cfg), **({"views": spec} if spec is not None else {}),
            **({"world_size": world} if world > 1 else {})}


def check_work_dir(work_dir: str | Path, source, cfg: PretrainConfig, world: int = 1) -> None:
    """Refuse, before anything is written, a work directory whose checkpoint belongs to another
    run (other settings or views, or further along than ``cfg.steps``); see
    :func:`hlwb.train.check_resume`. :func:`pretrain` checks again itself."""
    from .train import check_work_dir as check

    check(Path(work_dir) / "train_state.pt", run_meta(source, cfg, world), cfg.steps)


def pretrain(source, cfg: PretrainConfig, work_dir: str | Path | None = None,
             device: str | torch.device = "auto") -> tuple[nn.Module, list[dict]]:
    """Train ``cfg.method`` on batches ``source.batch_at(step)``; returns the method and its logs.

    Under torchrun (after :func:`hlwb.distributed.init_from_env`) each of the W ranks passes its
    own source (``make_source(..., rank=rank)``: B samples per rank, addressable by (seed, rank,
    step)); the global batch is B x W and sets the learning rate. Gradients are averaged over
    ranks, rank 0's buffers (batch-norm statistics) are broadcast after every step, so all
    ranks stay bit-identical, which is checked at the end. Only rank 0 writes the checkpoint,
    the log and ``ranks.json`` (each rank's weight digest); all ranks resume from the same
    checkpoint, and one written at another world size is refused.

    ``device`` (:func:`hlwb.devices.resolve`; under torchrun "auto" is the rank's GPU): the
    method, optimiser state and every step's computation live there; give the source the
    same device (``make_source(..., device=...)``), so batches never cross to the host.
    """
    from .devices import resolve

    device = resolve(device)
    info = D.current()
    world = info.world_size
    monitor = KnnMonitor(cfg) if cfg.knn_every and info.is_main else None  # read once, refused before training
    if monitor is not None and (monitor.n_memory, monitor.n_queries, monitor.k) != (cfg.knn_train, cfg.knn_test,
                                                                                   cfg.knn_k):
        logger.info("kNN monitor on %s: %d memory images, %d %s queries, k %d (what the dataset holds of the "
                    "%d / %d / %d asked)", cfg.dataset, monitor.n_memory, monitor.n_queries, cfg.knn_split,
                    monitor.k, cfg.knn_train, cfg.knn_test, cfg.knn_k)
    method = amp.prepare(build_method(cfg).to(device), cfg.precision)
    params = [p for p in method.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.base_lr * cfg.batch * world / 256, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    sources_checked = world == 1

    def step(i: int) -> dict[str, float]:
        nonlocal sources_checked
        x1, x2 = source.batch_at(i)
        if not sources_checked:  # identical batches on two ranks: a source built without its rank
            if len(set(D.rank_digests([x1], device))) < world:
                raise ValueError(f"ranks drew identical batches at step {i}: build each rank's view source "
                                 "with its rank (views.make_source(..., rank=rank))")
            sources_checked = True
        method.train()
        with amp.autocast(cfg.precision, device):  # the losses themselves run in fp32
            loss, logs = method(amp.inputs(x1.to(device), cfg.precision), amp.inputs(x2.to(device), cfg.precision))
        mean_loss = D.all_reduce_mean(loss.detach())  # over ranks: all ranks stop together; rank 0 logs it
        check_finite("loss", mean_loss, i)
        logs["loss"] = mean_loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        D.average_gradients(params)
        opt.step()
        D.broadcast_buffers(method)
        method.after_step((i + 1) / cfg.steps)
        if monitor is not None and ((i + 1) % cfg.knn_every == 0 or i + 1 == cfg.steps):
            logs["knn_top1"] = monitor(method.encoder)
            logger.info("step %d: loss %.4f, kNN top-1 %.2f %%", i + 1, logs["loss"], 100 * logs["knn_top1"])
        return logs

    work = Path(work_dir) if work_dir else None
    meta = run_meta(source, cfg, world)
    records = fit(step, modules={"method": method}, optimizers={"sgd": opt}, steps=cfg.steps,
                  ckpt_path=work / "train_state.pt" if work else None, ckpt_every=cfg.ckpt_every,
                  meta=meta, desc=f"pretrain {cfg.method}",
                  log_path=work / "log.jsonl" if work else None, log_every=1,
                  seed=D.rank_seed(cfg.seed, info.rank), writer=info.is_main,
                  schedule=lambda i: warmup_cosine(i, cfg.steps, warmup=cfg.warmup))
    method.run_meta = meta  # with the history fit() recorded (a learning-rate change after a stop)
    if world > 1:
        digests = D.rank_digests(method.state_dict().values(), device)
        if len(set(digests)) > 1:
            raise RuntimeError(f"DDP ranks ended with different weights (sha256 per rank: {digests})")
        if work and info.is_main:
            atomic_write_json(work / "ranks.json", {"world_size": world, "state_sha256": digests})
    return method, records


# ---- the run settings shared by notebook 05 and `python -m hlwb pretrain` -------------------------

def settings(p: PretrainParams, device: str | torch.device) -> PretrainConfig:
    """The trainer's config of a run: ``base_lr`` 0 is the method's (:data:`hlwb.ssl.BASE_LR`),
    ``ckpt_every`` 0 is steps / 5, ``knn_every`` 0 scores once at the end (an unlabelled dataset: no
    monitor, logged), ``precision`` "auto" is resolved on ``device`` (:func:`hlwb.amp.resolve`).
    An unknown method or strategy is refused (:class:`~hlwb.config.ConfigError`), listing the valid ones."""
    from .devices import resolve

    if p.method not in ssl.METHODS:
        raise ConfigError(f"unknown method {p.method!r}; valid: {', '.join(ssl.METHODS)}", param="method")
    try:
        lookup(p.strategy)
    except KeyError as e:
        raise ConfigError(e.args[0], param="strategy") from None
    labelled = data.spec_of(p.dataset, p.image_size or None, split="train").classes is not None
    if not labelled:
        logger.info("dataset %s is unlabelled: the kNN monitor is off", p.dataset)
    return PretrainConfig(method=p.method, steps=p.steps, batch=p.batch, width=p.width, blocks=p.blocks,
                          base_lr=p.base_lr or ssl.BASE_LR[p.method], warmup=p.warmup, seed=p.seed,
                          ckpt_every=p.ckpt_every or max(1, p.steps // 5),
                          knn_every=(p.knn_every or p.steps) if labelled else 0,
                          knn_train=p.knn_train, knn_test=p.knn_test, knn_split=p.knn_split,
                          precision=amp.resolve(p.precision, resolve(device)), gcrl_alpha=p.gcrl_alpha,
                          gcrl_beta=p.gcrl_beta, dataset=p.dataset, image_size=p.image_size)


def hl_sigmas_for(p: PretrainParams) -> list[float] | None:
    """``hl_random``'s per-chunk sigmas under ``hl_rule="delta"`` (notebook 04's delta_i, from
    ``hl_sigmas_file``); None for the paper's rule and every other strategy."""
    if p.strategy != "hl_random" or p.hl_rule != "delta":
        return None
    return load_hl_sigmas(resolve_path(p.hl_sigmas_file), p.generator)


def run_source(p: PretrainParams, device: str | torch.device, rank: int = 0) -> ViewSource:
    """The view source of a run (rank ``rank`` of a data-parallel one): :func:`hlwb.views.make_source`
    with the run's settings; relative paths are the repository root's (:func:`hlwb.config.resolve_path`).
    A GCRL run gets GCRL's weak (modelled) and strong views of that source (:class:`hlwb.ssl.gcrl.WeakStrongViews`)."""
    from .devices import resolve
    from .ssl.gcrl import WeakStrongViews

    dev = resolve(device)
    src = make_source(p.strategy, p.batch, augment=p.augment, generator=p.generator, sampling=p.sampling,
                      n_fixed=p.n_fixed, hl_sigmas=hl_sigmas_for(p), walkers_dir=resolve_path(p.walkers_dir),
                      seed=p.seed, rank=rank, decode_chunk=p.decode_chunk or None,
                      precision=amp.resolve(p.precision, dev), device=dev, dataset=p.dataset,
                      image_size=p.image_size or None, hl_keep=p.hl_keep, hl_scale=p.hl_scale)
    return WeakStrongViews(src) if p.method == "gcrl" else src
