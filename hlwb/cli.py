"""``python -m hlwb``: the command line, one small function per command over the library.

Each command is a row of :data:`COMMANDS`: its one-line help, a function adding its flags (every
flag with help text, its choices and its default) and a function running it. A command that writes
files ends with one line per output saying where it is and the command that scores or uses it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .views import DEFAULT_DATASET  # --dataset's default: the data the shipped models were trained on

DESCRIPTION = """hlwb: hierarchical-latent generators as view generators for contrastive learning.

`python -m hlwb COMMAND --help` shows a command's flags, each with its default. The docs/methods.md
of the repository says what each command measures."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks; appends ``(default: X)`` to every flag that has a default
    its help does not already state (a ``None`` or empty default: the help says what happens)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (not action.option_strings or action.required or d in (None, "", argparse.SUPPRESS) or "(default" in text
                or isinstance(action, (argparse._StoreTrueAction, argparse._HelpAction))):
            return text
        return f"{text} (default: %(default)s)"


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


TYPES = {"int": int, "float": float, "str": str, "bool": _bool}
SHIPPED_ORACLE_DATASET = DEFAULT_DATASET  # the shipped oracle's data: eval-generator needs --oracle for any other

# help of the training-config fields that carry no comment in their dataclass (GANConfig, OracleConfig,
# RDMConfig, RepGANConfig): the same words for the same setting in every command
COMMON_HELP = {
    "family": "generator family (hlwb.generators.GENERATORS)",
    "steps": "optimiser steps", "epochs": "passes over the train split", "batch": "images per step",
    "lr": "learning rate", "lr_g": "generator learning rate (Adam)", "lr_d": "discriminator learning rate (Adam)",
    "beta1": "Adam beta1", "beta2": "Adam beta2", "weight_decay": "the optimiser's weight decay",
    "width": "network base width (channels)", "g_ch": "generator base width", "d_ch": "discriminator width",
    "chunk_dim": "width of each latent chunk", "rep_dim": "representation width (the encoder's feature width)",
    "ema": "EMA decay of the generator's weights", "ema_start": "steps before the EMA starts tracking",
    "seed": "seed of every random draw (initialisation, data order, sampling)",
    "ckpt_every": "steps between resumable checkpoints",
}


def _field_help(cls) -> dict[str, str]:
    """The comment after each field of dataclass ``cls`` in its source (the parameters cell's help)."""
    import inspect
    import re

    fields = re.finditer(r"^    (\w+): \w+ = .*?  # (.*)$", inspect.getsource(cls), re.MULTILINE)
    return {m[1]: m[2].strip() for m in fields}


def _add_dataclass_args(p: argparse.ArgumentParser, cls, skip: tuple[str, ...] = (),
                        extra: dict[str, dict] | None = None) -> None:
    """One flag per field of dataclass ``cls`` with the field's comment as help and its default."""
    helps = {**COMMON_HELP, **_field_help(cls)}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kw = {"type": TYPES[f.type if isinstance(f.type, str) else f.type.__name__], "default": f.default,
              "help": helps.get(f.name, f.name.replace("_", " ")).replace("%", "%%"), **(extra or {}).get(f.name, {})}
        p.add_argument("--" + f.name.replace("_", "-"), **kw)


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU; under torchrun the "
                   "rank's GPU: nccl), cpu (gloo), cuda or cuda:N")


def _json_arg(p: argparse.ArgumentParser, what: str = "the result") -> None:
    p.add_argument("--json", default=None, help=f"also write {what} to this JSON file (default: print only)")


def _dataset_help(what: str) -> str:
    from .data import names

    return f"{what}: one of {', '.join(names())}, or folder:PATH (hlwb.data)"


def _training_args(p: argparse.ArgumentParser, out_help: str) -> None:
    """--out, --work-dir and --device of a command that trains and writes one model file."""
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--work-dir", default=None, help="resumable training state (default: OUT.work)")
    _device_arg(p)


def _from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def _cmd(*words: str | Path) -> str:
    """A shell command line, each word quoted where it needs it."""
    return " ".join(shlex.quote(str(w)) for w in words)


