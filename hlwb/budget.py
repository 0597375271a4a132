"""What a training run would allocate, known before it allocates anything.

A size setting (a batch, a width, a channel count, a dim) is refused when the run it describes could
not fit in this machine's memory. The run's models are built on the meta device, where a generator of
``g_ch`` 100000 costs no memory: their parameters are counted (the count stops once it passes
:data:`hlwb.checkpoint.MAX_PARAMETERS`), and one forward pass of two samples measures the bytes of every
leaf module's output. A training step then holds about

    parameters x PARAM_COPIES                (weights, gradients, Adam's two moments, an EMA copy)
  + batch x activations of one sample x ACTIVATION_COPIES   (kept for backward, and their gradients)
  + the data the run keeps in memory        (the training set, a fixed set of views)

and that must fit in :func:`machine_bytes` (the host's memory and the GPU's). Every leaf module's
output is counted, so the activations are over- rather than under-estimated.
The configs' range checks call :func:`check` (:data:`hlwb.ranges.BUDGETS`), so a refused run fails
where its config is built, before a work directory, a lock or a ``config.json`` exists; the message
names the parameter, what the run would need and the largest value that fits here.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

try:
    from torch.nn.utils.parametrizations import _SpectralNorm
except ImportError:  # pragma: no cover - another torch: measured as it is, only slower
    _SpectralNorm = None

PARAM_COPIES = 5       # weights, gradients, Adam's two moments, an EMA copy
ACTIVATION_COPIES = 2  # the forward's activations kept for backward, and their gradients
GiB = 2**30


def machine_bytes() -> int:
    """This machine's memory in bytes: the host's physical memory, plus the first GPU's when there is one
    (a run's activations live there); ``HLWB_MEMORY_GB`` overrides it (a shared host, a test)."""
    env = os.environ.get("HLWB_MEMORY_GB", "").strip()
    if env:
        return int(float(env) * GiB)
    try:
        host = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a laptop's 16 GiB
        host = 16 * GiB
    gpu = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else 0
    return host + gpu


def _size(n: float) -> str:
    for unit, k in (("TiB", 2**40), ("GiB", GiB), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class Need:
    """A run's memory: ``parameters`` (None: more than can be counted), ``sample_bytes`` (one sample's
    activations, forward), ``data_bytes`` (what it holds besides); :meth:`total` for a batch."""

    parameters: int | None
    sample_bytes: int
    data_bytes: int = 0

    def model_bytes(self) -> float:
        return float("inf") if self.parameters is None else 4 * PARAM_COPIES * self.parameters

    def total(self, batch: int) -> float:
        return self.model_bytes() + ACTIVATION_COPIES * self.sample_bytes * batch + self.data_bytes

    def describe(self, batch: int) -> str:
        """What the run would need, in words: its parameters, activations and data."""
        from .checkpoint import MAX_PARAMETERS

        if self.parameters is None:
            return (f"its models would hold more than {MAX_PARAMETERS:,} parameters, {_size(4 * MAX_PARAMETERS)} a "
                    f"copy (counted on the meta device, nothing allocated)")
        data = f", {_size(self.data_bytes)} of data" if self.data_bytes else ""
        return (f"it would need ~{_size(self.total(batch))} to train: {self.parameters:,} parameters x "
                f"{PARAM_COPIES} copies = {_size(self.model_bytes())}, {_size(self.sample_bytes)} of activations "
                f"per sample x batch {batch} x {ACTIVATION_COPIES}{data}")


def measure(build: Callable[[], list[nn.Module]], forward: Callable[[list[nn.Module], int], Any],
            data_bytes: int = 0) -> Need:
    """:class:`Need` of the models ``build()`` makes (on the meta device) and of ``forward(models, n)``.

    ``forward`` runs two samples (batch norm needs two) with every input made on the meta device;
    its leaf modules' outputs are summed and halved.
    """
    from .checkpoint import meta_build

    power = _SpectralNorm and _SpectralNorm._power_method
    if power:  # spectral norm's 15 power iterations at init: seconds of Python on meta tensors, values unused
        _SpectralNorm._power_method = lambda self, weight_mat, n_power_iterations: None
    try:
        with torch.random.fork_rng(devices=[]):
            models, n_params = meta_build(build)
    finally:
        if power:
            _SpectralNorm._power_method = power
    if n_params is None:
        return Need(None, 0, data_bytes)
    out = [0]

    def on_forward(module, args, output):
        if not any(True for _ in module.children()):
            for t in output if isinstance(output, (tuple, list)) else (output,):
                if isinstance(t, torch.Tensor):
                    out[0] += t.numel() * t.element_size()

    hook = nn.modules.module.register_module_forward_hook(on_forward)
    autocast = torch.autocast
    torch.autocast = _NoAutocast  # autocast knows no meta device; the losses' fp32 guard is a no-op here
    try:
        with torch.device("meta"), torch.no_grad():
            forward(models, 2)
    except RuntimeError:  # a data-dependent step (a loss's .item()) ends it: the modules that ran are counted
        pass
    finally:
        torch.autocast = autocast
        hook.remove()
    return Need(n_params, out[0] // 2, data_bytes)


class _NoAutocast:
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def check(cfg: Any, need_of: Callable[[Any], Need], batch_field: str | None, size_fields: tuple[str, ...]) -> None:
    """Refuse ``cfg`` (a config dataclass) when ``need_of(cfg)`` does not fit :func:`machine_bytes`.

    The message names the culprit -- ``batch_field`` when the models fit at a batch of 2, else the first
    of ``size_fields`` that, lowered alone, makes the run fit -- its value, what the run would need, and
    the largest value that fits on this machine (or all the sizes, when no one of them alone is the cause).
    """
    from .ranges import ConfigError
    from .spec import SpecError

    have = machine_bytes()
    batch = getattr(cfg, batch_field) if batch_field else 1
    need_of = _cached(need_of)
    try:
        need = need_of(cfg)
    except ConfigError:
        raise
    except (SpecError, ValueError, KeyError, OSError):  # another setting is invalid: its own check says which
        return
    if need.total(batch) <= have:
        return
    name = type(cfg).__name__

    def at_batch(c) -> float:
        return need_of(c).total(batch)

    f, limit = None, None
    if batch_field and need.total(2) <= have:  # the models fit: the batch is what is too large
        per = ACTIVATION_COPIES * need.sample_bytes
        f, limit = batch_field, int((have - need.model_bytes() - need.data_bytes) // per)
    else:  # the models do not fit: the size that, lowered alone, makes the run fit at this batch
        for field in size_fields:
            if at_batch(_view(cfg, {field: 1})) <= have:
                f, limit = field, _largest(cfg, field, lambda c: at_batch(c) <= have, at_batch)
                break
    if f is None:
        sizes = ", ".join(f"{k} = {getattr(cfg, k)}" for k in (*size_fields, *([batch_field] if batch_field else ())))
        raise ConfigError(f"{name}: {sizes} together are too large: {need.describe(batch)}, more than this "
                          f"machine's {_size(have)} of memory; lower them", param=size_fields[0])
    raise ConfigError(f"{name}: {f} = {getattr(cfg, f)} is too large: {need.describe(batch)}, more than this "
                      f"machine's {_size(have)} of memory; at most {f} = {limit} fits here", param=f)


_NEEDS: dict[tuple, Need] = {}


def _cached(need_of: Callable[[Any], Need]) -> Callable[[Any], Need]:
    """``need_of`` remembered per config values (a config built again, e.g. per sweep run, is measured once)."""
    def cached(cfg: Any) -> Need:
        values = vars(cfg) if isinstance(cfg, types.SimpleNamespace) else {f.name: getattr(cfg, f.name)
                                                                             for f in fields(cfg)}
        key = (need_of.__name__, type(cfg).__name__,
               tuple(sorted((k, v) for k, v in values.items() if isinstance(v, (int, float, str, bool)))))
        if key not in _NEEDS:
            _NEEDS[key] = need_of(cfg)
        return _NEEDS[key]
    return cached


def _largest(cfg: Any, field: str, fits: Callable[[Any], bool], total: Callable[[Any], float]) -> int:
    """The largest value of int ``field`` in ``[1, cfg.field]`` for which ``fits`` holds (``fits`` holds at 1),
    on copies of ``cfg`` (its own checks do not run again).

    A run's bytes are a polynomial of degree <= 2 in one width (a convolution's weights grow as its
    input times its output channels): the quadratic through ``total`` at 1, 2 and 3 predicts the
    answer, two measurements confirm it, and a bisection takes over where they do not.
    """
    have = machine_bytes()
    lo, hi = 1, int(getattr(cfg, field))
    t1, t2, t3 = (total(_view(cfg, {field: v})) for v in (1, 2, 3))
    a = (t3 - 2 * t2 + t1) / 2
    b = t2 - t1 - 3 * a
    c = t1 - a - b
    if a > 0:
        guess = int((-b + (b * b - 4 * a * (c - have)) ** 0.5) / (2 * a))
    else:
        guess = int((have - c) // b) if b > 0 else hi
    guess = min(max(guess, lo), hi)
    if fits(_view(cfg, {field: guess})):
        if guess == hi or not fits(_view(cfg, {field: guess + 1})):
            return guess
        lo = guess + 1
    else:
        hi = guess - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(_view(cfg, {field: mid})):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _view(cfg: Any, change: dict) -> Any:
    """``cfg``'s fields with ``change``, without building (and checking) the dataclass again; ``spec``
    (a property or a method; it depends on no size field) is ``cfg``'s own."""
    ns = types.SimpleNamespace(**{**{f.name: getattr(cfg, f.name) for f in fields(cfg)}, **change})
    if hasattr(cfg, "spec"):
        ns.spec = cfg.spec
    return ns


# --- what each config's run builds (the training code's own constructors, on the meta device) -----------

def _images(n: int, spec) -> torch.Tensor:
    return torch.zeros(n, *spec.shape)


def _latents(gen, n: int) -> list[torch.Tensor]:
    return [torch.zeros(n, c.dim) for c in gen.chunks]


def gan(c) -> Need:
    """GANConfig: the generator and the discriminator of :func:`hlwb.generators.training.train_gan`
    (D scores a real and a generated batch)."""
    from .generators import build
    from .generators.biggan import Discriminator

    spec = c.spec() if callable(getattr(c, "spec", None)) else None  # a bad dataset: check() skips the budget
    channels, size = (spec.channels, spec.size) if spec is not None else (1, 32)

    def models():
        return [build(c.family, spec, ch=c.g_ch, chunk_dim=c.chunk_dim),
                Discriminator(c.d_ch, channels, size)]

    def forward(ms, n):
        g, d = ms
        x = g(_latents(g, n))
        d(x), d(x)

    return measure(models, forward, data_bytes=_train_images_bytes(channels * size * size))


def rep_gan(c) -> Need:
    """RepGANConfig: :func:`hlwb.rcg.generator.train_rep_gan`'s generator and projection
    discriminator; the data: the train images (uint8) and their representations."""
    from .rcg.generator import RepConditionedGenerator, RepDiscriminator

    def models():
        return [RepConditionedGenerator(c.g_ch, c.chunk_dim, rep_dim=c.rep_dim), RepDiscriminator(c.d_ch, c.rep_dim)]

    def forward(ms, n):
        g, d = ms
        rep = torch.zeros(n, c.rep_dim)
        x = g(_latents(g, n), rep)
        d(x, rep), d(x, rep)

    from .ranges import FASHION_TRAIN

    return measure(models, forward, data_bytes=_train_images_bytes(32 * 32) + FASHION_TRAIN * c.rep_dim * 4)


def rdm(c) -> Need:
    """RDMConfig: the RDM's network (its EMA copy is counted with the parameters' copies); the data:
    the train representations."""
    from .rcg.rdm import RepresentationDiffusion

    def forward(ms, n):
        ms[0].net(torch.zeros(n, c.dim), torch.zeros(n, dtype=torch.long))

    from .ranges import FASHION_TRAIN

    return measure(lambda: [RepresentationDiffusion(c.dim, c.width, c.blocks)], forward,
                   data_bytes=FASHION_TRAIN * c.dim * 4)


def pretraining(c) -> Need:
    """PretrainConfig / notebook 05's parameters: the method of :func:`hlwb.pretrain.build_method` on
    two views; the data: the train images (real views) or the fixed set of view pairs."""
    from .pretrain import build_method

    spec = _spec_of(c)

    def forward(ms, n):
        m, ran = ms[0], []
        hook = m.encoder.register_forward_hook(lambda *args: ran.append(1)) if hasattr(m, "encoder") else None
        try:
            m(_images(n, spec), _images(n, spec))
        except RuntimeError:  # a data-dependent check before the trunk (GCRL's identical views): the trunk alone
            if hook is not None and not ran:
                m.encoder(_images(n, spec)), m.encoder(_images(n, spec))
        finally:
            if hook is not None:
                hook.remove()

    fixed = getattr(c, "sampling", "") == "fixed" and getattr(c, "strategy", "real") != "real"
    data = 2 * c.n_fixed * spec.dims * 4 if fixed else _train_images_bytes(spec.dims)
    return measure(lambda: [build_method(_with_spec(c, spec))], forward, data_bytes=data)


def oracle(c) -> Need:
    """OracleConfig: the classifier on the train set."""
    from .oracle import OracleNet

    spec = _spec_of(c)
    return measure(lambda: [OracleNet(c.width, channels=spec.channels, size=spec.size)],
                   lambda ms, n: ms[0](torch.zeros(n, *spec.shape)), data_bytes=_train_images_bytes(spec.dims))


def minmax(c) -> Need:
    """MinMaxConfig: the critic on a batch of anchors and one of positives (the walker is a few
    thousand parameters; the generator is the caller's)."""
    from .encoders import Critic

    spec = _spec_of(c)  # MinMaxConfig has no dataset: the legacy 1 x 32 x 32 (the generator's is checked at build)
    return measure(lambda: [Critic(c.critic_width, channels=spec.channels, size=spec.size)],
                   lambda ms, n: (ms[0](torch.zeros(n, *spec.shape)), ms[0](torch.zeros(n, *spec.shape))))


def images_that_fit(c: Any) -> int:
    """How many float images of ``c``'s data (its ``dataset`` / ``image_size``, else 1 x 32 x 32) fit in
    :func:`machine_bytes`: the bound of a notebook's sample counts (:func:`hlwb.ranges._held`)."""
    try:
        spec = _spec_of(c)
    except (ValueError, KeyError, OSError):  # a bad dataset: its own check says so
        from .spec import LEGACY

        spec = LEGACY
    return machine_bytes() // (4 * spec.dims)


def _train_images_bytes(dims: int) -> int:
    """The train split held as uint8 and as float (what the training loops index into)."""
    from .ranges import FASHION_TRAIN

    return FASHION_TRAIN * dims * 5


def _spec_of(c):
    spec = getattr(c, "spec", None)
    if spec is not None and not callable(spec):
        return spec
    from .spec import LEGACY

    dataset = getattr(c, "dataset", None)
    if dataset:
        from . import data

        return data.spec_of(dataset, getattr(c, "image_size", 0) or None, split="train")
    return LEGACY


def _with_spec(c, spec):
    """``c`` as :func:`hlwb.pretrain.build_method` reads it (``seed``, ``width``, ``blocks``, ``method``,
    ``steps``, ``batch``, the GCRL weights and ``spec``)."""
    ns = types.SimpleNamespace(**{f.name: getattr(c, f.name) for f in fields(c)}) if not isinstance(
        c, types.SimpleNamespace) else types.SimpleNamespace(**vars(c))
    ns.spec = spec
    return ns
