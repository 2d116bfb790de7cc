#!/bin/sh
# bench/conv.sh — conv2d forward and forward + backward, nabla vs PyTorch, side by side:
# x [32, 64, 32, 32], weight [64, 64, 3, 3], bias, padding 1, float32 (bench/bench_conv.c,
# bench/torch_conv.py).
#
#   make bench/bench_conv && sh bench/conv.sh
#
# Phase 1 (settings): every setting runs once per round, rounds interleaved, each keeping its best.
#   nabla: 1 and 2 threads (fixed), and its default (dynamic threads: every core, fewer while other
#   processes keep them busy). PyTorch: torch.set_num_threads(1) and (2), oneDNN (mkldnn) on and
#   off, OPENBLAS_CORETYPE unset and =Haswell.
# Phase 2 (head to head): each side's best setting by forward + backward time runs alternately,
#   the same number of times (phase 1 gives PyTorch more settings, so more lucky draws on a shared
#   host; phase 2 does not). Reported: best of each, best/best ratio, and the median over the
#   pairs of the ratio of two back-to-back runs (the host's drift cancels).
# Phase 3: the same with nabla and PyTorch on one thread (PyTorch's best 1-thread setting by CPU
#   time), comparing process CPU time: on a host shared with busy processes the wall time mostly
#   measures the waits for a core; the CPU time still includes the cache misses others cause.
# Environment: CONV_ROUNDS (phase 1, default 2), CONV_PAIRS (phase 2, default 6), CONV_REPS
# (timed repeats inside each run, default 5), PYTHON (default /usr/bin/python3), BUILDDIR
# (default .), SRCDIR (default: this script's parent).
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILDDIR=${BUILDDIR:-$(pwd)}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${CONV_ROUNDS:-2}
PAIRS=${CONV_PAIRS:-6}
REPS=${CONV_REPS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-conv.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# run SETTING: one run of a setting, its RESULT lines tagged with the setting's name
run() {
    case $1 in
    nabla-default) "$BUILDDIR/bench/bench_conv" 0 "$REPS" ;;
    nabla-t*) "$BUILDDIR/bench/bench_conv" "${1#nabla-t}" "$REPS" ;;
    torch-*)
        t=$(echo "$1" | sed 's/torch-t\([0-9]*\).*/\1/')
        m=$(echo "$1" | sed 's/.*mkldnn\([01]\).*/\1/')
        case $1 in
        *-haswell) OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=$t "$PYTHON" "$SRCDIR/bench/torch_conv.py" "$t" "$REPS" "$m" ;;
        *) env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS="$t" "$PYTHON" "$SRCDIR/bench/torch_conv.py" "$t" "$REPS" "$m" ;;
        esac 2>/dev/null ;;
    esac | sed -n "s/^RESULT /$1 /p"
}

# best FILE: "setting fwd_ms fwdbwd_ms fwd_cpu_ms fwdbwd_cpu_ms" per setting, each the best of its
# runs, sorted by name
best() {
    awk '{ c = ""; ms = 0; cpu = 0
           for (i = 2; i <= NF; i++) {
               split($i, kv, "="); if (kv[1] == "case") c = kv[2]; if (kv[1] == "ms") ms = kv[2] + 0
               if (kv[1] == "cpu_ms") cpu = kv[2] + 0 }
           k = $1 " " c; if (!(k in b) || ms < b[k]) b[k] = ms; if (!(k in u) || cpu < u[k]) u[k] = cpu; s[$1] = 1 }
         END { for (x in s) printf "%s %.2f %.2f %.2f %.2f\n", x, b[x " fwd"], b[x " fwdbwd"], u[x " fwd"], u[x " fwdbwd"] }' "$1" | sort
}