def _outputs(*rows: tuple[str, str | Path], then: str = "") -> None:
    """The closing lines of a command that wrote files: where each output is, then what to run next."""
    for what, path in rows:
        print(f"{what}: {path}")
    if then:
        print(then)


# --- train-generator, train-oracle ---------------------------------------------------------------

def _gan_args(p: argparse.ArgumentParser) -> None:
    from .generators import GENERATORS
    from .generators.training import GANConfig

    _add_dataclass_args(p, GANConfig, extra={"family": {"help": f"generator family: one of {', '.join(GENERATORS)}"},
                                             "dataset": {"help": _dataset_help("the real images")}})
    _training_args(p, "generator checkpoint to write (.pt)")


def _gan_run(args: argparse.Namespace) -> None:
    from .generators import GENERATORS
    from .generators.training import GANConfig, train_gan

    if args.family not in GENERATORS:
        raise KeyError(f"--family {args.family!r} unknown; valid: {', '.join(sorted(GENERATORS))}")
    cfg = _from_args(GANConfig, args)
    train_gan(cfg, args.out, args.work_dir, device=args.device)
    oracle = () if cfg.dataset == SHIPPED_ORACLE_DATASET else ("--oracle", "ORACLE.pt")
    _outputs(("generator", args.out), then="score it: " + _cmd("python", "-m", "hlwb", "eval-generator", args.out,
                                                              "--dataset", cfg.dataset, *oracle)
             + (f"  (ORACLE.pt: python -m hlwb train-oracle --dataset {cfg.dataset} --out ORACLE.pt)" if oracle else ""))


def _oracle_args(p: argparse.ArgumentParser) -> None:
    from .oracle import OracleConfig

    _add_dataclass_args(p, OracleConfig, extra={"dataset": {"help": _dataset_help("a labelled dataset with train "
                                                                                  "and test splits")}})
    _training_args(p, "oracle checkpoint to write (.pt)")


def _oracle_run(args: argparse.Namespace) -> None:
    from .oracle import OracleConfig, train_oracle

    cfg = _from_args(OracleConfig, args)
    acc = train_oracle(cfg, args.out, args.work_dir, device=args.device)
    _outputs(("oracle", f"{args.out} (test accuracy {100 * acc:.2f} %)"),
             then="score a generator of that dataset with it: " + _cmd(
                 "python", "-m", "hlwb", "eval-generator", "GENERATOR.pt", "--dataset", cfg.dataset, "--oracle", args.out))


# --- train-rdm, train-rep-generator (RCG) --------------------------------------------------------

def _rdm_args(p: argparse.ArgumentParser) -> None:
    from .rcg import RDMConfig

    _add_dataclass_args(p, RDMConfig)
    p.add_argument("--encoder", required=True, help="encoder.pt whose train representations of --dataset it models")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=_dataset_help("the train images the encoder represents (its spec must be the encoder's)"))
    p.add_argument("--sampler-only", action="store_true",
                   help="write only the EMA weights in float16 (a shipped sampler: ~1/4 of the full file; "
                        "the work dir keeps the resumable state)")
    _training_args(p, "RDM file to write (.pt)")


def _rdm_run(args: argparse.Namespace) -> None:
    from .rcg import RDMConfig
    from .rcg.commands import train_rdm_command

    out = train_rdm_command(args.encoder, args.out, _from_args(RDMConfig, args), args.work_dir, args.device,
                            sampler_only=args.sampler_only, dataset=args.dataset)
    _outputs(("RDM", out), then="condition a generator on its samples: " + _cmd(
        "python", "-m", "hlwb", "train-rep-generator", "--encoder", args.encoder, "--condition", "posterior",
        "--rdm", out, "--out", "GENERATOR.pt"))


