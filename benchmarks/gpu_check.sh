#!/usr/bin/env bash
# The GPU check, ready for the day a CUDA device is lent (budget: under 10 minutes on one H100).
#
#   SER_AUDIT_RAVDESS=/path/to/ravdess bash benchmarks/gpu_check.sh
#
# 1. trains one RAVDESS fold of macnn_icasa + AAM (the paper recipe, fold 0) on the GPU;
# 2. runs the paper audit of the shipped checkpoints (macnn, macnn_icasa, ifn) with --device cuda;
# 3. runs the GPU-marked tests (pytest -m gpu);
# and writes the timings and the CPU-vs-GPU prediction agreement (against the committed CPU run,
# results/ravdess/predictions.csv.gz: same data, seed and checkpoints) to one file,
# $OUT/gpu_check.json ($OUT: the device tool's output folder, else work/gpu_check/).
#
# Settings (environment): DEVICE (cuda), DATA (the RAVDESS copy), MODELS (the shipped
# checkpoint folders), SCENARIO (paper; words after the name are options of `audit run`), REFERENCE (the CPU predictions to agree with), EPOCHS
# (60), TRAIN_MINUTES (4: --time-budget of the training fold, which stops before an epoch that
# would overrun), WORKERS (CPU count), PYTEST_ARGS (tests: the folders searched for GPU-marked
# tests). tests/engine/test_gpu_check.py dry-runs this script on the CPU with a synthetic
# corpus: DEVICE=cpu and the other variables pointing at it.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
DEVICE="${DEVICE:-cuda}"
DATA="${DATA:-${SER_AUDIT_RAVDESS:-$ROOT/../shared/data/ravdess}}"
MODELS="${MODELS:-results/checkpoints/ravdess/macnn results/checkpoints/ravdess/macnn_icasa results/checkpoints/ravdess/ifn}"
SCENARIO="${SCENARIO:-paper}"
REFERENCE="${REFERENCE:-results/ravdess/predictions.csv.gz}"
EPOCHS="${EPOCHS:-60}"
TRAIN_MINUTES="${TRAIN_MINUTES:-4}"
WORKERS="${WORKERS:-$(nproc)}"
PYTEST_ARGS="${PYTEST_ARGS:-tests}"
DEST="${OUT:-$ROOT/work/gpu_check}"
WORK="$DEST/work"
mkdir -p "$WORK"
LOG="$DEST/gpu_check.log"
: > "$LOG"

now() { "$PY" -c 'import time; print(f"{time.time():.3f}")'; }
step() {  # step NAME CMD...: run, log, record wall seconds and exit code in $WORK/NAME.time
  local name="$1"; shift
  echo "== $name: $*" | tee -a "$LOG"
  local t0 rc=0
  t0="$(now)"
  "$@" >>"$LOG" 2>&1 || rc=$?
  echo "{\"wall_s\": $("$PY" -c "print(round($(now) - $t0, 1))"), \"exit_code\": $rc}" > "$WORK/$name.time"
  echo "   exit $rc" | tee -a "$LOG"
}

if [ "$DEVICE" != "cpu" ]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: set DEVICE=cpu for a dry run')"
fi

# shellcheck disable=SC2086  # MODELS is a list of folders
step train "$PY" -m audit train --recipe paper --model macnn_icasa --aug aam --fold 0 \
  --epochs "$EPOCHS" --time-budget "$TRAIN_MINUTES" --device "$DEVICE" --data "$DATA" \
  --out "$WORK/train" --force
# shellcheck disable=SC2086
step audit "$PY" -m audit run $SCENARIO --data "$DATA" --models $MODELS --device "$DEVICE" \
  --workers "$WORKERS" --out "$WORK/audit" --no-cache --no-report --compress-predictions
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of paths
step tests env SER_AUDIT_RAVDESS="$DATA" "$PY" -m pytest -q -p no:randomly -m gpu $PYTEST_ARGS

"$PY" "$ROOT/benchmarks/gpu_agreement.py" --device "$DEVICE" --work "$WORK" --reference "$REFERENCE" \
  --out "$DEST/gpu_check.json"
echo "wrote $DEST/gpu_check.json (log: $LOG)"
if grep -q '"exit_code": [1-9]' "$WORK"/*.time; then
  echo "a step failed: see $LOG" >&2
  exit 1
fi
