#!/usr/bin/env bash
# The issue-20 device check, as one prepared script (run it through the `device` tool when a
# GPU is lent; the dry run on a CPU is below).
#   1. bench views in fp32 and bf16: view pairs/s, continuous-sampling vs real-data step, shared
#      prefix, each shipped generator's images/s alone;
#   2. the four core arms of the study (real, gaussian, hl_random paper rule, flat_matched) at
#      seed 0 with the gpu profile's encoder (width 64, 2-2-2-2, batch 256, bf16), STEPS steps
#      each, timed (the process whole: start-up, training, the final kNN); kNN monitor on the validation split (50k memory, 10k queries).
# Outputs (at most 8 files, the device tool's limit) go to $OUT (default runs/gpu_check): env.txt,
# bench_fp32.json, bench_bf16.json (bench views at the arms' batch and width), step_bf16.json (bench
# step), arms.json (per arm: wall, exit status, final val kNN, config; rewritten after every arm) and
# arms.log (the last 40 lines of each arm's output). The GPU machine has torch but
# not kornia: carry its wheels in .whl (see the device tool's README) and this script
# installs them first when .whl exists. The dry run here:
#   DEVICE=cpu STEPS=4 N=1 WIDTH=4 BLOCKS=1,1 BATCH=16 KNN_TRAIN=500 KNN_TEST=200 PY=.venv/bin/python bash scripts/gpu_check.sh
set -euo pipefail
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-1000}
ARM_TIMEOUT=${ARM_TIMEOUT:-110}  # seconds per arm: four arms and the benches fit one 600 s call
N=${N:-20}
WIDTH=${WIDTH:-64}; BLOCKS=${BLOCKS:-2,2,2,2}; BATCH=${BATCH:-256}; KNN_TRAIN=${KNN_TRAIN:-50000}; KNN_TEST=${KNN_TEST:-10000}
OUT=${OUT:-runs/gpu_check}
PY=${PY:-python3}
mkdir -p "$OUT"
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONUNBUFFERED=1 HLWB_DATA_VERIFY=${HLWB_DATA_VERIFY:-1}
{ date -u; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
  command -v nvidia-smi >/dev/null && nvidia-smi -L || true
  grep -m1 "model name" /proc/cpuinfo || true; nproc; } > "$OUT/env.txt"
for prec in fp32 bf16; do
  $PY -m hlwb bench views --n "$N" --batch "$BATCH" --width "$WIDTH" --precision "$prec" --device "$DEVICE" \
      --json "$OUT/bench_$prec.json" > /dev/null || echo "bench views $prec failed: $?" >> "$OUT/env.txt"
done
# where a continuous-sampling step's time goes on this device (decode, augmentation, forward, backward, ...)
$PY -m hlwb bench step --n "$N" --batch "$BATCH" --width "$WIDTH" --precision bf16 --device "$DEVICE" \
    --json "$OUT/step_bf16.json" > /dev/null || echo "bench step failed: $?" >> "$OUT/env.txt"
WORK=$(mktemp -d)
summarise() {  # arms.json rewritten after every arm: a later timeout keeps what finished
$PY - "$WORK" "$STEPS" "$OUT/arms.json" <<'PY'
import json, sys
from pathlib import Path
work, steps, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rows = {}
for line in (work / "times.txt").read_text().split("\n"):
    if line:
        arm, t0, t1, rc = line.split()
        r = {"wall_s_incl_startup_and_knn": float(t1) - float(t0), "steps": steps, "exit": int(rc)}
        if rc == "0":
            log = [json.loads(x) for x in (work / arm / "log.jsonl").read_text().splitlines()]
            r |= {"val_knn_top1": [x["knn_top1"] for x in log if "knn_top1" in x][-1],
                  "config": json.loads((work / arm / "config.json").read_text())}
        rows[arm] = r
Path(out).write_text(json.dumps(rows, indent=2))
print(json.dumps({a: {k: v for k, v in r.items() if k != "config"} for a, r in rows.items()}, indent=2))
PY
}
for arm in real gaussian hl_random flat_matched; do
  t0=$(date +%s.%N)
  rc=0
  timeout "$ARM_TIMEOUT" $PY -m hlwb pretrain --device "$DEVICE" --precision bf16 --strategy "$arm" --augment fair \
      --seed 0 --steps "$STEPS" --batch "$BATCH" --width "$WIDTH" --blocks "$BLOCKS" --warmup $((STEPS / 20)) \
      --knn-every "$STEPS" --knn-train "$KNN_TRAIN" --knn-test "$KNN_TEST" --knn-split val --ckpt-every "$STEPS" \
      --work-dir "$WORK/$arm" > "$WORK/$arm.log" 2>&1 || rc=$?
  { echo "=== $arm (exit $rc)"; tail -n 40 "$WORK/$arm.log"; } >> "$OUT/arms.log"
  t1=$(date +%s.%N)
  echo "$arm $t0 $t1 $rc" >> "$WORK/times.txt"
  summarise
done