def _rep_gan_args(p: argparse.ArgumentParser) -> None:
    from .rcg import RepGANConfig

    _add_dataclass_args(p, RepGANConfig)
    p.add_argument("--encoder", required=True, help="encoder.pt whose representations condition the generator")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=_dataset_help(
        "the train images (and their representations) it learns from; the encoder's spec"))
    p.add_argument("--init", default="", help="an unconditional generator of the same size to start from, e.g. "
                   "biggan (default: random initialisation)")
    p.add_argument("--condition", default="representation", choices=("representation", "class", "posterior", "none"),
                   help="each image's own representation (RCG), its class prototype (the class-conditional row), "
                        "a draw of the contrastive-softmax posterior (--posterior-*), or none (the null vector "
                        "always: the unconditional row at the conditioned rows' steps and batch)")
    p.add_argument("--posterior-prior", default="rdm", choices=("rdm", "sphere"), help="posterior only: the dictionary's prior")
    p.add_argument("--posterior-k", type=int, default=128, help="posterior only: dictionary size K")
    p.add_argument("--posterior-t", type=float, default=0.1, help="posterior only: softmax temperature T")
    p.add_argument("--posterior-dicts", type=int, default=64, help="posterior only: training dictionaries")
    p.add_argument("--rdm", default="", help="posterior with the rdm prior: the RDM file, written by train-rdm (default: none)")
    _training_args(p, "generator file to write (.pt)")


def _rep_gan_run(args: argparse.Namespace) -> None:
    from .rcg import RepGANConfig
    from .rcg.commands import train_rep_generator_command

    posterior = ({"prior": args.posterior_prior, "K": args.posterior_k, "T": args.posterior_t,
                  "n_dicts": args.posterior_dicts, "rdm": args.rdm} if args.condition == "posterior" else None)
    out = train_rep_generator_command(args.encoder, args.out, _from_args(RepGANConfig, args), args.work_dir,
                                      init=args.init, device=args.device, condition=args.condition,
                                      posterior=posterior, dataset=args.dataset)
    _outputs(("generator", out), then="its views in a pretraining run: " + _cmd(
        "python", "-m", "hlwb", "pretrain", "--strategy", "rcg", "--work-dir", "WORK"))


# --- pretrain ------------------------------------------------------------------------------------

NOTEBOOK_ONLY = ("run_dir", "figures_dir", "arm")  # PretrainParams fields of notebook 05's outputs, not of a run
WARMUP_SHARE = 10  # without --warmup: at most a tenth of the steps warm up (the default's share at the laptop budget)


def _strategies_epilog() -> str:
    """Every registered view strategy with its help line and paper T_x (hlwb.views.STRATEGIES)."""
    from . import rcg  # noqa: F401  (importing hlwb.rcg registers the "rcg" view strategy)
    from .views import STRATEGIES

    width = max(map(len, STRATEGIES))
    lines = [f"  {n:<{width}}  {s.help} [paper T_x: {s.paper_preset}"
             + "".join(f"; needs --{k.replace('_', '-')}" for k in s.needs) + "]" for n, s in STRATEGIES.items()]
    return "view strategies (--strategy; --augment fair: one T_x for all, paper: each its own):\n" + "\n".join(lines)


def _pretrain_args(p: argparse.ArgumentParser) -> None:
    """The flags of ``pretrain``: the run settings of notebook 05 (:class:`hlwb.config.PretrainParams`),
    one set of defaults, without the notebook's output folders."""
    from . import rcg  # noqa: F401  (registers the "rcg" view strategy)
    from .config import PretrainParams
    from .generators import GENERATORS
    from .ssl import METHODS
    from .views import STRATEGIES

    helps = _field_help(PretrainParams)
    default_warmup = PretrainParams.__dataclass_fields__["warmup"].default
    extra = {
        "strategy": {"choices": list(STRATEGIES), "metavar": "STRATEGY",
                     "help": f"view strategy: one of {', '.join(STRATEGIES)} (each explained below)"},
        "method": {"choices": list(METHODS)},
        "augment": {"choices": ("fair", "paper")}, "sampling": {"choices": ("continuous", "fixed")},
        "hl_rule": {"choices": ("paper", "delta")}, "precision": {"choices": ("auto", "fp32", "bf16")},
        "knn_split": {"choices": ("val", "test")},
        "dataset": {"help": _dataset_help("the real images (views and the kNN monitor)")},
        "generator": {"help": f"generated strategies: a shipped generator ({', '.join(GENERATORS)}) or a "
                              "checkpoint path"},
        "warmup": {"default": None, "help": f"linear warm-up steps, then cosine decay (default: min({default_warmup}, "
                                            f"steps // {WARMUP_SHARE}): scaled to --steps); < --steps"},
    }
    for f in dataclasses.fields(PretrainParams):
        if f.name in NOTEBOOK_ONLY:
            continue
        kw = {"type": TYPES[f.type if isinstance(f.type, str) else f.type.__name__], "default": f.default,
              "help": helps.get(f.name, "").replace("%", "%%"), **extra.get(f.name, {})}
        p.add_argument("--" + f.name.replace("_", "-"), **kw)
    p.add_argument("--work-dir", required=True, help="checkpoint, log and encoder go here")


