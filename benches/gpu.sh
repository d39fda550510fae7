#!/usr/bin/env bash
# The GPU checks of issue 5 for NeRV-S at 1280x720 on one CUDA GPU (H100 / H200), in under 8 minutes.
#
#   bash benches/gpu.sh [VIDEO] [OUTDIR]
#
# VIDEO: bunny (default .gpu/bigbuckbunny.mp4, then shared/data/bigbuckbunny.mp4; decoding it needs PyAV),
# else a synthetic 1280x720 clip of 132 PNG frames. Results (Markdown + JSON) go to OUTDIR (default $OUT, else
# bench-gpu/). Each check has its own time limit, so one slow check cannot eat the others' time.
# Needs torch with CUDA, numpy, Pillow, safetensors, pytorch-msssim (and av for an mp4). On this project's lent
# GPU machines, pytorch-msssim and av are missing: carry them as wheels, with the clip, from the repo root here:
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu; cp /work/shared/data/bigbuckbunny.mp4 .gpu/
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .gpu pytorch-msssim==1.0.0 av==18.1.0
# and run, carrying .gpu:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/*.whl && \
#     PYTHONPATH=/tmp/site bash benches/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUTDIR=${2:-${OUT:-bench-gpu}}
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
REPORT="$OUTDIR/gpu.md"

check() {  # check SECONDS CMD...: run with a time limit, append the command and its output to the report
    local limit=$1; shift
    printf '\n### `%s`\n\n' "$*" >>"$REPORT"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>>"$OUTDIR/stderr.txt" | tee -a "$REPORT"
    local rc=${PIPESTATUS[0]}
    printf '\n(exit %s, %s s)\n' "$rc" "$((SECONDS - t0))" | tee -a "$REPORT"
}

$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
{ echo "# GPU checks, $(date -u +%F)"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$REPORT"

VIDEO=${1:-}
for v in .gpu/bigbuckbunny.mp4 shared/data/bigbuckbunny.mp4; do
    [ -z "$VIDEO" ] && [ -f "$v" ] && $PY -c "import av" 2>/dev/null && VIDEO=$v
done
if [ -z "$VIDEO" ]; then
    VIDEO="$OUTDIR/synthetic-720p"
    rm -rf "$VIDEO"
    $PY -c "from pathlib import Path; from nervplayer.cli.bench import synthetic_clip; \
synthetic_clip(Path('$VIDEO'), 132, 720, 1280)"
fi
echo "clip: $VIDEO" | tee -a "$REPORT"

# 1. Training and decoding speed, per-layer table, peak memory, FLOP/s: auto (bf16), fp16 + loss scaling, fp32.
check 75 $PY -m nervplayer.cli.main bench "$VIDEO" --preset nerv-s --device cuda --steps 200 --warmup 30 \
    --decode-batch 16 --json "$OUTDIR/bench-auto.json"
check 40 $PY -m nervplayer.cli.main bench "$VIDEO" --preset nerv-s --device cuda --precision fp16 --steps 150 \
    --warmup 30 --no-layers --no-decode --json "$OUTDIR/bench-fp16.json"
check 40 $PY -m nervplayer.cli.main bench "$VIDEO" --preset nerv-s --device cuda --precision fp32 --steps 100 \
    --warmup 20 --no-layers --decode-batch 16 --json "$OUTDIR/bench-fp32.json"
# 2. What pays on CUDA: torch.compile, CUDA graphs (mode="reduce-overhead"), against the fit's step (fused Adam).
check 100 $PY benches/step_variants.py --size 1280x720 --device cuda --rounds 3 --steps 20 \
    --variants base compile graphs
# 3. PSNR per epoch: fp32 (two seeds), bf16, fp16, same clip and schedule.
check 110 $PY benches/precision.py "$VIDEO" --epochs 8 --device cuda --precision bf16 fp16 \
    --json "$OUTDIR/precision.json"
# 4. The public-code-style loop (PIL PNG decoding with 4 workers, fp32, metrics every step, checkpoint every
#    epoch) against nervplayer's, same model and epochs.
check 70 $PY benches/compare_public.py "$VIDEO" --epochs 3 --device cuda --workers 4 --precision auto \
    --json "$OUTDIR/compare.json"
echo "total ${SECONDS} s" | tee -a "$REPORT"
