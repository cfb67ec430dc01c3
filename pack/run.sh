#!/bin/sh
# simclr-ts GPU check: runs as it is on a machine with no Deno, no network and no package
# registry. It unpacks the Deno binary beside itself, then runs, on Deno's WebGPU:
#   1. probe   what WebGPU adapter Deno finds                      -> probe.json
#   2. verify  every kernel and 3 training steps vs the reference  -> verify.json, verify.log
#   3. bench   images/s per model on webgpu and native             -> bench.json, bench.log
#   4. train   SimCLR for a few minutes on the CIFAR-10 slice      -> train-run/, train.log
# and writes summary.json (exit code and seconds of each step) and system.json into the output
# folder. Usage:
#   sh run.sh [OUTPUT_DIR]          (default: $OUT, else ./out beside this script)
# Settings (environment):
#   SIMCLR_CHECK_QUICK=1            tiny verify/bench/train, for CI on a CPU adapter (lavapipe)
#   SIMCLR_CHECK_TRAIN_MINUTES=N    training minutes (default 3)
# Exit code: 0 when every step passed, 1 otherwise; each step runs even if an earlier one failed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${1:-${OUT:-$HERE/out}}
QUICK=${SIMCLR_CHECK_QUICK:-0}
MINUTES=${SIMCLR_CHECK_TRAIN_MINUTES:-3}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
cd "$HERE" || exit 1

# Deno: xz-compressed in the pack; python3's lzma is the fallback where xz-utils is missing.
if [ ! -x "$HERE/deno" ]; then
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$HERE/deno.xz" >"$HERE/deno.part" || exit 1
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$HERE/deno.xz" "$HERE/deno.part" || exit 1
  else
    echo "run.sh: need xz (Debian: xz-utils) or python3 to unpack deno.xz" >&2
    exit 1
  fi
  chmod +x "$HERE/deno.part" && mv "$HERE/deno.part" "$HERE/deno"
fi
DENO="$HERE/deno"
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
# Without g++ the native backend loads the prebuilt library for this CPU's x86-64 level.
export SIMCLR_NATIVE_PREBUILT="$HERE/native"

run_js() { "$DENO" run -A --no-config --no-remote --no-npm "$@"; }

# system.json: what the machine has, for reading the results without access to it.
{
  printf '{\n  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '  "uname": "%s",\n' "$(uname -a | sed 's/"/\\"/g')"
  printf '  "deno": "%s",\n' "$DENO"
  printf '  "deno_version": "%s",\n' "$("$DENO" --version | head -n 1)"
  printf '  "cpus": %s,\n' "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)"
  printf '  "gxx": "%s",\n' "$( (g++ --version 2>/dev/null || echo none) | head -n 1 | sed 's/"/\\"/g')"
  if command -v nvidia-smi >/dev/null 2>&1; then
    smi=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)
  else
    smi="no nvidia-smi"
  fi
  printf '  "nvidia_smi": "%s",\n' "$(echo "$smi" | head -n 8 | tr '\n' ';' | sed 's/"/\\"/g')"
  icds=""
  for f in /usr/share/vulkan/icd.d/* /etc/vulkan/icd.d/*; do [ -e "$f" ] && icds="$icds $f"; done
  printf '  "vulkan_icds": "%s"\n}\n' "${icds# }"
} >"$OUT_DIR/system.json"

if [ "$QUICK" = "1" ]; then
  VERIFY_ARGS="--quick --models small"
  BENCH_ARGS="--models small --steps 1 --batch 2 --matmul 0"
  TRAIN_ARGS="--limit 64 --batch-size 16 --epochs 1 --width 4 --knn-every 0"
else
  VERIFY_ARGS=""
  BENCH_ARGS="--steps 3"
  TRAIN_ARGS="--limit 1600 --epochs 200 --knn-every 10 --max-minutes $MINUTES"
fi

STEPS=""
FAILED=0
# step NAME LOGFILE CMD...: runs CMD with output to LOGFILE (and the terminal), records its time.
step() {
  name=$1
  log=$2
  shift 2
  echo "== $name: $*" >&2
  start=$(date +%s)
  { "$@" 2>&1; echo "$?" >"$OUT_DIR/.$name.rc"; } | tee "$log" >&2
  code=$(cat "$OUT_DIR/.$name.rc")
  rm -f "$OUT_DIR/.$name.rc"
  seconds=$(($(date +%s) - start))
  [ "$code" = "0" ] || FAILED=1
  echo "== $name: exit $code after ${seconds}s" >&2
  STEPS="$STEPS${STEPS:+,}
    {\"name\": \"$name\", \"exit\": $code, \"seconds\": $seconds, \"log\": \"$(basename "$log")\"}"
}

step probe "$OUT_DIR/probe.log" sh -c "\"$DENO\" run -A --no-config --no-remote --no-npm \"$HERE/probe.js\" >\"$OUT_DIR/probe.json\""
# shellcheck disable=SC2086
step verify "$OUT_DIR/verify.log" run_js "$HERE/verify.js" --engine webgpu \
  --json "$OUT_DIR/verify.json" $VERIFY_ARGS
# shellcheck disable=SC2086
step bench "$OUT_DIR/bench.log" run_js "$HERE/bench.js" --backends webgpu,native \
  --json "$OUT_DIR/bench.json" $BENCH_ARGS
rm -rf "$OUT_DIR/train-run"
# shellcheck disable=SC2086
step train "$OUT_DIR/train.log" run_js "$HERE/train.js" --backend gpu --engine webgpu \
  --data "$HERE/data/cifar-10-batches-bin" --out "$OUT_DIR/train-run" $TRAIN_ARGS

printf '{\n  "quick": %s,\n  "passed": %s,\n  "steps": [%s\n  ]\n}\n' \
  "$([ "$QUICK" = "1" ] && echo true || echo false)" \
  "$([ "$FAILED" = "0" ] && echo true || echo false)" "$STEPS" >"$OUT_DIR/summary.json"
echo "run.sh: results in $OUT_DIR (summary.json)" >&2
exit "$FAILED"