def pretrain_params(args: argparse.Namespace):
    """The :class:`hlwb.config.PretrainParams` of a ``pretrain`` command line: paths given are the
    current directory's; without ``--warmup`` the warm-up is ``min(default, steps // 10)``."""
    from .config import PretrainParams, from_params

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(PretrainParams) if f.name not in NOTEBOOK_ONLY}
    defaults = PretrainParams.__dataclass_fields__
    if given["warmup"] is None:  # scaled to the run's length: --steps 20 warms up 2 steps, not the default's 50
        given["warmup"] = min(defaults["warmup"].default, given["steps"] // WARMUP_SHARE)
    for k in ("hl_sigmas_file", "walkers_dir"):  # a path given on the command line: the current directory's
        if given[k] != defaults[k].default:
            given[k] = str(Path(given[k]).resolve())
    return from_params(PretrainParams, given)


def _pretrain_run(args: argparse.Namespace) -> None:
    from . import devices, distributed, fingerprint
    from .checkpoint import atomic_write_json
    from .encoders import save_encoder
    from .pretrain import config_dict, pretrain, run_source, settings

    params = pretrain_params(args)
    dev = devices.resolve(params.device)  # under torchrun: "auto" is the rank's GPU (LOCAL_RANK)
    cfg = settings(params, dev)  # "auto" precision: bf16 where it is native, else fp32
    info = distributed.init_from_env(dev)  # torchrun: one process per rank; nccl on CUDA, gloo on CPU
    try:
        if not info.is_main:  # rank 0 speaks for the run
            logging.getLogger().setLevel(logging.WARNING)
        src = run_source(params, dev, rank=info.rank)
        logging.getLogger(__name__).info("pretrain on %s", devices.describe(dev))
        method, _ = pretrain(src, cfg, args.work_dir, device=dev)
        if not info.is_main:
            return
        work, run = Path(args.work_dir), config_dict(cfg)
        views = {k: getattr(params, k) for k in ("strategy", "augment", "generator", "sampling")}
        hist = method.run_meta.get("history", [])
        save_encoder(work / "encoder.pt", method.encoder, meta={
            "method": cfg.method, **views, "seed": cfg.seed, "pretrain": run, "views": method.run_meta.get("views"),
            "history": hist, "world_size": info.world_size, "device": str(dev), "precision": cfg.precision,
            "machine": fingerprint.machine()})
        atomic_write_json(work / "config.json", {**run, **views, "world_size": info.world_size, "history": hist,
                                                 "device": str(dev)})
    finally:
        distributed.cleanup()
    _outputs(("encoder", work / "encoder.pt"), ("settings and kNN history", work / "config.json"),
             ("training log", work / "log.jsonl"),
             then="score it: " + _cmd("python", "-m", "hlwb", "calibrate", work / "encoder.pt", "--dataset",
                                      params.dataset))


# --- eval-generator, calibrate, bench --------------------------------------------------------------

def _print_json(res: dict, path: str | None) -> None:
    print(json.dumps(res, indent=2))
    if path:
        from .checkpoint import atomic_write_json

        atomic_write_json(path, res)
        print(f"written to {path}")


def _eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("generator", help="a shipped generator (biggan, stylegan) or a checkpoint path")
    p.add_argument("--n", type=int, default=10_000, help="samples")
    p.add_argument("--anchors", type=int, default=1000, help="anchors for the chunk table")
    _device_arg(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and anchors")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=_dataset_help(
        "the real data FD_oracle compares against (the generator's spec must be its)"))
    p.add_argument("--oracle", default="", help="oracle file trained on --dataset, written by train-oracle "
                   "(default: the shipped Fashion-MNIST one)")
    _json_arg(p)


