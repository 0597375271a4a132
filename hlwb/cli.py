"""``python -m hlwb``: the command line (thin wrappers over the library).

    train-generator   train an HL generator (resumable) and write its checkpoint
    train-oracle      train the supervised oracle classifier
    train-rdm         RCG: a diffusion model over an encoder's representations
    train-rep-generator  RCG: a representation-conditioned HL generator
    pretrain          one contrastive pretraining run on real or generated views
    eval-generator    FD_oracle, class histogram and per-chunk agreement of a generator
    calibrate         encoders vs raw pixels and a random trunk, a dataset's full splits
    bench             benchmarks (explorer latency, view throughput)
    pipeline          run the notebooks through papermill in a profile (writes only under --out)
    publish           copy a finished run into the repository: notebooks, figures, results, report
    download-data     fetch a dataset (--dataset, default fashion_mnist) into the user cache (SHA-256 checked)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path


def _add_dataclass_args(p: argparse.ArgumentParser, cls) -> None:
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        typ = {"int": int, "float": float, "str": str, "bool": _bool}[f.type if isinstance(f.type, str)
                                                                      else f.type.__name__]
        p.add_argument(flag, type=typ, default=f.default, help=f"(default: {f.default})")


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when available, else CPU; under torchrun the "
                   "rank's GPU: nccl), cpu (gloo), cuda or cuda:N")


def _training_args(p: argparse.ArgumentParser, out_help: str) -> None:
    """--out, --work-dir and --device of a command that trains and writes one model file."""
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--work-dir", default=None, help="resumable training state (default: OUT.work)")
    _device_arg(p)


NOTEBOOK_ONLY = ("run_dir", "figures_dir", "arm")  # PretrainParams fields of notebook 05's outputs, not of a run


def _field_help(cls) -> dict[str, str]:
    """The comment after each field of dataclass ``cls`` in its source (the parameters cell's help)."""
    import inspect
    import re

    fields = re.finditer(r"^    (\w+): \w+ = .*?  # (.*)$", inspect.getsource(cls), re.MULTILINE)
    return {m[1]: m[2].strip() for m in fields}


def _strategies_epilog() -> str:
    """Every registered view strategy with its help line and paper T_x (hlwb.views.STRATEGIES)."""
    from . import rcg  # noqa: F401  (importing hlwb.rcg registers the "rcg" view strategy)
    from .views import STRATEGIES

    width = max(map(len, STRATEGIES))
    lines = [f"  {n:<{width}}  {s.help} [paper T_x: {s.paper_preset}"
             + "".join(f"; needs --{k.replace('_', '-')}" for k in s.needs) + "]" for n, s in STRATEGIES.items()]
    return "view strategies (--strategy; --augment fair: one T_x for all, paper: each its own):\n" + "\n".join(lines)


def _add_pretrain_args(p: argparse.ArgumentParser) -> None:
    """The flags of ``pretrain``: the run settings of notebook 05 (:class:`hlwb.config.PretrainParams`),
    one set of defaults, without the notebook's output folders."""
    from .config import PretrainParams
    from .ssl import METHODS
    from .views import STRATEGIES

    helps = _field_help(PretrainParams)
    for f in dataclasses.fields(PretrainParams):
        if f.name in NOTEBOOK_ONLY:
            continue
        typ = {"int": int, "float": float, "str": str, "bool": _bool}[f.type if isinstance(f.type, str) else f.type.__name__]
        extra = {"strategy": {"choices": list(STRATEGIES), "metavar": "STRATEGY"},
                 "method": {"choices": list(METHODS)}}.get(f.name, {})
        p.add_argument("--" + f.name.replace("_", "-"), type=typ, default=f.default,
                       help=f"{helps.get(f.name, '')} (default: {f.default})".replace("%", "%%"), **extra)


def _bool(s: str) -> bool:
    if s.lower() in ("1", "true", "yes"):
        return True
    if s.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {s!r}")


def _from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


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


def main(argv: list[str] | None = None) -> int:
    from .generators import GENERATORS
    from .generators.training import GANConfig
    from .oracle import OracleConfig
    from .rcg import RDMConfig, RepGANConfig

    ap = argparse.ArgumentParser(prog="python -m hlwb", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("train-generator", help="train an HL generator")
    _add_dataclass_args(p, GANConfig)
    _training_args(p, "generator checkpoint to write (.pt)")

    p = sub.add_parser("train-oracle", help="train the oracle classifier")
    _add_dataclass_args(p, OracleConfig)
    _training_args(p, "oracle checkpoint to write (.pt)")

    p = sub.add_parser("train-rdm", help="RCG: a diffusion model over an encoder's representations (resumable)")
    _add_dataclass_args(p, RDMConfig)
    p.add_argument("--encoder", required=True, help="encoder.pt whose train representations of --dataset it models")
    p.add_argument("--dataset", default="fashion_mnist", help="the train images the encoder represents (hlwb.data; "
                   "its spec must be the encoder's); default fashion_mnist")
    p.add_argument("--sampler-only", action="store_true",
                   help="write only the EMA weights in float16 (a shipped sampler: ~1/4 of the full file; "
                        "the work dir keeps the resumable state)")
    _training_args(p, "RDM file to write (.pt)")

    p = sub.add_parser("train-rep-generator", help="RCG: a representation-conditioned HL generator (resumable)")
    _add_dataclass_args(p, RepGANConfig)
    p.add_argument("--encoder", required=True, help="encoder.pt whose representations condition the generator")
    p.add_argument("--dataset", default="fashion_mnist", help="the train images (and their representations) it "
                   "learns from (hlwb.data; the encoder's spec); default fashion_mnist")
    p.add_argument("--init", default="", help="an unconditional generator of the same size to start from (e.g. biggan)")
    p.add_argument("--condition", default="representation", choices=("representation", "class", "posterior"),
                   help="each image's own representation (RCG), its class prototype (the class-conditional row), or "
                        "a draw of the contrastive-softmax posterior (--posterior-*)")
    p.add_argument("--posterior-prior", default="rdm", choices=("rdm", "sphere"), help="posterior only: the dictionary's prior")
    p.add_argument("--posterior-k", type=int, default=128, help="posterior only: dictionary size K")
    p.add_argument("--posterior-t", type=float, default=0.1, help="posterior only: softmax temperature T")
    p.add_argument("--posterior-dicts", type=int, default=64, help="posterior only: training dictionaries")
    p.add_argument("--rdm", default="", help="posterior with the rdm prior: the RDM file")
    _training_args(p, "generator file to write (.pt)")

    p = sub.add_parser("pretrain", help="one contrastive pretraining run (resumable)",
                       description="One contrastive pretraining run: notebook 05's settings and defaults "
                                   "(hlwb.config.PretrainParams). Relative --hl-sigmas-file / --walkers-dir you give "
                                   "are the current directory's; their defaults, the repository's laptop run.",
                       epilog=_strategies_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_pretrain_args(p)
    p.add_argument("--work-dir", required=True, help="checkpoint, log and encoder go here")

    p = sub.add_parser("eval-generator", help="quality of a generator, measured with the oracle")
    p.add_argument("generator", help="shipped name or checkpoint path")
    p.add_argument("--n", type=int, default=10_000, help="samples (default 10000)")
    p.add_argument("--anchors", type=int, default=1000, help="anchors for the chunk table")
    _device_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default="fashion_mnist", help="the real data FD_oracle compares against (hlwb.data; "
                   "the generator's spec must be its); default fashion_mnist")
    p.add_argument("--oracle", default="", help="oracle file trained on --dataset (train-oracle); default: the shipped "
                   "Fashion-MNIST one")
    p.add_argument("--json", default=None, help="also write the result here")

    p = sub.add_parser("calibrate", help="score encoders against raw pixels and random trunks (full splits)")
    p.add_argument("encoders", nargs="+", help="encoder.pt files (from pretrain or notebook 05)")
    p.add_argument("--seed", type=int, default=0, help="seed of the probe's held-out split and the random trunk")
    p.add_argument("--dataset", default="fashion_mnist", help="labelled dataset whose full train / test splits score "
                   "the encoders (hlwb.data); default fashion_mnist")
    p.add_argument("--image-size", type=int, default=0, help="its side in px (0: the dataset's own)")
    _device_arg(p)
    p.add_argument("--json", default=None, help="also write the table here")

    p = sub.add_parser("pipeline", help="run the notebooks headless through papermill")
    p.add_argument("--profile", default="laptop", help="smoke, smoke_color (the offline colour set), laptop or "
                   "gpu (CIFAR-10)")
    p.add_argument("--only", default=None, help="run only this stage (e.g. 01_hl_generator)")
    p.add_argument("--out", default=None, help="run directory (default runs/<profile>; relative: to the current "
                   "directory); nothing is written outside it (`publish` copies a run into the repository)")
    p.add_argument("--force", action="store_true", help="re-run stages even if unchanged")
    p.add_argument("--jobs", type=int, default=1, help="sweep runs side by side, one thread each (default 1)")
    p.add_argument("--plan", action="store_true", help="print every stage and run of the profile with its estimated "
                   "cost, and train nothing")

    p = sub.add_parser("download-data", help="download a dataset into the user cache (SHA-256 checked)")
    p.add_argument("--dataset", default="fashion_mnist", help="registry name (hlwb.data.names()), default "
                   "fashion_mnist")

    p = sub.add_parser("bench", help="benchmarks: explorer (slider latency), views (view-source throughput)")
    p.add_argument("what", choices=("explorer", "views"),
                   help="explorer: slider change -> image latency; views: real vs generated view pairs/s and step cost")
    p.add_argument("--n", type=int, default=50, help="repetitions")
    p.add_argument("--precision", default="fp32", help="views only: fp32 or bf16 (hlwb.amp)")
    _device_arg(p)
    p.add_argument("--json", default=None, help="also write the result here")

    p = sub.add_parser("publish-notebooks", aliases=["publish"],
                       help="copy a finished run into the repository: notebooks (cleaned), figures, results, report")
    p.add_argument("--run", default=None, help="run directory (default runs/laptop; relative: to the current directory)")
    p.add_argument("--force", action="store_true", help="publish a run whose numbers another commit (or other code) "
                   "made; the files it replaces are named")

    args = ap.parse_args(argv)
    from .progress import setup_logging

    setup_logging()
    try:
        from .ranges import check_flags

        check_flags(args.cmd, vars(args))  # the explicit numeric flags; dataclass flags: their __post_init__
        if args.cmd == "train-generator":
            if args.family not in GENERATORS:
                ap.error(f"--family {args.family!r} unknown; valid: {', '.join(sorted(GENERATORS))}")
            from .generators.training import train_gan

            train_gan(_from_args(GANConfig, args), args.out, args.work_dir, device=args.device)
        elif args.cmd == "train-oracle":
            from .oracle import train_oracle

            train_oracle(_from_args(OracleConfig, args), args.out, args.work_dir, device=args.device)
        elif args.cmd == "train-rdm":
            from .rcg.commands import train_rdm_command

            print(train_rdm_command(args.encoder, args.out, _from_args(RDMConfig, args), args.work_dir, args.device,
                                    sampler_only=args.sampler_only, dataset=args.dataset))
        elif args.cmd == "train-rep-generator":
            from .rcg.commands import train_rep_generator_command

            print(train_rep_generator_command(args.encoder, args.out, _from_args(RepGANConfig, args), args.work_dir,
                                              init=args.init, device=args.device, condition=args.condition,
                                              posterior={"prior": args.posterior_prior, "K": args.posterior_k,
                                                         "T": args.posterior_t, "n_dicts": args.posterior_dicts,
                                                         "rdm": args.rdm}
                                              if args.condition == "posterior" else None, dataset=args.dataset))
        elif args.cmd == "pretrain":
            from . import devices, distributed
            from .checkpoint import atomic_write_json
            from .config import PretrainParams, from_params
            from .encoders import save_encoder
            from .pretrain import config_dict, pretrain, run_source, settings

            given = {f.name: getattr(args, f.name) for f in dataclasses.fields(PretrainParams)
                     if f.name not in NOTEBOOK_ONLY}
            for k in ("hl_sigmas_file", "walkers_dir"):  # a path given on the command line: the current directory's
                if given[k] != PretrainParams.__dataclass_fields__[k].default:
                    given[k] = str(Path(given[k]).resolve())
            params = from_params(PretrainParams, given)
            dev = devices.resolve(params.device)  # under torchrun: "auto" is the rank's GPU (LOCAL_RANK)
            cfg = settings(params, dev)  # "auto" precision: bf16 where it is native, else fp32
            info = distributed.init_from_env(dev)  # torchrun: one process per rank; nccl on CUDA, gloo on CPU
            try:
                if not info.is_main:  # rank 0 speaks for the run
                    logging.getLogger().setLevel(logging.WARNING)
                src = run_source(params, dev, rank=info.rank)
                logging.getLogger(__name__).info("pretrain on %s", devices.describe(dev))
                method, _ = pretrain(src, cfg, args.work_dir, device=dev)
                if info.is_main:
                    work, run = Path(args.work_dir), config_dict(cfg)
                    views = {k: getattr(params, k) for k in ("strategy", "augment", "generator", "sampling")}
                    hist = method.run_meta.get("history", [])
                    save_encoder(work / "encoder.pt", method.encoder, meta={
                        "method": cfg.method, **views, "seed": cfg.seed, "pretrain": run,
                        "views": method.run_meta.get("views"), "history": hist, "world_size": info.world_size,
                        "device": str(dev)})
                    atomic_write_json(work / "config.json", {**run, **views, "world_size": info.world_size,
                                                             "history": hist, "device": str(dev)})
            finally:
                distributed.cleanup()
        elif args.cmd == "eval-generator":
            from .quality import evaluate_generator

            res = evaluate_generator(args.generator, n=args.n, n_anchors=args.anchors, seed=args.seed,
                                     device=args.device, dataset=args.dataset, oracle=args.oracle or None)
            print(json.dumps(res, indent=2))
            if args.json:
                from .checkpoint import atomic_write_json

                atomic_write_json(args.json, res)
        elif args.cmd == "calibrate":
            from .calibration import calibrate_encoders
            from .targets import in_domain

            res = calibrate_encoders(args.encoders, seed=args.seed, device=args.device,
                                     target=in_domain(args.dataset, seed=args.seed, size=args.image_size or None))
            print(json.dumps(res, indent=2))
            if args.json:
                from .checkpoint import atomic_write_json

                atomic_write_json(args.json, res)
        elif args.cmd == "pipeline" and args.plan:
            from .planning import describe

            print(describe(args.profile, args.out))
        elif args.cmd == "pipeline":
            from .pipeline import run_pipeline

            summary = run_pipeline(args.profile, out=args.out, only=args.only, force=args.force, jobs=args.jobs)
            print(summary)
        elif args.cmd == "bench":
            from .bench import BENCHES

            if args.what not in BENCHES:
                raise KeyError(f"unknown benchmark {args.what!r}; valid: {', '.join(BENCHES)}")
            if args.what != "views" and args.precision != "fp32":
                raise ValueError(f"--precision is a setting of `bench views`, not of `bench {args.what}`")
            if args.what != "views" and args.device != "auto":
                raise ValueError(f"--device is a setting of `bench views`, not (yet) of `bench {args.what}`")
            res = BENCHES[args.what](args.n, **({"precision": args.precision, "device": args.device}
                                                if args.what == "views" else {}))
            print(json.dumps(res, indent=2))
            if args.json:
                from .checkpoint import atomic_write_json

                atomic_write_json(args.json, res)
        elif args.cmd in ("publish-notebooks", "publish"):
            from .config import REPO_ROOT
            from .pipeline import publish_run

            for path in publish_run(Path(args.run).resolve() if args.run else REPO_ROOT / "runs" / "laptop",
                                    force=args.force):
                print(path)
        elif args.cmd == "download-data":
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
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        from .lock import LockedError

        if isinstance(e, LockedError) and e.flag is None:  # name this command's option for the directory
            msg = e.with_flag({"pipeline": "--out", "publish": "--run", "publish-notebooks": "--run"}
                              .get(args.cmd, "--work-dir"))
        print(f"hlwb {args.cmd}: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:  # read-only, not a directory, disk full: the file and what to do, no traceback
        print(f"hlwb {args.cmd}: error: {os_error_message(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
