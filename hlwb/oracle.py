"""The oracle: a supervised CNN on a labelled dataset's real images, the semantic judge F_T (docs/methods.md §4).

``predict`` gives labels, ``probs`` the posterior, ``features`` the 256-d penultimate layer,
the feature space of FD_oracle (the Fréchet distance between image sets). An oracle is built for
its dataset's image spec, class names included (``Oracle.spec``), records it in its file, and
refuses images of another spec. The shipped checkpoint (``hlwb/checkpoints/oracle.pt``, trained
on Fashion-MNIST by ``python -m hlwb train-oracle``, before files recorded specs: its spec is
1 x 32 x 32 with :data:`LEGACY_CLASSES`); its command, config and test accuracy are in ``oracle.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import checkpoint, data, devices
from . import latents as L
from .config import check_data
from .ranges import ConfigError, check_ranges
from .spec import LEGACY, ImageSpec, SpecError, check
from .train import check_finite, fit, warmup_cosine

logger = logging.getLogger(__name__)

LEGACY_CLASSES = data.FASHION_CLASSES  # the classes of an oracle file without a spec (the shipped one's)


@dataclass(frozen=True)
class OracleConfig:
    """Oracle training settings (the defaults trained the shipped oracle)."""

    dataset: str = "fashion_mnist"  # a labelled dataset with train and test splits (hlwb.data)
    image_size: int = 0        # its side in px (0: the dataset's own)
    epochs: int = 6
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4
    width: int = 32
    seed: int = 0
    threads: int = 0  # torch CPU threads (0: leave torch's default)
    max_steps: int = 0  # stop after this many optimiser steps (0: all the epochs); a quick oracle for smoke runs

    def __post_init__(self) -> None:
        check_ranges(self)  # hlwb.ranges.RANGES
        check_data(self)
        if self.spec().classes is None:
            raise ConfigError(f"dataset={self.dataset!r} is unlabelled: the oracle is a classifier trained on its "
                              "labels; choose a labelled dataset", param="dataset")
        try:
            data.spec_of(self.dataset, self.image_size or None, split="test")
        except KeyError as e:
            raise ConfigError(f"dataset={self.dataset!r} has no test split, on which the oracle reports its "
                              f"accuracy: {e.args[0] if e.args else e}", param="dataset") from None

    def spec(self) -> ImageSpec:
        """The oracle's spec: the dataset's train images at ``image_size``, with its class names."""
        return data.spec_of(self.dataset, self.image_size or None, split="train")


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class OracleNet(nn.Module):
    """VGG-style CNN on (N, C, S, S): S -> S/2 -> S/4 -> S/8 px, then a ``feat_dim`` feature layer
    and ``n_classes`` logits (defaults: the shipped oracle's, 1 x 32 x 32 and its 10 classes)."""

    def __init__(self, width: int = 32, n_classes: int = len(LEGACY_CLASSES), feat_dim: int = 256,
                 channels: int = LEGACY.channels, size: int = LEGACY.size):
        super().__init__()
        self.spec = ImageSpec(channels, size)
        w, side = width, size // 8  # three 2x max-pools (floor)
        self.width, self.n_classes, self.feat_dim = width, n_classes, feat_dim
        self.trunk = nn.Sequential(
            _conv(channels, w), nn.MaxPool2d(2),                        # (N, w, S/2, S/2)
            _conv(w, 2 * w), _conv(2 * w, 2 * w), nn.MaxPool2d(2),      # (N, 2w, S/4, S/4)
            _conv(2 * w, 4 * w), _conv(4 * w, 4 * w), nn.MaxPool2d(2),  # (N, 4w, S/8, S/8)
            nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(4 * w * side * side, feat_dim), nn.BatchNorm1d(feat_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feat_dim, n_classes))

    def config(self) -> dict:
        return {"width": self.width, "n_classes": self.n_classes, "feat_dim": self.feat_dim,
                "channels": self.spec.channels, "size": self.spec.size}

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.trunk(x))