def _eval_run(args: argparse.Namespace) -> None:
    from .quality import evaluate_generator

    _print_json(evaluate_generator(args.generator, n=args.n, n_anchors=args.anchors, seed=args.seed, device=args.device,
                                   dataset=args.dataset, oracle=args.oracle or None), args.json)


def _calibrate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("encoders", nargs="+", help="encoder.pt files (from pretrain or notebook 05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the probe's held-out split and the random trunk")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=_dataset_help(
        "labelled dataset whose full train / test splits score the encoders"))
    p.add_argument("--image-size", type=int, default=0, help="its side in px (0: the dataset's own)")
    _device_arg(p)
    _json_arg(p, "the table")


def _calibrate_run(args: argparse.Namespace) -> None:
    from .calibration import calibrate_encoders
    from .targets import in_domain

    _print_json(calibrate_encoders(args.encoders, seed=args.seed, device=args.device,
                                   target=in_domain(args.dataset, seed=args.seed, size=args.image_size or None)),
                args.json)


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("explorer", "views", "step"),
                   help="explorer: slider change -> image latency; views: real vs generated view pairs/s and step cost; "
                        "step: where a pretraining step's time goes (decode, augmentation, forward, backward, "
                        "optimiser, kNN evaluation)")
    p.add_argument("--n", type=int, default=50, help="repetitions")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="views only: precision (hlwb.amp)")
    p.add_argument("--batch", type=int, default=128, help="views and step only: pairs per batch")
    p.add_argument("--width", type=int, default=16, help="views and step only: trunk width of the timed training step")
    _device_arg(p)
    _json_arg(p)


def _bench_run(args: argparse.Namespace) -> None:
    from .bench import BENCHES

    if args.what not in BENCHES:
        raise KeyError(f"unknown benchmark {args.what!r}; valid: {', '.join(BENCHES)}")
    if args.what not in ("views", "step") and args.precision != "fp32":
        raise ValueError(f"--precision is a setting of `bench views`, not of `bench {args.what}`")
    if args.what not in ("views", "step") and args.device != "auto":
        raise ValueError(f"--device is a setting of `bench views`, not (yet) of `bench {args.what}`")
    if args.what not in ("views", "step") and (args.batch, args.width) != (128, 16):
        raise ValueError(f"--batch and --width are settings of `bench views` and `bench step`, not of `bench {args.what}`")
    for flag in ("batch", "width"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag} {getattr(args, flag)}: must be a positive integer")
    _print_json(BENCHES[args.what](args.n, **({"precision": args.precision, "device": args.device,
                                               "batch": args.batch, "width": args.width}
                                              if args.what in ("views", "step") else {})), args.json)


# --- pipeline, publish, download-data --------------------------------------------------------------

def _pipeline_args(p: argparse.ArgumentParser) -> None:
    from .config import PROFILES

    p.add_argument("--profile", default="laptop", choices=list(PROFILES),
                   help="smoke: every code path on tiny data, minutes; smoke_color: the same on the offline colour "
                        "set; laptop, laptop_side, laptop_deep: the published study in three parts, about two hours "
                        "each on a laptop; gpu: CIFAR-10. --plan prints a profile's stages and minutes")
    p.add_argument("--only", default=None, help="run only this stage, e.g. 01_hl_generator (default: every stage "
                   "of the profile)")
    p.add_argument("--out", default=None, help="run directory (default: runs/PROFILE; relative: to the current "
                   "directory); nothing is written outside it (`publish` copies a run into the repository)")
    p.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    p.add_argument("--jobs", type=int, default=1, help="sweep runs side by side, one thread each")
    p.add_argument("--plan", action="store_true", help="print every stage and run of the profile with its estimated "
                   "cost, and train nothing")
    p.add_argument("--generator", default=None, metavar="FILE", help="a checkpoint of your own generator (saved with "
                   "hlwb.generators.save; its module named by --generator-module) used by stages 02-05 instead of "
                   "the profile's; recorded in the run folder (default: the profile's generators)")


