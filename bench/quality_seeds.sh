#!/bin/sh
# bench/quality_seeds.sh — the default char GPT run (nanoGPT's CPU shakespeare_char config, 2000
# iterations) with several seeds, nabla and PyTorch side by side: the val loss logged at iter 2000
# (20 random batches, the number nanoGPT reports) and the mean loss of the final weights over every
# non-overlapping 64-char window of the val split (deterministic). One seed is one sample of a noisy
# quantity; this shows the spread and whether nabla's distribution matches PyTorch's.
#
#   sh bench/quality_seeds.sh [SEED ...]        (default seeds: 1 2 3 4)
#
# Environment: CHARGPT (./chargpt), DATA (data/tinyshakespeare.txt), JOBS (parallel runs, default 2;
# each run uses 1 thread), OUT (directory for the runs, default a temp dir that is removed),
# BENCH_TORCH=0 (nabla only), PYTHON (/usr/bin/python3), GELU (tanh, the default, or erf: both sides
# use that GELU).
# Takes ~3-4 min per nabla run and ~5 min per PyTorch run on one core of the reference machine.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
CHARGPT=${CHARGPT:-./chargpt}
DATA=${DATA:-data/tinyshakespeare.txt}
JOBS=${JOBS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
SEEDS=${*:-1 2 3 4}
[ -x "$CHARGPT" ] || { echo "quality_seeds.sh: $CHARGPT not found (make chargpt)" >&2; exit 1; }
[ -r "$DATA" ] || { echo "quality_seeds.sh: $DATA not found (models/fetch_data.sh)" >&2; exit 1; }
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT" || exit 1
else
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/nabla-seeds.XXXXXX") || exit 1
    trap 'rm -rf "$OUT"' EXIT INT TERM
fi
torch=1
if [ "${BENCH_TORCH:-1}" = 0 ] || ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    torch=0
    echo "(PyTorch side skipped: BENCH_TORCH=0 or $PYTHON cannot import torch)"
fi

# One job per line: "nb SEED" or "pt SEED"; each writes $OUT/<kind>_<seed>.res = "val2000 full".
jobs=""
for s in $SEEDS; do
    jobs="$jobs nb:$s"
    [ "$torch" = 1 ] && jobs="$jobs pt:$s"
done
GELU=${GELU:-tanh}
export CHARGPT DATA OUT PYTHON SRCDIR GELU
echo "$jobs" | tr ' ' '\n' | grep . | xargs -P "$JOBS" -I{} sh -c '
    kind=${1%%:*} s=${1#*:}
    if [ "$kind" = nb ]; then
        d=$OUT/nb_$s
        "$CHARGPT" train --data "$DATA" --out-dir "$d" --seed "$s" --threads 1 --quiet \
            --always-save-checkpoint --gelu "$GELU" >"$d.log" 2>&1 || { echo "nabla seed $s failed: see $d.log" >&2; exit 0; }
        v=$(awk -F, "\$1 == 2000 { print \$3 }" "$d/log.csv")
        f=$("$CHARGPT" eval --checkpoint "$d/ckpt.safetensors" --data "$DATA" | cut -d" " -f2)
    else
        d=$OUT/pt_$s
        OPENBLAS_NUM_THREADS=1 "$PYTHON" "$SRCDIR/bench/torch_chargpt.py" "$DATA" --seed "$s" --threads 1 --gelu "$GELU" \
            >"$d.log" 2>&1 || { echo "PyTorch seed $s failed: see $d.log" >&2; exit 0; }
        v=$(sed -n "s/^step 2000: .*val loss \([0-9.]*\).*/\1/p" "$d.log")
        f=$(sed -n "s/^val_loss \([0-9.]*\) .*/\1/p" "$d.log")
    fi
    echo "$v $f" >"$d.res"
    echo "done: $kind seed $s: val@2000 $v, full split $f" >&2
' sh {}

printf '\n%-6s %14s %14s %14s %14s\n' seed "nabla val@2000" "nabla full" "torch val@2000" "torch full"
for s in $SEEDS; do
    nb=$(cat "$OUT/nb_$s.res" 2>/dev/null || echo "- -")
    pt=$(cat "$OUT/pt_$s.res" 2>/dev/null || echo "- -")
    # shellcheck disable=SC2086
    printf '%-6s %14s %14s %14s %14s\n' "$s" $nb $pt
done | tee "$OUT/table"
awk 'function st(i,  m, v) { if (n[i] == 0) return "-"; m = sum[i] / n[i]
         v = n[i] > 1 ? (sq[i] - n[i] * m * m) / (n[i] - 1) : 0; return sprintf("%.4f+-%.4f", m, sqrt(v > 0 ? v : 0)) }
     { for (i = 2; i <= 5; i++) if ($i != "-") { n[i]++; sum[i] += $i; sq[i] += $i * $i } }
     END { printf "%-6s %14s %14s %14s %14s\n", "mean", st(2), st(3), st(4), st(5) }' "$OUT/table"
