#!/usr/bin/env bash
# One GPU check of newsbench, on a fresh machine with this repository and an NVIDIA driver, nothing else installed.
#
#   benchmarks/gpu_check.sh [--out DIR] [--dry-run] [--python PY] [--keep-going]
#
# Steps (each with its own time limit; a failed step is recorded and the next one still runs):
#   install    python -m venv .venv-gpu; pip install torch (PyPI's Linux wheel is a CUDA 12 build; set
#              TORCH_INDEX_URL, e.g. https://download.pytorch.org/whl/cu118, for an older driver), then -e '.[test]'
#   tests      pytest -m cuda (the CUDA tests: training, AMP, LightGCN on the GPU)
#   train      benchmarks/train_speed.py --scale small --device cuda, without and with --amp (generates small)
#   lightgcn   benchmarks/graph_speed.py train --scale small --device cuda (20 epochs)
#   ablate     newsbench ablate --seeds 0 --device cuda on demo (the default grid, one seed, MiniLM)
# Writes DIR/gpu_check.json (figures of every step, the test summary, seconds and exit status of each step) and
# DIR/logs/*.log. DIR: --out, else $OUT, else ./gpu_check_out. Budget: 8 minutes on one recent GPU.
#
# --dry-run: no GPU, no install. Prints and checks the plan (every script parses its options), then runs the parts
# a CPU can run on `tiny` data with the current Python (cuda tests: collected and skipped; train and LightGCN on
# the CPU; the default grid with the hash encoder and 1 epoch), and writes the same JSON. tests/test_gpu_check.py
# runs it.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT_DIR="${OUT:-$REPO/gpu_check_out}"
DRY=0
PY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT_DIR="$2"; shift 2 ;;
        --dry-run) DRY=1; shift ;;
        --python) PY="$2"; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check: error: unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUT_DIR/logs" || { echo "gpu_check: error: cannot create $OUT_DIR" >&2; exit 2; }
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
STEPS="$OUT_DIR/logs/steps.tsv"
: > "$STEPS"
T0=$(date +%s)
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-0}" PYTHONUNBUFFERED=1
# A cache of its own, so the figures are cold (data generation and features included) and nothing leaks between runs.
export NEWSBENCH_CACHE="${NEWSBENCH_CACHE:-$OUT_DIR/cache}"

log() { echo "gpu_check: $*" >&2; }

# step NAME LIMIT_SECONDS CMD...: runs CMD with a time limit, logs to logs/NAME.log, records rc and seconds.
step() {
    local name="$1" limit="$2"; shift 2
    local t=$(date +%s) rc
    log "$name: $*"
    timeout --kill-after=10 "$limit" "$@" > "$OUT_DIR/logs/$name.log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - t ))" >> "$STEPS"
    [ "$rc" -eq 0 ] || log "$name: FAILED (exit $rc; last lines of logs/$name.log below)"
    [ "$rc" -eq 0 ] || tail -n 15 "$OUT_DIR/logs/$name.log" | sed 's/^/    /' >&2
    return 0
}

if [ "$DRY" -eq 1 ]; then
    PY="${PY:-python}"
    DEVICE=cpu
    SCALE_TRAIN=tiny
    TRAIN_EXTRA=(--steps 3 --naive-steps 1 --naive-eval-impressions 20 --graph random)
    GRAPH_EXTRA=(--scale tiny --epochs 2)
    ABLATE_EXTRA=(--text-encoder hash --epochs 1 --graph-epochs 2 --dim 32 --id-dim 16 --user-hidden 16)
    log "dry run: no install, no GPU; CPU parts on tiny with $PY"
else
    command -v nvidia-smi > /dev/null || { log "error: nvidia-smi not found (no NVIDIA driver?)"; exit 2; }
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT_DIR/logs/gpu.txt" 2>&1
    if [ -z "$PY" ]; then
        step install-venv 120 python3 -m venv "$REPO/.venv-gpu"
        PY="$REPO/.venv-gpu/bin/python"
        step install-torch 300 "$PY" -m pip install --quiet --upgrade pip torch ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
        step install-newsbench 300 "$PY" -m pip install --quiet -e ".[test]"
    fi
    DEVICE=cuda
    SCALE_TRAIN=small
    TRAIN_EXTRA=()
    GRAPH_EXTRA=(--scale small --epochs 20)
    ABLATE_EXTRA=()
fi

