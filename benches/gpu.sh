#!/usr/bin/env bash
# GPU measurements on one CUDA device: NeRV-S at 720p and the best newer architecture (HNeRV at NeRV-S's size).
#
#   bash benches/gpu.sh VIDEO [OUTDIR]
#
# VIDEO is the clip to fit (the paper's: Big Buck Bunny 1280x720, 132 frames; decoding an mp4 needs PyAV);
# without one, a synthetic 1280x720 clip of 132 PNG frames is made. Results (Markdown + JSON + run folders) go to
# OUTDIR (default $OUT, else bench-gpu/). Every check has its own time limit, so one slow check cannot eat the
# others' time. Needs torch with CUDA, numpy, Pillow, safetensors and pytorch-msssim.
#
# Environment (all optional):
#   PYTHON        the interpreter (python3)
#   DEVICE        torch device (cuda); anything else only to try the script itself
#   SCALE         resize factor of the clip (1 = 720p for bunny)
#   EPOCHS        epochs of the full fits (1200, the paper's)
#   FIT_LIMIT     seconds each full fit may take before it is cut short (900); a cut fit reports its epochs,
#                 its PSNR at that point and the time 1200 epochs would take at its measured speed
#   ARCHS         which full fits to run, of "nerv hnerv" (both)
#   HNERV_PARAMS  HNeRV's size: stored values, weights + embeddings (3.2M, NeRV-S's at 720p)
#   HNERV_LR      HNeRV's learning rate (1e-3)
#   VARIANTS      1: also torch.compile / CUDA graphs against the eager step, PSNR per epoch in fp32 / bf16 /
#                 fp16, and the public-code-style loop against nervplayer's (about 5 more minutes)
#
# Reports: seconds per epoch (training), frames per second decoding (batch 1 and 16; fp32 / fp16 / bf16), the
# time to EPOCHS epochs and the PSNR reached, for each architecture. Goals (issue 10): NeRV-S >= 34.2 dB in
# <= 10 minutes on one H100/H200, decoding >= 250 fps at 720p.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SCALE=${SCALE:-1}
EPOCHS=${EPOCHS:-1200}
FIT_LIMIT=${FIT_LIMIT:-900}
ARCHS=${ARCHS:-nerv hnerv}
HNERV_PARAMS=${HNERV_PARAMS:-3.2M}
HNERV_LR=${HNERV_LR:-1e-3}
OUTDIR=${2:-${OUT:-bench-gpu}}
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
REPORT="$OUTDIR/gpu.md"
NERV=("$PY" -m nervplayer.cli.main)

check() {  # check SECONDS CMD...: run with a time limit, append the command and its output to the report
    local limit=$1; shift
    printf '\n### `%s`\n\n' "$*" >>"$REPORT"
    local t0=$SECONDS
    # SIGINT first: a fit cut short stops after its step and keeps its checkpoint and metrics
    timeout -s INT -k 30 "$limit" "$@" 2>>"$OUTDIR/stderr.txt" | tee -a "$REPORT"
    local rc=${PIPESTATUS[0]}
    printf '\n(exit %s, %s s)\n' "$rc" "$((SECONDS - t0))" | tee -a "$REPORT"
}

if [ "$DEVICE" = cuda ]; then
    $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
fi
{ echo "# GPU measurements, $(date -u +%F)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee "$REPORT"

VIDEO=${1:-}
if [ -z "$VIDEO" ]; then
    VIDEO="$OUTDIR/synthetic-720p"
    rm -rf "$VIDEO"
    $PY -c "from pathlib import Path; from nervplayer.cli.bench import synthetic_clip; \
synthetic_clip(Path('$VIDEO'), 132, 720, 1280)"
fi
echo "clip: $VIDEO, scale $SCALE, device $DEVICE" | tee -a "$REPORT"

declare -A MODEL=([nerv]="--preset nerv-s" [hnerv]="--arch hnerv --params $HNERV_PARAMS")
declare -A LR=([nerv]=5e-4 [hnerv]=$HNERV_LR)

# 1. Speed: training s/epoch and decoding fps at batch 1 and 16 in every precision, with the per-layer table.
for arch in $ARCHS; do
    # shellcheck disable=SC2086
    check 120 "${NERV[@]}" bench "$VIDEO" ${MODEL[$arch]} --scale "$SCALE" --device "$DEVICE" --steps 200 \
        --warmup 30 --decode-batch 16 --json "$OUTDIR/bench-$arch.json"
done

# 2. The full fits: EPOCHS epochs of the paper's recipe (warmup + cosine, Fusion6, batch 1, bf16 autocast), an
#    evaluation every 100 epochs; then the time and PSNR they reached (projected to EPOCHS when cut short).
for arch in $ARCHS; do
    rm -rf "$OUTDIR/fit-$arch"
    # shellcheck disable=SC2086
    check "$FIT_LIMIT" "${NERV[@]}" fit "$VIDEO" -o "$OUTDIR/fit-$arch" ${MODEL[$arch]} --lr "${LR[$arch]}" \
        --scale "$SCALE" --epochs "$EPOCHS" --eval-every 100 --checkpoint-every 100 --device "$DEVICE"
    check 30 "$PY" benches/fit_summary.py "$OUTDIR/fit-$arch" --epochs "$EPOCHS" --json "$OUTDIR/fit-$arch.json"
done
if [ "${VARIANTS:-0}" = 1 ]; then
    check 100 "$PY" benches/step_variants.py --size 1280x720 --device "$DEVICE" --rounds 3 --steps 20 \
        --variants base compile graphs
    check 110 "$PY" benches/precision.py "$VIDEO" --epochs 8 --device "$DEVICE" --precision bf16 fp16 \
        --json "$OUTDIR/precision.json"
    check 70 "$PY" benches/compare_public.py "$VIDEO" --epochs 3 --device "$DEVICE" --workers 4 --precision auto \
        --json "$OUTDIR/compare.json"
fi
echo "total ${SECONDS} s" | tee -a "$REPORT"
