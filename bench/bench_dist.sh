#!/bin/sh
# bench/bench_dist.sh — data-parallel training throughput of `chargpt train` (the default char GPT:
# 4 layers, 128 channels, block 64, batch 12 per rank, 804,096 parameters) on this machine:
#   1 process x 1 thread   |  2 MPI ranks x 1 thread (batch 12 each; and 6 each: the same global
#   batch)  |  1 process x 2 threads.  tokens/s counts every rank's tokens.
#
#   make bench-dist                       (part of `make bench` too)
#   BUILDDIR=. sh bench/bench_dist.sh     (after make chargpt)
# Environment: BENCH_DIST_ITERS=N timed steps per run (default 40; the first 5 are warm-up and not
# counted), MPIRUN=... the launcher (default mpirun), DATA=FILE the text (default
# data/tinyshakespeare.txt if present, else a generated 1 MB text).
# The median of the per-step tokens/s of log.csv is reported (rank 0's wall time per step: the
# all-reduce included). Runs without MPI print a note and the one-process rows only.
# shellcheck disable=SC2086 # $2, $3, $MPIFLAGS, $MODEL: word splitting intended
set -u

BUILDDIR=${BUILDDIR:-$(pwd)}
CHARGPT="$BUILDDIR/chargpt"
MPIRUN=${MPIRUN:-mpirun}
ITERS=${BENCH_DIST_ITERS:-40}
[ -x "$CHARGPT" ] || { echo "bench_dist.sh: $CHARGPT is missing: make chargpt" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-bench-dist.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

DATA=${DATA:-$BUILDDIR/data/tinyshakespeare.txt}
if [ ! -s "$DATA" ]; then
    DATA=$tmp/data.txt
    awk 'BEGIN { s = 7
        split("the a one old young brave quiet king queen lord lady man woman child knight", W, " ")
        for (i = 0; i < 40000; i++) { s = (s * 75 + 74) % 65537; printf "%s speaks to the %s.\n", W[1 + s % 15], W[1 + (s / 15) % 15] } }' >"$DATA"
fi

MODEL="--max-iters $ITERS --eval-interval 1000000 --eval-iters 1 --quiet"
# median tokens/s of log.csv rows after the warm-up (iter >= 5)
median_tps() {
    awk -F, 'NR > 1 && $1 >= 5 { print $5 }' "$1/log.csv" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# run NAME PREFIX OPTIONS: one `PREFIX chargpt train ... OPTIONS` into $tmp/NAME (PREFIX: the
# launcher or nothing); prints the median tokens/s, or "failed" (the tail of its output to stderr)
run() {
    name=$1
    if $2 "$CHARGPT" train --data "$DATA" --out-dir "$tmp/$name" $MODEL $3 >"$tmp/$name.out" 2>&1; then
        median_tps "$tmp/$name"
    else
        echo "failed"
        sed -e 's/^/    | /' "$tmp/$name.out" | tail -n 5 >&2
    fi
}

have_mpi=no
MPIFLAGS=
if command -v "$MPIRUN" >/dev/null 2>&1; then
    if "$MPIRUN" --version 2>&1 | grep -q "Open MPI"; then
        MPIFLAGS="--bind-to core"
        [ "$(id -u)" -eq 0 ] && MPIFLAGS="$MPIFLAGS --allow-run-as-root"
        : "${OMPI_MCA_btl_vader_single_copy_mechanism:=none}"
        export OMPI_MCA_btl_vader_single_copy_mechanism
    fi
    # is chargpt's library built with MPI? a built-without-MPI chargpt refuses 2 ranks at once
    if "$MPIRUN" $MPIFLAGS -np 2 "$CHARGPT" train --data "$DATA" --out-dir "$tmp/probe" --max-iters 0 \
        --eval-iters 1 --n-layer 1 --n-embd 16 --n-head 1 --quiet >"$tmp/probe.out" 2>&1; then
        have_mpi=yes
    fi
fi

echo "bench_dist: chargpt train, default char GPT (804,096 parameters), $ITERS steps, median tokens/s after 5"
echo "machine: $(nproc) cores, load average$(uptime | sed 's/.*load average//')"
echo
printf '%-44s %10s %14s\n' "configuration" "tokens/s" "tokens/step"
t1=$(run p1t1 "" "--threads 1")
printf '%-44s %10s %14s\n' "1 process x 1 thread (batch 12)" "$t1" 768
if [ "$have_mpi" = yes ]; then
    t2=$(run r2t1 "$MPIRUN $MPIFLAGS -np 2" "--threads 1")
    printf '%-44s %10s %14s\n' "2 MPI ranks x 1 thread (batch 12 each)" "$t2" 1536
    t3=$(run r2b6 "$MPIRUN $MPIFLAGS -np 2" "--threads 1 --batch-size 6")
    printf '%-44s %10s %14s\n' "2 MPI ranks x 1 thread (batch 6 each)" "$t3" 768
else
    echo "(2 MPI ranks: skipped: chargpt is built without MPI or no mpirun; configure --with-mpi)"
    t2=-
fi
t4=$(run p1t2 "" "--threads 2")
printf '%-44s %10s %14s\n' "1 process x 2 threads (batch 12)" "$t4" 768
echo
if [ "$have_mpi" = yes ]; then
    awk -v a="$t1" -v b="$t2" -v c="$t4" 'BEGIN { if (a > 0 && b > 0 && c > 0)
        printf "2 ranks / 1 rank: %.2fx;  2 ranks / 2 threads: %.2fx\n", b / a, b / c }'
fi
echo "all-reduce volume per step (ring, float32): 4 B x 804,096 x 2(N-1)/N = 3.2 MB per rank at N = 2"
