"""Transfer evaluation of a pipeline run's encoders (notebook 06) and its headline.

``find_encoders`` lists every ``encoder.pt`` a pretraining sweep wrote; ``evaluate_all``
scores each (and the reference encoders: raw pixels, a random trunk of the same architecture,
the supervised oracle) on every target and protocol of :mod:`hlwb.evaluate`, into one tidy
table ``(encoder, method, strategy, generator, sampling, augment, seed, target, protocol,
metric, value, draw, precision, pretrain_cpu, eval_cpu)``: every row says the encoder's training
precision and the CPUs it was trained (when its run recorded it) and scored on. The random trunk
is drawn from several init seeds (``ref-random``, ``ref-random-s1``, ...: its seed variance is
real, several kNN points). Each encoder's rows are written atomically to ``<cache>/<name>.csv``
as soon as they exist, so a killed evaluation resumes where it stopped. Encoders are scored on
one ``device`` (:func:`hlwb.devices.resolve`); the cache does not depend on it (a device changes
the rows at float rounding only).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from pathlib import Path

import pandas as pd
import torch

from . import checkpoint, devices
from . import evaluate as E
from . import intervals as I
from . import targets as T
from .checkpoint import atomic_write_text
from .encoders import load_encoder
from .fingerprint import machine
from .spec import LEGACY, ImageSpec, require_same

ID_COLUMNS = ("encoder", "method", "strategy", "generator", "sampling", "augment", "seed")
# arms (hlwb.study) the headline compares; older sweeps named runs by strategy (hl_random)
HL = ("hl_random_paper", "hl_random_delta", "hl_learned", "hl_random")
BASELINES = ("gaussian", "learned_all", "flat_matched")
PROVENANCE = ("precision", "pretrain_cpu", "eval_cpu")  # per row: how and where its number was made
RANDOM_SEEDS = 3  # init seeds of the random-trunk reference


def random_names(seed: int, n: int = RANDOM_SEEDS) -> list[str]:
    """The random-trunk references of evaluation ``seed``: ``ref-random`` (init seed ``seed``) and
    ``ref-random-s{seed + k}`` for k = 1..n-1 (init seed ``seed + k``)."""
    if n < 1:
        raise ValueError(f"random_seeds must be >= 1 (the study uses {RANDOM_SEEDS}), got {n}")
    return ["ref-random"] + [f"ref-random-s{seed + k}" for k in range(1, n)]


def _ref_init(name: str, seed: int) -> int:
    """The init seed of a reference: ``ref-random-s{k}`` -> k, any other reference -> ``seed``."""
    tail = name.rpartition("-s")[2]
    return int(tail) if name.startswith("ref-random-s") and tail.isdigit() else seed


def find_encoders(pretrain_dir: str | Path) -> dict[str, Path]:
    """``run name -> encoder.pt`` for every run folder of a pretraining sweep."""
    d = Path(pretrain_dir)
    found = {p.parent.name: p for p in sorted(d.glob("*/encoder.pt"))}
    if not found:
        from .published import producer

        raise FileNotFoundError(f"no */encoder.pt under {d} (the pretraining sweep's encoders): "
                                + producer("05_contrastive_pretraining"))
    return found


def target_specs(targets: str, corruptions: str) -> list[tuple[str, str, dict]]:
    """``(label, registry name, kwargs)`` per target; the shift target once per corruption."""
    specs = []
    for name in [t.strip() for t in targets.split(",") if t.strip()]:
        if name not in T.TARGETS and not T.known(name):
            raise KeyError(f"unknown target {name!r}; valid: {', '.join(T.TARGETS)}, a labelled dataset of "
                           "hlwb.data, <dataset>_shift or folder:PATH")
        if name.endswith("_shift"):
            for c in [c.strip() for c in corruptions.split(",") if c.strip()]:
                if c not in T.CORRUPTIONS:
                    raise KeyError(f"unknown corruption {c!r}; valid: {', '.join(T.CORRUPTIONS)}")
                specs.append((f"shift_{c}", name, {"corruption": c}))
        else:
            specs.append((name, name, {}))
    return specs


_TARGETS: dict = {}  # per process: the loaded targets, reused across the encoders a worker scores


def _targets(specs: list[tuple[str, str, dict]], seed: int, image: ImageSpec = LEGACY) -> dict:
    """The targets at the encoders' image spec (:func:`hlwb.targets.load` converts the others)."""
    key = (repr(specs), seed, image)
    if key not in _TARGETS:
        _TARGETS.clear()
        _TARGETS[key] = {label: T.load(name, image, seed=seed, **kw) for label, name, kw in specs}
    return _TARGETS[key]


