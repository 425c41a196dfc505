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
# RePaint: ours vs diffusers' RePaintPipeline on the P2-sized UNet (paper schedule 250/10/10, 2,410 UNet calls per batch)
python3 bench/bench_repaint.py ${REPAINT_ARGS:---paper --check --dtype bf16 --channels-last --compile --batch 16} 2>&1 | grep -v Warning | tee "$OUT/repaint.log"
# generation driver: images/s, peak RSS and peak GPU memory per batch size for the toy generators
python3 bench/bench_generate.py --device cuda ${GENERATE_ARGS:---batch-sizes 1,16,64 --images 64} 2>&1 | grep -v Warning | tee "$OUT/generate.log"