# The plan, checked: the Python works, torch sees the device, every script parses its options.
step plan 120 "$PY" - "$DEVICE" <<'PYEOF'
import subprocess, sys
import torch
device = sys.argv[1]
print("torch", torch.__version__, "cuda available", torch.cuda.is_available())
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("torch sees no GPU: install a CUDA build that matches the driver (set TORCH_INDEX_URL)")
for cmd in (["benchmarks/train_speed.py", "--help"], ["benchmarks/graph_speed.py", "--help"],
            ["-m", "newsbench", "ablate", "--help"], ["-m", "pytest", "--version"]):
    subprocess.run([sys.executable, *cmd], check=True, stdout=subprocess.DEVNULL)
print("plan ok")
PYEOF

TINY=""
if [ "$DRY" -eq 1 ]; then
    TINY="$OUT_DIR/tiny"
    [ -d "$TINY" ] || step data-tiny 300 "$PY" -m newsbench data synth --scale tiny --out "$TINY"
fi
step tests 600 "$PY" -m pytest -q -p no:cacheprovider -m cuda -n 0 tests
step train 600 "$PY" benchmarks/train_speed.py --scale "$SCALE_TRAIN" --device "$DEVICE" ${TINY:+--data "$TINY"} \
    "${TRAIN_EXTRA[@]}" --json "$OUT_DIR/train.json"
if [ "$DRY" -eq 1 ]; then AMP_DEVICE=cpu; else AMP_DEVICE=cuda; fi
step train-amp 600 "$PY" benchmarks/train_speed.py --scale "$SCALE_TRAIN" --device "$AMP_DEVICE" --amp \
    ${TINY:+--data "$TINY"} "${TRAIN_EXTRA[@]}" --json "$OUT_DIR/train_amp.json"
step lightgcn 600 "$PY" benchmarks/graph_speed.py train --device "$DEVICE" ${TINY:+--data "$TINY"} \
    "${GRAPH_EXTRA[@]}" --json "$OUT_DIR/lightgcn.json"
step ablate 900 "$PY" -m newsbench ablate ${TINY:+-d "$TINY"} --seeds 0 --device "$DEVICE" "${ABLATE_EXTRA[@]}" \
    --results "$OUT_DIR/ablate"

"$PY" - "$OUT_DIR" "$DRY" "$(( $(date +%s) - T0 ))" <<'PYEOF'
import json, re, sys
from pathlib import Path
out, dry, total = Path(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3])
logs = out / "logs"

def read_json(name):
    p = out / name
    return json.loads(p.read_text()) if p.is_file() else None

def last_match(log, pattern):
    p = logs / log
    hits = re.findall(pattern, p.read_text(errors="replace")) if p.is_file() else []
    return hits[-1] if hits else None

steps = []
for line in (logs / "steps.tsv").read_text().splitlines():
    name, rc, secs = line.split("\t")
    steps.append({"step": name, "exit": int(rc), "seconds": int(secs)})
records = []
for p in sorted((out / "ablate" / "runs").glob("*.json")) if (out / "ablate" / "runs").is_dir() else []:
    r = json.loads(p.read_text())
    records.append({"label": r.get("label"), "seed": r["config"].get("seed"), "auc": r["metrics"].get("auc"),
                    "seconds_per_epoch": r["timings"].get("seconds_per_epoch")})
train, amp = read_json("train.json"), read_json("train_amp.json")
figures = {
    "train_s_per_epoch": (train or {}).get("train", {}).get("seconds_per_epoch"),
    "train_amp_s_per_epoch": (amp or {}).get("train", {}).get("seconds_per_epoch"),
    "train_mfu": (train or {}).get("flops", {}).get("mfu"),
    "lightgcn_s_per_epoch": (read_json("lightgcn.json") or {}).get("s_per_epoch"),
    "ablate_runs": len(records),
}
gpu = (logs / "gpu.txt").read_text().strip() if (logs / "gpu.txt").is_file() else None
summary = {
    "mode": "dry-run (CPU, tiny)" if dry else "gpu", "gpu": gpu, "total_seconds": total,
    "ok": all(s["exit"] == 0 for s in steps), "steps": steps,
    "tests": last_match("tests.log", r"(?m)^=*\s*(\d+ (?:passed|skipped|failed|deselected|error).*?)\s*=*$"),
    "figures": figures, "train": train, "train_amp": amp, "lightgcn": read_json("lightgcn.json"),
    "ablate": {"time_line": last_match("ablate.log", r"ablate: (time \(s\): .*)"), "records": records},
}
(out / "gpu_check.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps({k: summary[k] for k in ("mode", "gpu", "total_seconds", "ok", "tests", "figures")}, indent=1))
sys.exit(0 if summary["ok"] else 1)
PYEOF