class Oracle:
    """Frozen classifier wrapper; images are float ``(N, C, S, S)`` of ``spec`` in [-1, 1] or uint8.

    ``spec``: the images and class names of the data it was trained on; None is the spec of an
    oracle written before specs (1 x 32 x 32, :data:`LEGACY_CLASSES`), for a net of that shape only.
    The network runs on its own device; every result comes back on the device of the images
    given (host images: host results, as for the data sets; generated images on a GPU: results
    on that GPU, so a training step that scores its batch never copies it to the host).
    """

    def __init__(self, net: OracleNet, meta: dict | None = None, spec: ImageSpec | None = None):
        if spec is None:
            if net.spec != LEGACY or net.n_classes != len(LEGACY_CLASSES):
                raise ValueError(f"an oracle net for {net.spec.describe()} images with {net.n_classes} classes needs "
                                 "its spec: pass spec= (the dataset's, with its class names)")
            spec = ImageSpec(LEGACY.channels, LEGACY.size, LEGACY_CLASSES)
        if not spec.same_images(net.spec) or spec.n_classes != net.n_classes:
            raise ValueError(f"spec {spec.describe()} does not fit an oracle net for {net.spec.describe()} images "
                             f"with {net.n_classes} classes")
        self.net = net.eval()
        self.meta = meta or {}
        self.spec = spec

    @torch.no_grad()
    def _run(self, images: Tensor, fn, batch_size: int = 1000) -> Tensor:
        check(images, self.spec, "oracle")
        dev = next(self.net.parameters()).device
        out = []
        for i in range(0, len(images), batch_size):
            x = devices.to_device(images[i:i + batch_size], dev)  # uint8 crosses as uint8: 4x fewer bytes
            out.append(fn(data.to_float(x) if x.dtype == torch.uint8 else x).to(images.device))
        return torch.cat(out)

    def logits(self, images: Tensor) -> Tensor:
        """``(N, n_classes)`` logits."""
        return self._run(images, self.net)

    def probs(self, images: Tensor) -> Tensor:
        """``(N, n_classes)`` posterior probabilities."""
        return self.logits(images).softmax(dim=1)

    def predict(self, images: Tensor) -> Tensor:
        """``(N,)`` int64 labels."""
        return self.logits(images).argmax(dim=1)

    def features(self, images: Tensor) -> Tensor:
        """``(N, feat_dim)`` penultimate features (the FD_oracle space; 256 by default)."""
        return self._run(images, self.net.trunk)


def shipped_path() -> Path:
    return Path(str(resources.files("hlwb") / "checkpoints" / "oracle.pt"))


_CACHE: dict[str, Oracle] = {}


def load(path: str | Path | None = None, device: str | torch.device = "auto") -> Oracle:
    """The shipped oracle (cached per file and device), or an oracle checkpoint file, on
    ``device`` (:func:`hlwb.devices.resolve`).

    The shipped file must match the SHA-256 in ``oracle.json``; a file of your own is checked
    against its sidecar's ``sha256`` when it has one and loads unchecked otherwise. The file's
    recorded spec (none: 1 x 32 x 32 with :data:`LEGACY_CLASSES`) must be the one its config builds.
    """
    device = devices.resolve(device)
    key = f"{path}:{device}"
    if key not in _CACHE:
        file = Path(path) if path else shipped_path()
        state = checkpoint.load(file, kind="oracle", map_location=device, require_digest=not path)
        checkpoint.require(file, state, "config", "state_dict")
        net = checkpoint.build_module(file, OracleNet, state["config"], what="oracle")
        spec = checkpoint.recorded_spec(file, state, net.spec, "oracle")
        if "spec" not in state:  # written before specs: the shipped oracle's classes
            spec = ImageSpec(spec.channels, spec.size, LEGACY_CLASSES)
        if spec.n_classes != net.n_classes:
            raise checkpoint.CheckpointError(f"{file}: the file records {spec.describe()}, but its oracle config has "
                                             f"{net.n_classes} outputs; the file is damaged or was edited by hand")
        checkpoint.load_weights(file, net, state["state_dict"])
        _CACHE[key] = Oracle(net.to(device), state.get("meta"), spec)
    return _CACHE[key]


def for_dataset(dataset: str, size: int | None = None, path: str | Path = "",
                device: str | torch.device = "auto") -> Oracle:
    """The oracle of ``dataset`` at ``size`` px: the file ``path``, or ("") the shipped one when the
    dataset is the one it was trained on (Fashion-MNIST at 32 px); refused, naming both specs and the
    command that trains one, when its images or class names are not the dataset's."""
    want = data.spec_of(dataset, size)
    if not path and want != load(None, device="cpu").spec:
        raise SpecError(f"the shipped oracle knows Fashion-MNIST (1x32x32, its 10 classes), not {dataset!r} "
                        f"({want.describe()}); train one with `python -m hlwb train-oracle --dataset {dataset}"
                        f"{f' --image-size {size}' if size else ''} --out ORACLE.pt` and pass its path (oracle)")
    orc = load(path or None, device=device)
    if orc.spec != want:
        raise SpecError(f"oracle {path or shipped_path()} knows {orc.spec.describe()} ({orc.spec.classes}), but "
                        f"{dataset!r} is {want.describe()} ({want.classes}); use an oracle trained on this dataset")
    return orc


