#!/usr/bin/env bash
# One prepared run on a GPU machine (the device tool): the whole test suite on
# CuPy, every example with --device cuda, then the GPU benchmark table.
# Logs and results go under $OUT. Time limits (seconds) per phase:
#   T_TESTS (tests and examples run side by side), T_BENCH (0: no benchmarks).
# WORKERS: pytest-xdist processes (14). EXAMPLES=0 skips the examples; PROFILE_STEPS=1 adds
# cProfiles of GPT/ResNet steps. HYPOTHESIS_PROFILE: quick (default; 5 examples a test).
# Seen on an H200 (2026-11-30): the suite (5200 tests) in 133 s with 14 workers, the examples
# beside it; run_all over 100 s (stopped at 100 s in its last part, GPT-2 small).
# Usage, from the repository root:  OUT=/tmp/gpu bash benchmarks/gpu_check.sh
set -u
OUT=${OUT:-/tmp/tinynet_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD CI=true
export CUPY_CACHE_DIR=$PWD/.cache/cupy_kernels   # compiled kernels, carried between runs
mkdir -p "$CUPY_CACHE_DIR" runs
PY=${PY:-python3}
T_TESTS=${T_TESTS:-240}
T_BENCH=${T_BENCH:-240}
PROFILE=${HYPOTHESIS_PROFILE:-quick}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
  $PY -c "import cupy, numpy, sys; print('python', sys.version.split()[0], 'cupy', cupy.__version__, 'numpy', numpy.__version__)"
  $PY -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
  nproc; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

END=$((SECONDS + T_TESTS))
ex() {  # one example, stopped at 90 s or at the end of the phase
  local t=$((END - SECONDS)); [ $t -gt 90 ] && t=90; [ $t -lt 1 ] && return
  echo "+ $* (limit $t s)"; timeout $t $PY "$@" --device cuda; echo "+ exit $?"
}
examples() {
  ex examples/mlp_from_equations.py --epochs 3
  ex examples/train_mlp.py --epochs 3 --out runs/mlp
  ex examples/train_resnet.py --out runs/resnet   # the main job, default 12 epochs
  ex examples/saliency.py --weights runs/resnet/resnet18.safetensors --out runs/saliency
  ex examples/train_gpt.py --max-steps 300 --eval-interval 100 --out runs/gpt.safetensors
  ex examples/generate.py --checkpoint runs/gpt.safetensors --max-new-tokens 60 --attention-png runs/attn.png
  ex examples/finetune_gpt.py --checkpoint runs/gpt.safetensors --steps 30 --out-dir runs/ft
  ex examples/finetune_resnet.py --pretrain-epochs 2 --epochs 1 --out runs/finetune
}
if [ "${EXAMPLES:-1}" = 1 ]; then examples > "$OUT/examples.log" 2>&1 & fi

HYPOTHESIS_PROFILE=$PROFILE timeout -s INT $T_TESTS $PY -m pytest --backend=cupy -q -n ${WORKERS:-14} --durations=20 \
  -p no:cacheprovider --timeout 120 -rfE --tb=short --junitxml="$OUT/junit.xml" \
  > "$OUT/tests.log" 2>&1
echo "pytest exit $?" >> "$OUT/tests.log"
wait
[ -f "$OUT/examples.log" ] && grep -aE "^\+ |accuracy|val|Error|error|peak" "$OUT/examples.log" | cut -c1-160 | tail -45

if [ "$T_BENCH" -gt 0 ]; then
  timeout $T_BENCH $PY benchmarks/run_all.py --device cuda --out "$OUT/RESULTS_cuda.md" \
    > "$OUT/bench.log" 2>&1
  echo "run_all exit $?" >> "$OUT/bench.log"
fi
if [ "${PROFILE_STEPS:-0}" = 1 ]; then   # where a GPU step's host time goes
  { timeout 60 $PY benchmarks/bench_gpt.py --device cuda --framework tinynet --repeat 3 --profile
    timeout 60 $PY benchmarks/bench_resnet.py --device cuda --framework tinynet --only resnet18 \
      --repeat 3 --profile; } > "$OUT/profile.log" 2>&1
fi
tar czf "$OUT/cupy_kernels.tgz" -C .cache cupy_kernels 2>/dev/null
echo "=== bench (tail)"; tail -c 3500 "$OUT/bench.log" 2>/dev/null
echo "=== tests (tail)"; tail -c 5000 "$OUT/tests.log"