# duel A B KEY LABEL: PAIRS alternating runs of settings A and B; prints best/best and the paired
# median of B/A for KEY (ms: wall time, cpu_ms: CPU time)
duel() {
    : >"$tmp/duel"
    : >"$tmp/pairs"
    i=1
    while [ "$i" -le "$PAIRS" ]; do # alternate which side goes first
        if [ $((i % 2)) -eq 1 ]; then run "$1" >"$tmp/a"; run "$2" >"$tmp/b"; else run "$2" >"$tmp/b"; run "$1" >"$tmp/a"; fi
        cat "$tmp/a" "$tmp/b" >>"$tmp/duel"
        for c in fwd fwdbwd; do
            a=$(sed -n "s/.*case=$c .*\b$3=\([0-9.]*\).*/\1/p" "$tmp/a"); b=$(sed -n "s/.*case=$c .*\b$3=\([0-9.]*\).*/\1/p" "$tmp/b")
            [ -n "$a" ] && [ -n "$b" ] && echo "$c $a $b" >>"$tmp/pairs"
        done
        i=$((i + 1))
    done
    best "$tmp/duel" >"$tmp/bestd"
    echo
    echo "$4: $1 vs $2, $PAIRS alternating pairs x $REPS reps"
    printf "%-8s %10s %10s %14s %22s\n" case nabla torch "torch/nabla" "paired median (n)"
    for c in fwd fwdbwd; do
        col=2; [ "$c" = fwdbwd ] && col=3
        [ "$3" = cpu_ms ] && col=$((col + 2))
        a=$(grep "^$1 " "$tmp/bestd" | cut -d' ' -f$col); b=$(grep "^$2 " "$tmp/bestd" | cut -d' ' -f$col)
        med=$(awk -v c="$c" '$1 == c { print $3 / $2 }' "$tmp/pairs" | sort -g |
            awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.2f (%d)", v[(NR + 1) / 2], NR; else printf "%.2f (%d)", (v[NR / 2] + v[NR / 2 + 1]) / 2, NR }')
        awk -v c="$c" -v a="$a" -v b="$b" -v m="$med" 'BEGIN { printf "%-8s %10.2f %10.2f %14.2f %22s\n", c, a, b, b / a, m }'
    done
}

NABLA="nabla-default nabla-t1 nabla-t2"
TORCH="torch-t1-mkldnn1 torch-t2-mkldnn1 torch-t1-mkldnn0 torch-t2-mkldnn0"
TORCH="$TORCH torch-t1-mkldnn1-haswell torch-t2-mkldnn1-haswell torch-t1-mkldnn0-haswell torch-t2-mkldnn0-haswell"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for s in $NABLA $TORCH; do run "$s" >>"$tmp/phase1"; done
    r=$((r + 1))
done
best "$tmp/phase1" >"$tmp/best1"
bn=$(grep '^nabla' "$tmp/best1" | sort -g -k3 | head -1 | cut -d' ' -f1)
bt=$(grep '^torch' "$tmp/best1" | sort -g -k3 | head -1 | cut -d' ' -f1)
bt1=$(grep '^torch-t1' "$tmp/best1" | sort -g -k5 | head -1 | cut -d' ' -f1)

echo "conv2d x [32, 64, 32, 32] * w [64, 64, 3, 3] + bias, padding 1, float32"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores (shared; load $(cut -d' ' -f1-3 /proc/loadavg)); $("$PYTHON" -c 'import torch; print("torch", torch.__version__, "mkldnn", torch.backends.mkldnn.is_available())' 2>/dev/null)"
echo
echo "phase 1: every setting, best of $ROUNDS rounds x $REPS reps (ms; cpu = process CPU time, all threads)"
printf "%-28s %10s %12s %10s %12s\n" setting fwd fwd+bwd "fwd cpu" "fwd+bwd cpu"
awk '{ printf "%-28s %10.2f %12.2f %10.2f %12.2f\n", $1, $2, $3, $4, $5 }' "$tmp/best1"
duel "$bn" "$bt" ms "phase 2, wall time, each side's fastest setting"
duel nabla-t1 "$bt1" cpu_ms "phase 3, CPU time of one thread (steadier on a busy host)"
echo "(torch/nabla > 1: nabla is faster)"
