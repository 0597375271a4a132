"""One contrastive pretraining run: a method, a view source, the one loop, a kNN monitor.

SGD with momentum, linear warm-up and cosine decay (docs/methods.md §5, lr = base x batch / 256),
the method's ``after_step`` (EMA, queue, prototypes) after each optimiser step, and a weighted
kNN monitor on Fashion-MNIST (features of a train subset vs. the test set) every
``knn_every`` steps. Checkpoints and resume come from :func:`hlwb.train.fit`; view sources are
addressable by step, so a resumed run sees the batches an uninterrupted one would have seen.
Launched by torchrun, the same function runs data-parallel (see :func:`pretrain`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import amp, data, ssl
from . import distributed as D
from .checkpoint import atomic_write_json
from .encoders import ResNetTrunk
from .evaluate import features, knn_accuracy
from .ranges import check_ranges
from .train import check_finite, fit, warmup_cosine

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

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        amp.check(self.precision)


def build_method(cfg: PretrainConfig) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        trunk = ResNetTrunk(cfg.width, tuple(int(b) for b in cfg.blocks.split(",")))
        kwargs = ssl.budget_settings(cfg.method, cfg.steps, cfg.batch)
        if cfg.method == "gcrl":
            kwargs |= {"alpha": cfg.gcrl_alpha, "beta": cfg.gcrl_beta}
        return ssl.build(cfg.method, trunk, **kwargs)


def config_dict(cfg: PretrainConfig) -> dict:
    """The config as stored with a run; the ``gcrl_*`` fields only for GCRL and ``precision``
    only when not fp32, so the other runs (and checkpoints) are described as before those
    fields existed."""
    d = amp.stored(dataclasses.asdict(cfg))
    return d if cfg.method == "gcrl" else {k: v for k, v in d.items() if not k.startswith("gcrl_")}


VAL_SPLIT = 50_000  # train images [0, 50k) form the kNN memory; [50k, 60k) are the validation queries


def knn_monitor(encoder: nn.Module, cfg: PretrainConfig) -> float:
    """Weighted kNN top-1 of ``knn_test`` queries against a seeded ``knn_train``-image memory.

    ``knn_split="val"`` (default): memory from Fashion-MNIST train images 0..49,999, queries the
    first ``knn_test`` of train images 50,000..59,999 — a validation split, so anything chosen
    on this number (the sweep's best generated strategy) is chosen without the test set.
    ``"test"``: memory from all of train, queries the first ``knn_test`` test images.
    """
    if cfg.knn_split not in ("val", "test"):
        raise ValueError(f"knn_split must be 'val' or 'test', got {cfg.knn_split!r}")
    train = data.fashion_mnist("train")
    g = torch.Generator().manual_seed(cfg.seed)
    if cfg.knn_split == "val":
        pool = VAL_SPLIT
        q_img, q_lab = train.images[VAL_SPLIT:VAL_SPLIT + cfg.knn_test], train.labels[VAL_SPLIT:VAL_SPLIT + cfg.knn_test]
    else:
        test = data.fashion_mnist("test")
        pool = len(train)
        q_img, q_lab = test.images[:cfg.knn_test], test.labels[:cfg.knn_test]
    idx = torch.randperm(pool, generator=g)[:cfg.knn_train]
    ftr, fte = features(encoder, train.images[idx]), features(encoder, q_img)
    return knn_accuracy(ftr, train.labels[idx], fte, q_lab, k=cfg.knn_k, temperature=cfg.knn_t)


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
        if cfg.knn_every and info.is_main and ((i + 1) % cfg.knn_every == 0 or i + 1 == cfg.steps):
            logs["knn_top1"] = knn_monitor(method.encoder, cfg)
            logger.info("step %d: loss %.4f, kNN top-1 %.4f", i + 1, logs["loss"], logs["knn_top1"])
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
