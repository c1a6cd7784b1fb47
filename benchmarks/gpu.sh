#!/usr/bin/env bash
# The GPU benchmarks in one call of a lent GPU machine (at most 9 minutes of commands):
# bench_gpu.py (the peak, bf16 / TF32 / channels-last / torch.compile / CUDA graphs, each family
# of the paper's grid and its GPU-hours), then bench_train.py (rdframe against a plain loop and
# pythae) and bench_iwae.py (rdframe's IWAE against a per-example loop and pythae) on CUDA.
# That machine has PyTorch and Lightning (Python 3.12) but no package registry and no data
# sets, so what it lacks travels as wheels and the images are random binary arrays.
#
#   bash benchmarks/gpu.sh fetch   # here: wheels into .whl/ (kept out of git by .git/info/exclude)
#   bash benchmarks/gpu.sh run     # there, through the device tool with carry [".whl"]:
#                                  # JSON and a log under $OUT (default benchmarks/results)
set -euo pipefail
cd "$(dirname "$0")/.."
PURE=(hydra-core==1.3.8 omegaconf==2.3.1 antlr4-python3-runtime==4.9.3 zuko==1.6.0 pythae==0.1.2
      imageio==2.38.2 pydantic==2.14.4 annotated-types==0.8.0 typing-inspection==0.4.5)
BINARY=(pydantic-core==2.50.5)   # built for the machine's CPython 3.12

case "${1:-}" in
fetch)
    grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    python3 -m pip wheel --quiet --no-deps -w .whl "${PURE[@]}"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_17_x86_64 -d .whl "${BINARY[@]}"
    du -sh .whl
    ;;
run)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 WANDB_MODE=disabled
    out="${OUT:-$PWD/benchmarks/results}"
    cd benchmarks
    bench() {  # one benchmark, its output logged; a failure is logged and the next one runs
        timeout "$@" 2>&1 | tee -a "$out/gpu.log" || echo "failed ($?): $*" | tee -a "$out/gpu.log"
    }
    nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$out/gpu.log"
    bench 360 python3 bench_gpu.py --out "$out/gpu-cuda.json"
    bench 100 python3 bench_train.py --device cuda --random-images --steps 300 --repeats 5 \
        --methods rdframe_model rdframe_lightning lightning_unchecked pythae rdframe_model_vamp \
        rdframe_lightning_vamp pythae_vamp --out "$out/train_cuda.json"
    bench 80 python3 bench_iwae.py --device cuda --random-images --examples 500 \
        --samples 100 1000 --out "$out/iwae_cuda.json"
    ;;
*)
    echo "usage: bash benchmarks/gpu.sh fetch|run" >&2
    exit 2
    ;;
esac
