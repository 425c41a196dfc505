#!/usr/bin/env bash
# All paper-scale benchmarks in one call on the GPU machine (device tool), logs under $OUT.
# The machine has torch/timm/accelerate but no fastai stack: wheels travel in .whl/ (see bench/README.md).
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; python3 -c "import torch; print('torch', torch.__version__)"; nproc; } | tee "$OUT/device.txt"
python3 bench/bench_train.py ${TRAIN_ARGS:-} 2>&1 | grep -v Warning | tee "$OUT/train.log"
python3 bench/bench_predict.py ${PREDICT_ARGS:-} 2>&1 | grep -v Warning | tee "$OUT/predict.log"
python3 bench/bench_evaluate.py ${EVAL_ARGS:-} 2>&1 | tee "$OUT/evaluate.log"