def _cache_key(name: str, path: Path | None, specs, protocols, seed: int, ref_width: int, ref_blocks,
               keep_correct, image: ImageSpec = LEGACY) -> dict:
    """What a cached encoder's rows depend on: the encoder file's SHA-256 (a reference: its
    name and architecture; an extra random trunk its init seed), the targets, protocols, seed and kept correctness. A cache entry is reused only
    when its key matches, so a re-trained encoder of the same name is scored again."""
    from .checkpoint import file_sha256

    digest = file_sha256(path) if path is not None else ""  # cached: checked and recorded from one read
    ref = [ref_width, list(ref_blocks)] + ([_ref_init(name, seed)] if name.startswith("ref-random-s") else [])
    return {"encoder_sha256": digest, "specs": [list(map(str, s)) for s in specs], "protocols": list(protocols),
            "seed": seed, "ref": ref if path is None else None,
            "keep_correct": sorted(keep_correct), **({} if image == LEGACY else {"image": image.record()})}


def _on(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` on ``device``: itself when its weights are there (or it has none), else a copy
    (a reference may be shared, e.g. the cached oracle's trunk, and is not moved in place)."""
    p = next(module.parameters(), None)
    return module if p is None or p.device == device else copy.deepcopy(module).to(device)


def _evaluate_one(job: tuple) -> Path:
    """Score one encoder (or ``ref-*`` reference) on every target on the job's device; its rows
    (and correctness) go to the cache atomically, then its key (:func:`_cache_key`). A
    module-level function, so spawned workers can run it."""
    import json

    name, path, specs, protocols, seed, cache, ref_width, ref_blocks, keep_correct, device, image = job
    device = devices.resolve(device)
    image = ImageSpec.from_record(image)
    f = Path(cache) / f"{name}.csv"
    key = _cache_key(name, path, specs, protocols, seed, ref_width, ref_blocks, keep_correct, image)
    where = {"eval_cpu": machine()["cpu"]}
    if path is None:
        ref, init = "random" if name.startswith("ref-random") else name[4:], _ref_init(name, seed)
        kw = {"width": ref_width, "blocks": ref_blocks, "seed": init, "spec": image} if ref == "random" else {}
        enc = _on(E.REFERENCES[ref](**kw), device)  # the random trunk is drawn on the host
        ident = {"method": "reference", "strategy": ref, "generator": "", "sampling": "", "augment": "",
                 "seed": init}
        where |= {"precision": "fp32", "pretrain_cpu": ""}
    else:
        enc = load_encoder(path, device=device)
        require_same(enc.spec, image, f"encoder {path}")
        m = enc.meta
        # the study arm names the row (hl_random_paper vs hl_random_delta share a strategy)
        ident = {"method": m["method"], "strategy": m.get("arm") or m["strategy"], "generator": m.get("generator", ""),
                 "sampling": m.get("sampling", ""), "augment": m.get("augment", ""), "seed": m.get("seed", 0)}
        where |= {"precision": m.get("precision") or (m.get("pretrain") or {}).get("precision") or "fp32",
                  "pretrain_cpu": (m.get("machine") or {}).get("cpu", "")}  # "": a run that did not record it
    rows, correct = [], {}
    for label, tg in _targets(specs, seed, image).items():
        keep = correct.setdefault(label, {}) if label in keep_correct else None
        for r in E.evaluate_encoder(enc, tg, protocols=protocols, seed=seed, correct=keep):
            rows.append({"encoder": name, **ident, **{k: v for k, v in r.items() if k != "seed"},
                         "target": label, "eval_seed": r["seed"], **where})
    if any(correct.values()):
        checkpoint.save(Path(cache) / f"{name}.correct.pt", {t: c for t, c in correct.items() if c}, kind="correct")
    atomic_write_text(f, pd.DataFrame(rows).to_csv(index=False))
    atomic_write_text(f.with_suffix(".key.json"), json.dumps(key, sort_keys=True))  # last: marks the entry done
    return f


def evaluate_all(encoders: dict[str, Path], references: list[str], specs: list[tuple[str, str, dict]],
                 protocols: list[str], seed: int, cache: str | Path, ref_width: int = 16,
                 ref_blocks: tuple[int, ...] = (1, 1, 1, 1), keep_correct: tuple[str, ...] = ("fashion_mnist",),
                 jobs: int = 1, device: str | torch.device = "auto", image: ImageSpec = LEGACY,
                 random_seeds: int = RANDOM_SEEDS) -> pd.DataFrame:
    """Every encoder (and reference) on every target; rows cached per encoder in ``cache``.
    The ``random`` reference is drawn with ``random_seeds`` init seeds (:func:`random_names`), so
    gains over it average its init seeds and count their variance (:func:`gains_table`).
    ``image``: the encoders' image spec (the in-distribution dataset's); every target is converted
    to it (:func:`hlwb.targets.load`) and an encoder of another spec is refused.
    For the targets in ``keep_correct`` each encoder's per-test-image correctness (linear, kNN)
    is kept too, in ``<cache>/<name>.correct.pt`` (for :func:`paired_gains`). ``jobs`` > 1 scores
    that many encoders side by side at one thread each (:func:`hlwb.parallel.run_parallel`).
    ``device`` (:func:`hlwb.devices.resolve`, resolved here, so a device this machine lacks is
    refused before anything runs): where every encoder is loaded and scored, in each worker too."""
    from .parallel import run_parallel

    device = devices.resolve(device)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    _TARGETS.clear()  # targets are loaded afresh per call (workers of this call share theirs)
    todo = {n: None for r in references for n in (random_names(seed, random_seeds) if r == "random" else [f"ref-{r}"])}
    todo.update(encoders)
    import json

    kept = [label for label, _, _ in specs if label in keep_correct]

    def done(name: str, path: Path | None) -> bool:
        """Rows cached under the same key, with the correctness asked for."""
        k = cache / f"{name}.key.json"
        if not ((cache / f"{name}.csv").exists() and k.exists()):
            return False
        if kept and not (cache / f"{name}.correct.pt").exists():
            return False
        want = _cache_key(name, path, specs, protocols, seed, ref_width, ref_blocks, keep_correct, image)
        return json.loads(k.read_text()) == json.loads(json.dumps(want, sort_keys=True))

    missing = [(name, path, specs, tuple(protocols), seed, str(cache), ref_width, tuple(ref_blocks), tuple(keep_correct),
                str(device), image.record()) for name, path in todo.items() if not done(name, path)]
    run_parallel(_evaluate_one, missing, jobs)
    df = pd.concat([pd.read_csv(cache / f"{name}.csv", keep_default_na=False) for name in todo], ignore_index=True)
    for c in PROVENANCE:  # rows cached before the columns existed: unknown, not guessed
        df[c] = df[c].fillna("") if c in df else ""
    return df


def views_label(strategy: str, sampling: str, augment: str) -> str:
    """The arm, marked when it ran with fixed sampling or the paper's confounded augmentation
    (the headline compares the default: continuous sampling, one fair T_x for every arm)."""
    return strategy + (" (fixed)" if sampling == "fixed" else "") + (" (paper T_x)" if augment == "paper" else "")


def accuracy_table(df: pd.DataFrame, protocol: str = "linear", metric: str = "top1") -> pd.DataFrame:
    """Mean and std over seeds of one protocol's metric per (method, strategy, target); the
    ``strategy`` column is :func:`views_label` (fixed-sampling / fair-T_x runs kept apart)."""
    no_draw = df.draw.isna() | (df.draw.astype(str) == "")  # "" when read with keep_default_na=False
    d = df[(df.protocol == protocol) & (df.metric == metric) & no_draw]
    d = d.assign(strategy=[views_label(a, b, c) for a, b, c in zip(d.strategy, d.sampling, d.augment)])
    g = d.groupby(["method", "strategy", "target"]).value
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=1).fillna(0.0), "n_seeds": g.count()}).reset_index()


def gain_over_real(acc: pd.DataFrame) -> pd.DataFrame:
    """Per target, each (method, strategy) mean minus the same method's real-data encoder."""
    real = acc[acc.strategy == "real"].set_index(["method", "target"])["mean"]
    rows = []
    for r in acc.itertuples():
        if r.method != "reference" and (r.method, r.target) in real.index:
            rows.append({"method": r.method, "strategy": r.strategy, "target": r.target,
                         "gain": r.mean - real[(r.method, r.target)]})
    return pd.DataFrame(rows, columns=["method", "strategy", "target", "gain"])


def headline(acc: pd.DataFrame, method: str = "simclr", best: str | None = None) -> list[dict]:
    """Per target: the HL arm ``best`` against the best baseline (GenRep, COP-Gen) and real, for
    ``method``, with the seed spread; ``margin_*`` say by how much (means).

    ``best`` is the HL arm chosen on the validation split (:func:`hlwb.study.best_hl_arm`, the
    pretraining runs' validation kNN), never on these test means: choosing the best of several
    arms on the numbers it then reports inflates its margin. (The baseline is the best on test:
    that only makes the margin over it smaller.) Targets without ``best`` get no row."""
    if best is None:
        raise ValueError("headline needs best=: the HL arm chosen on the validation split "
                         "(hlwb.study.best_hl_arm(sweep results)), never the best test mean")
    a = acc[acc.method == method]
    if len(a) and best not in set(a.strategy):
        raise KeyError(f"best HL arm {best!r} has no {method} rows; arms: {', '.join(sorted(set(a.strategy)))}")
    out = []
    for target, t in a.groupby("target"):
        by = t.set_index("strategy")
        base = [s for s in BASELINES if s in by.index]
        if best not in by.index:
            continue
        row = {"target": target, "method": method, "hl_strategy": best, "selected_on": "validation",
               "hl_mean": by.loc[best, "mean"],
               "hl_std": by.loc[best, "std"], "hl_seeds": int(by.loc[best, "n_seeds"])}
        if base:
            b = max(base, key=lambda s: by.loc[s, "mean"])
            row.update({"baseline": b, "baseline_mean": by.loc[b, "mean"], "baseline_std": by.loc[b, "std"],
                        "margin_baseline": by.loc[best, "mean"] - by.loc[b, "mean"]})
        if "real" in by.index:
            row.update({"real_mean": by.loc["real", "mean"], "real_std": by.loc["real", "std"],
                        "margin_real": by.loc[best, "mean"] - by.loc["real", "mean"]})
        out.append(row)
    return out


def fmt_pm(mean: float, std: float, n: int) -> str:
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if n > 1 and not math.isnan(std) else "")


@functools.lru_cache(maxsize=256)
def _load_correct(path: str, mtime_ns: int) -> dict:
    """One correctness file, read once per version (the study's tables ask for each many times)."""
    return checkpoint.load(path, kind="correct")


def _correct(cache: str | Path, name: str, target: str, protocol: str):
    path = Path(cache) / f"{name}.correct.pt"
    if not path.exists():
        raise FileNotFoundError(f"no {path}: evaluate {name!r} with evaluate_all(keep_correct=({target!r},))")
    c = _load_correct(str(path), path.stat().st_mtime_ns)
    if target not in c or protocol not in c[target]:
        raise KeyError(f"{path} has no {target}/{protocol}; it has {sorted(c)}")
    return c[target][protocol]


@functools.lru_cache(maxsize=1024)
def _load_info(path: str, mtime_ns: int) -> dict:
    row = pd.read_csv(path, nrows=1, keep_default_na=False).iloc[0]
    return {"seed": int(row["seed"]), **{c: str(row[c]) if c in row else "" for c in PROVENANCE}}


def run_info(cache: str | Path, name: str) -> dict:
    """``{seed, precision, pretrain_cpu, eval_cpu}`` of an evaluated encoder, from its cached rows."""
    path = Path(cache) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"no {path}: evaluate {name!r} with evaluate_all first")
    return _load_info(str(path), path.stat().st_mtime_ns)


def provenance(cache: str | Path, names: list[str]) -> dict[str, str]:
    """The precisions and CPUs behind a set of encoders' numbers (distinct values joined by " | ";
    "" where no run recorded one)."""
    info = [run_info(cache, n) for n in names]
    return {c: " | ".join(sorted({i[c] for i in info if i[c]})) for c in PROVENANCE}


def _pairing(cache: str | Path, names: list[str], reference: list[str]) -> tuple[list[str], list[str], bool]:
    """Both lists ordered by seed, and whether seed s of one pairs with seed s of the other: both are
    pretraining runs (no ``ref-*``) with the same seeds."""
    if any(n.startswith("ref-") for n in names + reference):
        return names, reference, False
    sa, sb = ([run_info(cache, n)["seed"] for n in x] for x in (names, reference))
    if sorted(sa) != sorted(sb) or len(set(sa)) != len(sa):
        return names, reference, False
    return ([n for _, n in sorted(zip(sa, names))], [n for _, n in sorted(zip(sb, reference))], True)


def paired_gains(cache: str | Path, arms: dict[str, list[str]], reference: str | list[str],
                 target: str = "fashion_mnist", protocol: str = "linear", n_boot: int = 2000,
                 seed: int = 0, interval: str = "t", ci: float = 0.95) -> dict[str, dict]:
    """Per arm (``arm -> encoder names``, one per pretraining seed), its top-1 gain in points over
    ``reference`` on ``target`` / ``protocol``, each difference on the same test images, with an
    interval whose unit of replication is the seed (:func:`hlwb.calibration.paired_gain`).

    ``reference``: an encoder name (deterministic: ``ref-pixels``), or a list: another arm's seeds
    (paired seed by seed when both have the same seeds: ``paired_t``; else ``welch_t``) or a
    reference's several seeds (the random trunk's init seeds: unpaired, ``welch_t``).
    ``interval``: ``t`` or ``bootstrap`` (``n_boot`` draws from ``seed``, for comparison).
    Needs the ``.correct.pt`` files :func:`evaluate_all` keeps."""
    from .calibration import paired_gain

    if isinstance(reference, list) and len(reference) == 1 and reference[0].startswith("ref-"):
        reference = reference[0]  # one reference run: deterministic, as its name alone
    out = {}
    for arm, names in arms.items():
        if isinstance(reference, list):
            na, nb, paired = _pairing(cache, list(names), list(reference))
            ref = [_correct(cache, n, target, protocol) for n in nb]
        else:
            na, paired, ref = list(names), False, _correct(cache, reference, target, protocol)
        out[arm] = paired_gain([_correct(cache, n, target, protocol) for n in na], ref, n_boot=n_boot, seed=seed,
                               ci=ci, paired=paired, interval=interval)
    return out


def arm_runs(df: pd.DataFrame, method: str = "simclr", augment: str | None = "fair",
             sampling: str = "continuous") -> dict[str, list[str]]:
    """``arm -> encoder names`` (sorted by seed) of the pretrained rows of ``df`` with that method,
    T_x setting (None: any) and sampling; the reference rows are left out."""
    d = df[(df.method == method) & (df.sampling.replace("", "continuous") == sampling)]
    if augment is not None:
        d = d[d.augment == augment]
    d = d.drop_duplicates("encoder").sort_values(["strategy", "seed"])
    return {arm: g.encoder.tolist() for arm, g in d.groupby("strategy", sort=True)}


STUDY_PROTOCOLS = ("linear", "knn_k20")  # the headline's probes, declared before the sweep


def reference_runs(df: pd.DataFrame, reference: str) -> str | list[str]:
    """A reference as :func:`paired_gains` takes it: its name, or the list of its init seeds when
    ``df`` has several (``ref-random``, ``ref-random-s1``, ...)."""
    names = sorted(set(df.encoder[(df.encoder == reference)
                                  | df.encoder.str.fullmatch(re.escape(reference) + r"-s\d+")]))
    return names if len(names) > 1 else reference


def _holm_columns(p: pd.Series, alpha: float) -> tuple[list[float], list[bool]]:
    adj = I.holm(p.fillna(1.0).to_numpy()) if len(p) else []
    return [float(x) for x in adj], [bool(x < alpha) for x in adj]


def gains_table(df: pd.DataFrame, cache: str | Path, arms: dict[str, list[str]],
                references: tuple[str, ...] = ("ref-pixels", "ref-random"), target: str = "fashion_mnist",
                protocols: tuple[str, ...] = STUDY_PROTOCOLS, n_boot: int = 2000, interval: str = "t",
                ci: float = 0.95) -> pd.DataFrame:
    """One row per (arm, protocol): top-1 mean and std over seeds (%), the arm's precision and CPUs,
    and per reference (``_pixels``, ``_random``) the gain in points with its seed-level interval
    (:func:`paired_gains`): ``gain_``, ``ci_low_``, ``ci_high_``, ``method_``, ``seeds_`` (the
    reference's seeds; 0 deterministic), ``p_value_``, and Holm over this table's family (every arm
    and protocol against that reference): ``p_holm_``, ``resolved_holm_`` (at 1 - ``ci``).
    A reference with several init seeds in ``df`` (the random trunk) counts them all."""
    no_draw = df.draw.astype(str) == ""
    t = df[(df.target == target) & (df.metric == "top1") & no_draw]
    refs = {r: reference_runs(df, r) for r in references}
    rows = []
    for protocol in protocols:
        gains = {r: paired_gains(cache, arms, refs[r], target, protocol, n_boot, interval=interval, ci=ci)
                 for r in references}
        for arm, names in arms.items():
            v = 100 * t[(t.protocol == protocol) & t.encoder.isin(names)].value
            row = {"arm": arm, "protocol": protocol, "n_seeds": len(names), "mean": v.mean(),
                   "std": v.std(ddof=1) if len(v) > 1 else float("nan"), **provenance(cache, names)}
            for r in references:
                g = gains[r][arm]
                short = r.removeprefix("ref-")
                row.update({f"gain_{short}": g["gain"], f"ci_low_{short}": g["ci_low"], f"ci_high_{short}": g["ci_high"],
                            f"method_{short}": g["method"], f"seeds_{short}": g["n_seeds_ref"],
                            f"p_value_{short}": g["p_value"]})
            rows.append(row)
    tab = pd.DataFrame(rows)
    for r in references:
        short = r.removeprefix("ref-")
        if len(tab):
            tab[f"p_holm_{short}"], tab[f"resolved_holm_{short}"] = _holm_columns(tab[f"p_value_{short}"], 1 - ci)
    return tab


DIFF_COLUMNS = ["a", "b", "protocol", "diff", "ci_low", "ci_high", "seeds_a", "seeds_b", "resolved", "method",
                "p_value", "p_holm", "resolved_holm", "family", *PROVENANCE]


def differences(cache: str | Path, pairs: list[tuple[str, list[str], str, list[str]]], target: str = "fashion_mnist",
                protocols: tuple[str, ...] = STUDY_PROTOCOLS, n_boot: int = 2000, interval: str = "t",
                ci: float = 0.95, family: str = "arm differences") -> pd.DataFrame:
    """``(label a, encoders a, label b, encoders b)`` -> a − b in top-1 points per protocol, each
    difference on the same test images, with a seed-level interval (:func:`paired_gains`: paired
    seed by seed when both sides ran the same seeds). ``resolved``: the interval excludes 0
    (unadjusted); ``p_holm`` / ``resolved_holm``: Holm over the ``family`` of every row of this
    call (all pairs x protocols), at level 1 - ``ci``; ``method`` names the interval."""
    rows = []
    for a, na, b, nb in pairs:
        for protocol in protocols:
            g = paired_gains(cache, {a: na}, list(nb), target, protocol, n_boot, interval=interval, ci=ci)[a]
            rows.append({"a": a, "b": b, "protocol": protocol, "diff": g["gain"], "ci_low": g["ci_low"],
                         "ci_high": g["ci_high"], "seeds_a": len(na), "seeds_b": len(nb),
                         "resolved": g["ci_low"] > 0 or g["ci_high"] < 0, "method": g["method"],
                         "p_value": g["p_value"], "family": family, **provenance(cache, list(na) + list(nb))})
    out = pd.DataFrame(rows, columns=DIFF_COLUMNS)
    if len(out):
        out["p_holm"], out["resolved_holm"] = _holm_columns(out.p_value, 1 - ci)
    return out


def fmt_gain(gain: float, lo: float, hi: float) -> str:
    return f"{gain:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def fewshot_curves(df: pd.DataFrame, method: str) -> dict[str, dict[str, dict[str, list[float]]]]:
    """Few-shot top-1 (%) per target and arm for ``method`` (fair T_x, continuous sampling) and the
    references: ``{target: {arm: {"shots", "mean", "std", "n_seeds"}}}``, each point the mean (and
    sample std) over the arm's pretraining seeds of its per-encoder mean over draws, so one curve
    never joins runs of different seeds."""
    d = df[df.protocol.str.startswith("fewshot_") & (df.metric == "top1_mean")]
    d = d[(d.method == "reference") | ((d.method == method) & (d.augment == "fair")
                                       & (d.sampling.replace("", "continuous") == "continuous"))]
    d = d.assign(shots=d.protocol.str.split("_").str[1].astype(int))
    out: dict = {}
    for (target, arm), g in d.groupby(["target", "strategy"]):
        per = g.groupby("shots").value
        mean, std, n = per.mean(), per.std(ddof=1).fillna(0.0), per.count()
        out.setdefault(target, {})[arm] = {"shots": mean.index.tolist(), "mean": (100 * mean).tolist(),
                                           "std": (100 * std).tolist(), "n_seeds": n.tolist()}
    return out


def gains_display(tab: pd.DataFrame) -> pd.DataFrame:
    """A :func:`gains_table` as printable columns: mean ± std and each gain with its interval."""
    return pd.DataFrame({
        "arm": tab.arm, "protocol": tab.protocol, "n_seeds": tab.n_seeds,
        "mean ± std": [f"{m:.2f} ± {s:.2f}" if not math.isnan(s) else f"{m:.2f}" for m, s in zip(tab["mean"], tab["std"])],
        "− pixels [95 % CI]": [fmt_gain(g, lo, hi) for g, lo, hi in
                               zip(tab.gain_pixels, tab.ci_low_pixels, tab.ci_high_pixels)],
        "− random trunk [95 % CI]": [fmt_gain(g, lo, hi) for g, lo, hi in
                                     zip(tab.gain_random, tab.ci_low_random, tab.ci_high_random)],
        **({"Holm (pixels, trunk)": [f"{'✓' if a else '·'} {'✓' if b else '·'}" for a, b in
                                     zip(tab.resolved_holm_pixels, tab.resolved_holm_random)]}
           if "resolved_holm_random" in tab else {})})


def differences_display(diff: pd.DataFrame, label: str = "a − b") -> pd.DataFrame:
    """A :func:`differences` table as printable columns: the difference with its interval, the
    interval's method, the Holm-adjusted p and both verdicts (unadjusted, Holm)."""
    return pd.DataFrame({
        "a": diff.a, "b": diff.b, "protocol": diff.protocol, "seeds": [f"{x}/{y}" for x, y in zip(diff.seeds_a, diff.seeds_b)],
        f"{label} [95 % CI]": [fmt_gain(d, lo, hi) for d, lo, hi in zip(diff["diff"], diff.ci_low, diff.ci_high)],
        "method": diff.method, "p_holm": [f"{p:.3g}" for p in diff.p_holm], "resolved": diff.resolved,
        "resolved_holm": diff.resolved_holm})


def records(t: pd.DataFrame) -> list[dict]:
    """A table as JSON-ready records (NaN -> None); [] for an empty table."""
    import json

    return json.loads(t.to_json(orient="records")) if len(t) else []