def _pipeline_run(args: argparse.Namespace) -> None:
    from .pipeline import run_folder, run_pipeline
    from .report import shown

    if args.plan:
        from .planning import describe

        print(describe(args.profile, args.out))
        return
    run_pipeline(args.profile, out=args.out, only=args.only, force=args.force, jobs=args.jobs, generator=args.generator)
    out = run_folder(args.profile, args.out)
    _outputs(("report", shown(out / "report.md")), ("every result, one table", shown(out / "summary.md")),
             ("numbers", shown(out / f"results_{args.profile}.json")),
             then=f"publish it into {_published_into(args.profile)}: "
                  f"{_cmd('python', '-m', 'hlwb', 'publish', '--run', shown(out))}")


def _published_into(profile: str) -> str:
    from .pipeline import SIDE_PROFILES

    return f"figures/{profile}/ and figures/results_{profile}.json" if profile in SIDE_PROFILES else "notebooks/ and figures/"


def _publish_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", default=None, help="run directory (default: runs/laptop; relative: to the current directory)")
    p.add_argument("--force", action="store_true", help="publish a run whose numbers another commit (or other code) "
                   "made; the files it replaces are named")


def _publish_run(args: argparse.Namespace) -> None:
    from .config import REPO_ROOT
    from .pipeline import publish_run
    from .report import shown

    run = Path(args.run).resolve() if args.run else REPO_ROOT / "runs" / "laptop"
    written = publish_run(run, force=args.force)
    folders: dict[str, int] = {}
    for path in written:
        folders[shown(Path(path).parent)] = folders.get(shown(Path(path).parent), 0) + 1
    print(f"published {len(written)} files of {shown(run)}: " + ", ".join(f"{d}/ ({n})" for d, n in folders.items()))
    print(f"which run and files: {shown(written[-1])}; see them: git status --short notebooks figures")


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=_dataset_help("the dataset to fetch"))


def _download_run(args: argparse.Namespace) -> None:
    from .data import MIRROR, download, search_dirs

    try:
        print(download(args.dataset))  # the other datasets turn network errors into a DataError
    except OSError as e:  # Fashion-MNIST: no network (urllib's URLError is an OSError), refused, timed out
        looked = "\n  ".join(str(d) for d in search_dirs())
        raise RuntimeError(
            f"cannot download Fashion-MNIST from {MIRROR} ({getattr(e, 'reason', e)}). hlwb looked for "
            f"the four IDX files in:\n  {looked}\nInstall them with one of:\n"
            "  apt-get install dataset-fashion-mnist        (Debian/Ubuntu)\n"
            "  put the four .gz files in $HLWB_DATA/fashion-mnist\n"
            "  python -m hlwb download-data                 (again, with network)") from None


# --- the table of commands -------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    help: str                                            # its line in `python -m hlwb --help`
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]
    dir_flag: str = "--work-dir"                         # the option naming the directory a lock refuses
    aliases: tuple[str, ...] = ()
    epilog: Callable[[], str] | None = None
    own_generators: bool = False  # takes --generator-module: generator families of the user's (docs/own_generator.md)


