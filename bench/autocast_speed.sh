#!/bin/sh
# bench/autocast_speed.sh — chargpt train speed with --dtype bfloat16 (autocast) against float32,
# the default char GPT, 1 thread, interleaved repeats (float32, bfloat16, float32, ...) so a
# changing load on a shared machine hits both alike. Per run: the median tokens/s of log.csv's
# rows after the first 5 iterations (training steps only); prints each pair, the median of each
# dtype, the bf16/fp32 ratio, the CPU model with its bf16-related flags and the bf16 GEMM kernel in
# force (asked of the library: bench/bench_train --print-kernels, under the same NB_KERNELS).
#
#   sh bench/autocast_speed.sh            (env: CHARGPT [./chargpt], DATA [data/tinyshakespeare.txt],
#                                          REPS [3], ITERS [40], THREADS [1],
#                                          BENCH_TRAIN [bench/bench_train beside CHARGPT])
set -u
CHARGPT=${CHARGPT:-./chargpt}
DATA=${DATA:-data/tinyshakespeare.txt}
REPS=${REPS:-3}
ITERS=${ITERS:-40}
THREADS=${THREADS:-1}
BENCH_TRAIN=${BENCH_TRAIN:-$(dirname "$CHARGPT")/bench/bench_train}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/autocast_speed.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
flags=$(grep -m1 -o -w -E 'avx2|avx512f|avx512_bf16|amx_bf16|amx_tile' /proc/cpuinfo 2>/dev/null | sort -u | tr '\n' ' ')
echo "CPU: ${cpu:-unknown}; flags: ${flags:-none of avx2/avx512f/avx512_bf16/amx}"
kern=$("$BENCH_TRAIN" --print-kernels 2>/dev/null) # "kernels=SET bf16_kernel=KIND"
kset=$(echo "$kern" | sed -n 's/.*kernels=\([^ ]*\).*/\1/p')
bk=$(echo "$kern" | sed -n 's/.*bf16_kernel=\([^ ]*\).*/\1/p')
case $bk in
amx) how="AMX-BF16 tiles (tdpbf16ps), fp32 accumulation" ;;
avx512bf16) how="AVX512_BF16 dot products (vdpbf16ps), fp32 accumulation" ;;
rounded-fp32) how="the float32 kernels on operands rounded to bf16 while packing (no bf16 instructions used)" ;;
*) how="" ;;
esac
if [ -n "$bk" ]; then
    echo "kernels: set ${kset:-?}${NB_KERNELS:+ (NB_KERNELS=$NB_KERNELS)}; bf16 GEMM $bk${how:+: $how}"
else
    echo "kernels: unknown ($BENCH_TRAIN --print-kernels did not answer: make bench/bench_train)"
fi

# median tokens/s of log.csv rows with iter >= 5
med() { awk -F, 'NR > 1 && $1 >= 5 { print $5 }' "$1/log.csv" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
run() { # run DTYPE DIR
    "$CHARGPT" train --data "$DATA" --out-dir "$2" --threads "$THREADS" --max-iters "$ITERS" --eval-interval 100000 \
        --eval-iters 1 --quiet --overwrite --dtype "$1" >/dev/null 2>"$2.err" || { cat "$2.err"; exit 1; }
    med "$2"
}
: >"$tmp/f32"
: >"$tmp/b16"
for r in $(seq 1 "$REPS"); do
    a=$(run float32 "$tmp/f$r")
    b=$(run bfloat16 "$tmp/b$r")
    echo "$a" >>"$tmp/f32"
    echo "$b" >>"$tmp/b16"
    echo "repeat $r: float32 $a tok/s, bfloat16 $b tok/s"
done
mf=$(sort -n "$tmp/f32" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
mb=$(sort -n "$tmp/b16" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
awk -v f="$mf" -v b="$mb" -v t="$THREADS" 'BEGIN { printf "median: float32 %d tok/s, bfloat16 %d tok/s, bf16/fp32 %.2fx (%d thread(s))\n", f, b, b / f, t }'