def accuracy(oracle: Oracle, ds: data.Dataset) -> float:
    """The fraction of ``ds`` (a labelled dataset of the oracle's spec and classes) it labels right."""
    if ds.spec.classes != oracle.spec.classes:
        raise SpecError(f"{ds.name} is {ds.spec.describe()} with classes {ds.spec.classes}, but the oracle knows "
                        f"{oracle.spec.classes}: score it on the dataset it was trained on")
    return float((oracle.predict(ds.images) == ds.labels).float().mean())


def _augment(x: Tensor, g: torch.Generator) -> Tensor:
    """Random horizontal flip and a random shift of up to 2 px (zero padding); the draws come
    from the host generator ``g`` (the same on every device), the images stay where they are."""
    n = x.shape[0]
    flip = devices.to_device(torch.rand(n, generator=g) < 0.5, x.device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dx, dy = torch.randint(0, 5, (2,), generator=g).tolist()  # one shift per batch: cheap
    return pad[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]


def train_oracle(cfg: OracleConfig, out: str | Path, work_dir: str | Path | None = None,
                 device: str | torch.device = "auto") -> float:
    """Train on ``cfg.dataset``'s train split (at ``cfg.image_size``), report the test accuracy, write
    the checkpoint with its spec (class names included); returns the accuracy.

    ``device`` (:func:`hlwb.devices.resolve`): the network, the train images and every step run
    there; the epoch permutations and augmentation draws are host generators' (the same batches
    on every device). The checkpoint is written from host copies of the weights.
    """
    device = devices.resolve(device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(out)
    size = cfg.image_size or None
    train, test = data.load(cfg.dataset, "train", size), data.load(cfg.dataset, "test", size)
    spec = train.spec
    if spec.classes is None:  # the config refuses it; a folder's files may have changed since
        raise ValueError(f"{train.name} is unlabelled: the oracle is a classifier trained on its labels")
    x, y = devices.to_device(train.float_images(), device), devices.to_device(train.labels, device)
    with torch.random.fork_rng(devices=[]):  # seeded init on the host without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        net = OracleNet(cfg.width, spec.n_classes, channels=spec.channels, size=spec.size).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = len(x) // cfg.batch
    steps = cfg.epochs * per_epoch if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * per_epoch)
    perms: dict[int, Tensor] = {}

    def step(i: int) -> dict[str, float]:
        epoch, j = divmod(i, per_epoch)
        if epoch not in perms:
            perms.clear()
            perm = torch.randperm(len(x), generator=L.make_generator(cfg.seed * 1000 + epoch))  # host draw
            perms[epoch] = devices.to_device(perm, device)
        idx = perms[epoch][j * cfg.batch:(j + 1) * cfg.batch]
        xb = _augment(x[idx], L.make_generator(cfg.seed * 10**6 + i))
        net.train()
        loss = F.cross_entropy(net(xb), y[idx], label_smoothing=0.1)
        check_finite("loss", loss, i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    work = Path(work_dir) if work_dir else out.with_suffix(".work")
    fit(step, modules={"net": net}, optimizers={"opt": opt}, steps=steps, meta={"config": dataclasses.asdict(cfg)},
        ckpt_path=work / "train_state.pt", ckpt_every=per_epoch, desc="train-oracle",
        log_path=work / "log.jsonl", log_every=100, seed=cfg.seed,
        schedule=lambda i: warmup_cosine(i, steps, warmup=per_epoch // 2))
    oracle = Oracle(net.eval(), spec=spec)
    acc = accuracy(oracle, test)
    meta = {"config": dataclasses.asdict(cfg), "test_accuracy": acc, "torch": str(torch.__version__),
            "command": "python -m hlwb " + shlex.join(sys.argv[1:])}
    checkpoint.save(out, {"config": net.config(), "spec": spec.record(), "state_dict": net.cpu().state_dict(),
                          "meta": meta}, kind="oracle")
    checkpoint.write_sidecar(out, meta)  # the meta plus the file's SHA-256, checked at load
    logger.info("oracle test accuracy %.2f %% -> %s", 100 * acc, out)
    return acc