COMMANDS: dict[str, Command] = {
    "train-generator": Command("train an HL generator (resumable) and write its checkpoint", _gan_args, _gan_run,
                               own_generators=True),
    "train-oracle": Command("train the supervised oracle classifier", _oracle_args, _oracle_run),
    "train-rdm": Command("RCG: a diffusion model over an encoder's representations (resumable)", _rdm_args, _rdm_run),
    "train-rep-generator": Command("RCG: a representation-conditioned HL generator (resumable)", _rep_gan_args,
                                   _rep_gan_run),
    "pretrain": Command("one contrastive pretraining run on real or generated views (resumable)", _pretrain_args,
                        _pretrain_run, epilog=_strategies_epilog, own_generators=True),
    "eval-generator": Command("FD_oracle, class histogram and per-chunk agreement of a generator", _eval_args, _eval_run,
                              own_generators=True),
    "calibrate": Command("score encoders against raw pixels and a random trunk on a dataset's full splits",
                         _calibrate_args, _calibrate_run),
    "bench": Command("benchmarks: explorer slider latency, view-source throughput", _bench_args, _bench_run,
                     own_generators=True),
    "pipeline": Command("run the notebooks headless in a profile (writes only under --out)", _pipeline_args,
                        _pipeline_run, dir_flag="--out", own_generators=True),
    "publish": Command("copy a finished run into the repository: notebooks, figures, results, report", _publish_args,
                       _publish_run, dir_flag="--run", aliases=("publish-notebooks",)),
    "download-data": Command("fetch a dataset into the user cache (SHA-256 checked)", _download_args, _download_run),
}
DESCRIPTIONS = {"pretrain": "One contrastive pretraining run: notebook 05's settings and defaults "
                            "(hlwb.config.PretrainParams). Relative --hl-sigmas-file / --walkers-dir you give are "
                            "the current directory's; their defaults, the repository's laptop run."}


def parser() -> argparse.ArgumentParser:
    """The parser of ``python -m hlwb``: one sub-parser per row of :data:`COMMANDS`."""
    ap = argparse.ArgumentParser(prog="python -m hlwb", description=DESCRIPTION, formatter_class=_Formatter)
    sub = ap.add_subparsers(dest="cmd", required=True, title="commands", metavar="COMMAND")
    for name, c in COMMANDS.items():
        p = sub.add_parser(name, aliases=list(c.aliases), help=c.help, formatter_class=_Formatter,
                           description=DESCRIPTIONS.get(name, c.help[0].upper() + c.help[1:] + "."),
                           epilog=c.epilog() if c.epilog else None)
        c.add_args(p)
        if c.own_generators:
            from .generators.modules import add_flag

            add_flag(p)  # --generator-module: a generator family of your own (docs/own_generator.md)
    return ap


def os_error_message(e: OSError) -> str:
    """One line for a filesystem error: what failed on which path, and what to do."""
    import errno

    where = f" {e.filename}" if e.filename else ""
    hint = {errno.EROFS: "the file system is read-only: choose a writable --out / --work-dir",
            errno.EACCES: "permission denied: choose a directory you can write, or fix its permissions",
            errno.ENOSPC: "the disk is full: free space (nothing was half-written: writes are atomic) and run again",
            errno.ENOTDIR: "a path component is a file, not a directory: choose another path",
            errno.EISDIR: "a directory stands where a file should be: choose another path",
            errno.EEXIST: "a file stands where a directory should be: choose another path"}.get(e.errno, "")
    return f"cannot use{where}: {e.strerror or e}" + (f" — {hint}" if hint else "")


def command(name: str) -> Command:
    """The row of :data:`COMMANDS` of ``name`` or of one of its aliases."""
    return COMMANDS.get(name) or next(c for c in COMMANDS.values() if name in c.aliases)


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 2 with one line on stderr for a refused input or a failed file."""
    args = parser().parse_args(argv)
    from .progress import setup_logging

    setup_logging()
    cmd = command(args.cmd)
    try:
        from .ranges import check_flags

        check_flags(args.cmd, vars(args))  # the explicit numeric flags; dataclass flags: their __post_init__
        from .generators.modules import use_flags

        use_flags(args)  # the modules of your own generator families, named by --generator-module
        cmd.run(args)
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        from .lock import LockedError

        if isinstance(e, LockedError) and e.flag is None:  # name this command's option for the directory
            msg = e.with_flag(cmd.dir_flag)
        print(f"hlwb {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:  # read-only, not a directory, disk full: the file and what to do, no traceback
        print(f"hlwb {args.cmd}: error: {os_error_message(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
