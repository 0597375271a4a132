"""One contrastive pretraining run: a method, a view source, the one loop, a kNN monitor.

SGD with momentum, linear warm-up and cosine decay (METHODS.md §1.8, lr = base x batch / 256),
the method's ``after_step`` (EMA, queue, prototypes) after each optimiser step, and a weighted
kNN monitor on Fashion-MNIST (features of a train subset vs. the test set) every
``knn_every`` steps. Checkpoints and resume come from :func:`hlwb.train.fit`; view sources are
addressable by step, so a resumed run sees the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import data, ssl
from .encoders import ResNetTrunk
from .evaluate import features, knn_accuracy
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
    knn_test: int = 2000          # test images scored
    knn_k: int = 200
    knn_t: float = 0.1


def build_method(cfg: PretrainConfig) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        trunk = ResNetTrunk(cfg.width, tuple(int(b) for b in cfg.blocks.split(",")))
        return ssl.build(cfg.method, trunk)


def knn_monitor(encoder: nn.Module, cfg: PretrainConfig) -> float:
    """Weighted kNN top-1 on the first ``knn_test`` Fashion-MNIST test images."""
    train, test = data.fashion_mnist("train"), data.fashion_mnist("test")
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(train), generator=g)[:cfg.knn_train]
    ftr, fte = features(encoder, train.images[idx]), features(encoder, test.images[:cfg.knn_test])
    return knn_accuracy(ftr, train.labels[idx], fte, test.labels[:cfg.knn_test], k=cfg.knn_k,
                        temperature=cfg.knn_t)


def pretrain(source, cfg: PretrainConfig, work_dir: str | Path | None = None,
             device: str = "cpu") -> tuple[nn.Module, list[dict]]:
    """Train ``cfg.method`` on batches ``source.batch_at(step)``; returns the method and its logs."""
    method = build_method(cfg).to(device)
    params = [p for p in method.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=cfg.base_lr * cfg.batch / 256, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)

    def step(i: int) -> dict[str, float]:
        x1, x2 = source.batch_at(i)
        method.train()
        loss, logs = method(x1.to(device), x2.to(device))
        check_finite("loss", loss, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        method.after_step((i + 1) / cfg.steps)
        if cfg.knn_every and ((i + 1) % cfg.knn_every == 0 or i + 1 == cfg.steps):
            logs["knn_top1"] = knn_monitor(method.encoder, cfg)
            logger.info("step %d: loss %.4f, kNN top-1 %.4f", i + 1, logs["loss"], logs["knn_top1"])
        return logs

    work = Path(work_dir) if work_dir else None
    records = fit(step, modules={"method": method}, optimizers={"sgd": opt}, steps=cfg.steps,
                  ckpt_path=work / "train_state.pt" if work else None, ckpt_every=cfg.ckpt_every,
                  meta={"config": dataclasses.asdict(cfg)}, desc=f"pretrain {cfg.method}",
                  log_path=work / "log.jsonl" if work else None, log_every=1, seed=cfg.seed,
                  schedule=lambda i: warmup_cosine(i, cfg.steps, warmup=cfg.warmup))
    return method, records
