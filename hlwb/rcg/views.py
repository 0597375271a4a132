"""RCG views: a representation-conditioned generator is itself a view generator.

Step i of :class:`RCGViews` draws B representations from the RDM (samples ``i*B .. i*B+B-1`` of
its seed: continuous sampling, nothing real is used) and renders each one twice, from two
independent generator noises: anchor and positive share the representation and differ in
everything the representation leaves free. Then the study's T_x augments both. So the
"semantic" part of a pair is what the encoder's representation space holds, and the nuisance
part is what the generator's noise holds (docs/methods.md §7b).

The shipped models (``hlwb/checkpoints/rcg_*.pt``): the encoder whose representations they live
in, the RDM over them, and the generator conditioned on them. :func:`shipped_path` names them.
The shipped encoder is the study's ``real`` arm's seed-0 SimCLR run, one of the runs the ``rcg``
arm is compared with, so rcg vs real is partly a distillation of that encoder:
:func:`representation_space` reads a generator's space from its file and :func:`distillation`
says when it is one of the compared runs.

Importing this module (``import hlwb.rcg`` does) registers the ``rcg`` view strategy in
:data:`hlwb.views.STRATEGIES`: :func:`hlwb.views.make_source` builds it with :func:`build_rcg_source`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from torch import Tensor

from .. import amp, checkpoint
from .. import latents as L
from ..views import (
    GENERATED,
    Strategy,
    ViewRequest,
    ViewSource,
    augment_pair,
    augmentation,
    finish_generated,
    register,
)
from .generator import load_rep_generator
from .rdm import load_rdm
from .space import standardize

SHIPPED = {"encoder": "rcg_encoder.pt", "rdm": "rcg_rdm.pt", "generator": "rcg_generator.pt",
           "class_generator": "rcg_class_generator.pt", "posterior_generator": "rcg_posterior_generator.pt",
           "unconditional_generator": "rcg_unconditional_generator.pt"}


def shipped_path(name: str) -> Path:
    """The file of a shipped RCG model: ``encoder``, ``rdm``, ``generator``, ``class_generator``,
    ``posterior_generator`` or ``unconditional_generator`` (the null vector always, at the others'
    steps and batch: ``train-rep-generator --condition none``; not every checkout ships it)."""
    if name not in SHIPPED:
        raise KeyError(f"no shipped RCG model {name!r}; shipped: {', '.join(SHIPPED)}")
    return Path(str(resources.files("hlwb") / "checkpoints" / SHIPPED[name]))


def representation_space(gen) -> dict:
    """The representation space a generator is conditioned in, as its file records it
    (``meta["source"]``): ``encoder_sha256`` and the encoder's run (``method``, ``arm``, ``seed``, ...;
    absent keys where the file does not record them)."""
    source = getattr(gen, "meta", {}).get("source", {})
    return {"encoder_sha256": source.get("encoder_sha256"), **source.get("encoder_meta", {})}


def distillation(space: dict, method: str, seeds_by_arm: dict[str, tuple[int, ...]]) -> str:
    """A sentence when the encoder of ``space`` (:func:`representation_space`) is one of the compared
    runs (its ``method`` and an arm of ``seeds_by_arm`` with its seed), else ``""``: comparing views
    generated in that space with that arm is then partly a distillation of its encoder."""
    arm, seed = space.get("arm"), space.get("seed")
    if space.get("method") != method or arm not in seeds_by_arm or seed not in seeds_by_arm[arm]:
        return ""
    return (f"distillation: the representation space is the {arm!r} arm's seed-{seed} {method} encoder, one of the "
            f"compared runs; rcg vs {arm} partly measures that encoder (a dedicated encoder, a seed outside "
            f"{sorted(seeds_by_arm[arm])}, would separate them)")


class RCGViews(ViewSource):
    """Pairs rendered from one RDM representation under two generator noises (float32, on device).

    Args:
        gen: a :class:`hlwb.rcg.RepConditionedGenerator` (eval mode is set here).
        rdm: a :class:`hlwb.rcg.RepresentationDiffusion` over the generator's representation space.
        augment: the T_x module applied to both views (:func:`hlwb.views.augmentation`).
        rdm_steps: DDIM steps per representation draw; guidance: the generator's classifier-free guidance
            scale, on the conditioning (:meth:`hlwb.rcg.RepConditionedGenerator.condition`).
        precision: the generator's decode (:mod:`hlwb.amp`); the RDM samples in float32.
    """

    def __init__(self, gen, rdm, batch: int, augment, seed: int = 0, rdm_steps: int = 25,
                 guidance: float = 0.0, decode_chunk: int | None = None, precision: str = "fp32"):
        self.gen, self.rdm, self.batch, self.aug = gen.eval(), rdm.eval(), batch, augment
        self.image_spec = gen.spec.image()
        self.walker = None  # (FixedViews keeps its source's walker; a pair here needs none)
        self.seed, self.rdm_steps, self.guidance, self.decode_chunk = seed, rdm_steps, guidance, decode_chunk
        self.precision = amp.check(precision)
        amp.prepare(self.gen, precision)

    def reps_at(self, step: int) -> Tensor:
        """The B standardised representations of step ``step`` (B, d)."""
        r = self.rdm.sample(self.batch, seed=self.seed, steps=self.rdm_steps, start=step * self.batch)
        return standardize(r).to(self.gen.device)

    @torch.no_grad()
    def pair_at(self, step: int) -> tuple[Tensor, Tensor]:
        """Un-augmented (anchor, positive) images of step ``step``: one representation, two noises."""
        r = self.reps_at(step)
        z1 = self.gen.sample_latents(self.batch, seed=self.seed, start=step * self.batch)
        z2 = self.gen.sample_latents(self.batch, seed=L.row_seed(self.seed, step, L.NOISE))
        both = [torch.cat([a, b]) for a, b in zip(z1, z2)]
        rr = torch.cat([r, r])
        chunk = self.decode_chunk or 2 * self.batch
        out = []
        with amp.autocast(self.precision, self.gen.device):
            for i in range(0, 2 * self.batch, chunk):
                out.append(torch.tanh(self.gen.guided([t[i:i + chunk] for t in both], rr[i:i + chunk], self.guidance)))
        x = torch.cat(out).float().contiguous()
        return x[:self.batch], x[self.batch:]

    def batch_at(self, step: int) -> tuple[Tensor, Tensor]:
        x1, x2 = self.pair_at(step)
        return augment_pair(self.aug, x1, x2, L.row_seed(self.seed, step, L.RESAMPLE))


def build_rcg_source(req: ViewRequest) -> ViewSource:
    """The ``rcg`` strategy of :func:`hlwb.views.make_source`: views of the shipped RCG models, at
    :class:`RCGViews`' default DDIM steps and guidance (both in the record); ``req.generator`` is not used."""
    paths = {k: shipped_path(k) for k in ("generator", "rdm")}
    for name, path in paths.items():
        if not path.exists():
            raise FileNotFoundError(f"view strategy 'rcg' needs the shipped RCG {name} {path}; "
                                    f"restore it with `git checkout -- {path.parent}`")
    gen, rdm = load_rep_generator(paths["generator"], device=req.device), load_rdm(paths["rdm"], device=req.device)
    if gen.rep_dim != rdm.dim:
        raise ValueError(f"the shipped RCG generator is conditioned on {gen.rep_dim}-d representations but the "
                         f"RDM generates {rdm.dim}-d ones: they must come from the same encoder")
    req.require_spec(gen.spec, "the shipped RCG generator")
    src = RCGViews(gen, rdm, req.batch, augmentation(req.preset, gen.spec), seed=req.stream_seed,
                   decode_chunk=req.decode_chunk, precision=req.precision)
    req.record.update(generator="rcg", generator_sha256=checkpoint.file_sha256(paths["generator"]),
                      rdm_sha256=checkpoint.file_sha256(paths["rdm"]), rdm_steps=src.rdm_steps, guidance=src.guidance,
                      sampling=req.sampling, walker="RCGViews", representation_space=representation_space(gen))
    return finish_generated(src, req)


register(Strategy("rcg", build_rcg_source, tuple(p for p in GENERATED if p != "generator"),
                  "two renderings of one RDM representation by the shipped RCG generator (two noises)", "no_color"))
