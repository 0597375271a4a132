"""The rcg arm beside real / GenRep / the paper-rule HL arm, each 3 seeds, outside the full pipeline.

Notebook 05 runs (papermill, the laptop profile's parameters and the study plan's variant parameters,
exactly as the sweep makes them) into OUT/05_contrastive_pretraining/<variant>, two side by side at one
thread each; then notebook 06's protocol (hlwb.transfer: linear and kNN on the full Fashion-MNIST splits,
per-image correctness, paired bootstrap over test images and seeds, 2000 draws) on those 12 encoders.
usage: python rcg_arm.py OUT [train|eval|all]
"""
import json
import sys
import time
from pathlib import Path

from hlwb import pipeline, study, transfer
from hlwb.checkpoint import atomic_write_json
from hlwb.parallel import run_parallel

STAGE = "05_contrastive_pretraining"
ARMS = ("rcg", "real", "gaussian", "hl_random_paper")


def main():
    out = Path(sys.argv[1]).resolve()
    what = sys.argv[2] if len(sys.argv) > 2 else "all"
    plan = study.PLANS["laptop"]
    base = pipeline.stage_params(STAGE, "laptop", out)
    runs = [(n, p) for n, p in study.headline_runs(plan) if p["arm"] in ARMS and p["augment"] == "fair"]
    runs.sort(key=lambda r: (r[1]["arm"] == "rcg", r[1]["seed"]))  # the new arm last (clean wall times)
    arms = {a: [n for n, p in runs if p["arm"] == a] for a in ARMS}
    print(arms, flush=True)
    if what in ("train", "all"):
        items = [(STAGE, "laptop", out, False, name, {**base, **extra, "run_dir": str(out / STAGE / name)})
                 for name, extra in runs]

        def report(i, r):
            print(f"{runs[i][0]}: {r.status} in {r.wall_s:.0f} s", flush=True)

        t0 = time.perf_counter()
        run_parallel(pipeline._run_variant, items, 2, on_done=report)
        print(f"training wall {time.perf_counter() - t0:.0f} s", flush=True)
    if what in ("eval", "all"):
        import pandas as pd

        t0 = time.perf_counter()
        encoders = {n: out / STAGE / n / "encoder.pt" for n, _ in runs}
        specs = transfer.target_specs("fashion_mnist", "")
        cache = out / "rows"
        df = transfer.evaluate_all(encoders, ["pixels", "random"], specs, ["linear", "knn"], 0, cache=cache,
                                   keep_correct=("fashion_mnist",), jobs=2)
        tab = transfer.gains_table(df, cache, arms)
        diffs = transfer.differences(cache, [("rcg", arms["rcg"], b, arms[b]) for b in ("real", "gaussian", "hl_random_paper")])
        fm = df[(df.target == "fashion_mnist") & (df.metric == "top1") & (df.draw.astype(str) == "")]
        per_run = {n: {p: 100 * float(fm[(fm.encoder == n) & (fm.protocol == p)].value.iloc[0])
                       for p in ("linear", "knn_k20", "knn_k200")} for n in list(encoders) + ["ref-pixels", "ref-random"]}
        sweep = {n: json.loads((out / STAGE / n / "results.json").read_text()) for n in encoders}
        result = {"gains": tab.to_dict(orient="records"), "differences": diffs.to_dict(orient="records"),
                  "per_run": per_run, "wall_s": {n: r.get("wall_s") for n, r in sweep.items()},
                  "val_knn": {n: r.get("knn_top1") for n, r in sweep.items()}, "eval_wall_s": time.perf_counter() - t0}
        atomic_write_json(out / "rcg_arm.json", result)
        with pd.option_context("display.width", 250):
            print(tab.round(2).to_string(index=False))
            print(diffs.round(2).to_string(index=False))
        print(json.dumps(per_run, indent=1))


if __name__ == "__main__":
    main()
