#!/usr/bin/env bash
# The benchmark suite on one GPU (written for an H200), run once from the
# repository root:
#
#     bash benchmarks/gpu_suite.sh                  # JAX and PyTorch
#     WITH_TF=1 BATCH_SIZE=128 OUT=/tmp/out bash benchmarks/gpu_suite.sh
#     QUICK=1 bash benchmarks/gpu_suite.sh        # JAX, bf16 only
#
# Measures keras-rin on JAX and PyTorch (TensorFlow too with WITH_TF=1) and
# rin-pytorch, on the CIFAR-10 and ImageNet-64 presets, in float32 and
# mixed_bfloat16: training and sampling images/s, first step and compile
# time, GPU peak memory, MFU (against a float32, or bfloat16, matmul on the
# same GPU), and training with rematerialised blocks. About 40 processes;
# expect 30-60 minutes (mostly start-up and compilation, each under
# --timeout). Writes results_gpu.json and results_gpu.md into $OUT
# (default benchmarks/results); re-render the tables afterwards with
#
#     python benchmarks/suite.py --from-json benchmarks/results/results_gpu.json
#
# The machine needs jax[cuda], torch (CUDA) and keras; rin-pytorch is
# measured only where it imports (pip install rin-pytorch==0.8.0 --no-deps,
# einops, beartype, ema-pytorch, accelerate).
set -euo pipefail

export PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false # JAX's peak is what it used
export TF_FORCE_GPU_ALLOW_GROWTH=true
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"

backends=(jax torch)
if [[ "${WITH_TF:-0}" == 1 ]]; then
    backends=(jax tensorflow torch)
fi
# A session's device time is short: QUICK=1 keeps the measurements the
# performance issue asks for first (JAX, ImageNet-64 and CIFAR-10 in bf16,
# training and sampling, remat), about a quarter of the full plan.
configs=(cifar10 imagenet64)
dtypes=(float32 mixed_bfloat16)
if [[ "${QUICK:-0}" == 1 ]]; then
    backends=(jax)
    dtypes=(mixed_bfloat16)
fi
extra=()
if ! python -c "import sys; sys.path.insert(0, 'benchmarks'); \
import lucidrains_throughput as l; l.import_rin_pytorch()" 2>/dev/null; then
    echo "rin-pytorch does not import: measuring keras-rin only"
    extra+=(--no-lucidrains)
fi

nvidia-smi
python - <<'EOF'
import importlib.metadata as m, sys
print("python", sys.version.split()[0])
for p in ("keras", "jax", "jaxlib", "tensorflow", "torch", "rin-pytorch"):
    try:
        print(p, m.version(p))
    except m.PackageNotFoundError:
        pass
EOF

python benchmarks/suite.py \
    --backends "${backends[@]}" \
    --configs "${configs[@]}" \
    --dtypes "${dtypes[@]}" \
    --remat \
    --no-scaling \
    --tag gpu \
    --batch-size "${BATCH_SIZE:-64}" \
    --timeout 900 \
    --output-dir "${OUT:-benchmarks/results}" \
    ${extra[@]+"${extra[@]}"}
