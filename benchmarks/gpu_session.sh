#!/usr/bin/env bash
# The checks that need a GPU, as one command for the device tool's short window (15 minutes in
# all, the machine's start included). Results land in $OUT (the device tool brings them back).
#
# Here, before the window (the working tree travels, at most 64 MiB; ../shared does not):
#   echo /.gpu/ >> .git/info/exclude
#   python tools/pack_data.py pack ~/.cache/minivision/data/cifar10-jpeg .gpu/cifar10-jpeg.pack
# There: run(command="bash benchmarks/gpu_session.sh", carry=[".gpu"], timeout_s=540)
# Here, to try it on the CPU first: GPU_SESSION_QUICK=1 OUT=/tmp/gpu-out bash benchmarks/gpu_session.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}
PY=${PYTHON:-python3}
QUICK=${GPU_SESSION_QUICK:-}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MINIVISION_DATA=${MINIVISION_DATA:-/tmp/minivision-data} HF_HUB_OFFLINE=1
step() { echo "== $1 ($(date +%T))" | tee -a "$OUT/steps.txt"; }

step "hardware"
$PY -c "from minivision import lesson; print(lesson.hardware())" | tee "$OUT/hardware.txt"
if [ -f .gpu/cifar10-jpeg.pack ] && [ ! -d "$MINIVISION_DATA/cifar10-jpeg/train" ]; then
    step "unpack CIFAR-10 (JPEG copy)"
    $PY tools/pack_data.py unpack .gpu/cifar10-jpeg.pack "$MINIVISION_DATA/cifar10-jpeg"
fi

step "the CUDA tests (skipped on a CPU)"
timeout 240 $PY -m pytest tests/test_cuda.py tests/test_device_data.py tests/test_precision.py \
    -q -p no:cacheprovider 2>&1 | tee "$OUT/tests.txt"

# Issue 14's target: a whole epoch with data on the device >= 85% of the train step alone.
if [ -n "$QUICK" ]; then
    bench=(--device cpu --train-samples 256 --rounds 1 --threads 1)
else
    dataset=builtin; [ -d "$MINIVISION_DATA/cifar10-jpeg/train" ] && dataset=cifar10
    bench=(--device cuda --model vit_tiny_patch4_32 --dataset "$dataset" --train-samples 50000
           --batch-size 512 --num-workers 8 --rounds 3)
fi
step "loader against step: ${bench[*]}"
timeout 300 $PY benchmarks/device_data.py "${bench[@]}" --json "$OUT/device-data.json" 2>&1 |
    tee "$OUT/device-data.txt"
step "done"
