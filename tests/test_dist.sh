#!/bin/sh
# tests/test_dist.sh — data-parallel training over MPI, with 2 ranks on this machine:
#   the library layer (tests/test_dist under mpirun -np 2: collectives, N ranks == N accumulated
#   micro-batches, identical weights after every step) and `chargpt train` under mpirun (2 ranks x
#   batch B == 1 process x 2 micro-batches of B, rank 0 alone writes files, resume with the same
#   N, --debug-dist, an interrupt on one rank stops both).
# Run from the top build directory (as `make check` does). Prints one line per check and
# "N passed, M failed"; exit 0 pass, 1 failure, 77 skip: MPI not built ("SKIPPED: MPI not built").
# MPIRUN (set by make check from configure) names the launcher; Open MPI gets --oversubscribe
# (more ranks than cores is fine here) and, as root (CI containers), --allow-run-as-root.

TEST_DIST=${TEST_DIST:-./tests/test_dist}
CHARGPT=${CHARGPT:-./chargpt}
MPIRUN=${MPIRUN:-mpirun}
LC_ALL=C
export LC_ALL
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY
if [ ! -x "$TEST_DIST" ] || [ ! -x "$CHARGPT" ]; then
    echo "SKIP: $TEST_DIST or $CHARGPT not built (make tests/test_dist chargpt)"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_dist.XXXXXX") || exit 1
bgpid=
cleanup() {
    [ -n "$bgpid" ] && kill "$bgpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass=0 fail=0
. "$(dirname "$0")/check_lib.sh" # ok, bad, check, say, fails_with, near
. "$(dirname "$0")/skip_lib.sh" # nb_skip, nb_skip_summary
finish() {
    echo "$pass passed, $fail failed"
    nb_skip_summary && [ "$fail" -eq 0 ]
    exit $?
}

# ---- 1. one process: the world-size-1 paths (also without MPI) ------------------------------------
check "1 tests/test_dist as one process (no launcher): every collective is the identity" "$TEST_DIST"

if [ "$("$TEST_DIST" --mpi-built)" != yes ]; then
    nb_skip tool:mpi "MPI not built (configure found no MPI; apt-get install libopenmpi-dev openmpi-bin, then" \
        "./configure --with-mpi): the 2-rank checks did not run"
    echo "$pass passed, $fail failed"
    nb_skip_summary && [ "$fail" -eq 0 ] || exit 1
    echo "SKIPPED: MPI not built"
    exit 77
fi
if [ "$MPIRUN" = no ] || ! command -v "$MPIRUN" >/dev/null 2>&1; then
    nb_skip tool:mpirun "MPI is built but no launcher (mpirun) was found: apt-get install openmpi-bin"
    echo "$pass passed, $fail failed"
    nb_skip_summary && [ "$fail" -eq 0 ] || exit 1
    echo "SKIPPED: no mpirun"
    exit 77
fi
MPIFLAGS=
if "$MPIRUN" --version 2>&1 | grep -q "Open MPI"; then
    MPIFLAGS="--oversubscribe"
    [ "$(id -u)" -eq 0 ] && MPIFLAGS="$MPIFLAGS --allow-run-as-root"
    # containers often forbid the cross-process memory reads of Open MPI's shared-memory transport
    : "${OMPI_MCA_btl_vader_single_copy_mechanism:=none}"
    export OMPI_MCA_btl_vader_single_copy_mechanism
fi
# mpi N PROGRAM ARGS...: N ranks on this machine
mpi() {
    n=$1
    shift
    # shellcheck disable=SC2086
    "$MPIRUN" $MPIFLAGS -np "$n" "$@"
}

# ---- 2. the library layer on 2 ranks ----------------------------------------------------------------
check "2 mpirun -np 2 tests/test_dist: collectives, 2 ranks x micro-batch == 2 accumulated micro-batches" \
    mpi 2 "$TEST_DIST"

# ---- synthetic data (as test_chargpt.sh: a deterministic LCG) -----------------------------------------
data=$tmp/data.txt
awk 'BEGIN {
    nw = split("the a one old young brave quiet king queen lord lady man woman child knight", W1, " ")
    nv = split("walks speaks sings sleeps fights loves hates sees hears calls keeps finds rides", W2, " ")
    nn = split("castle river garden house field tower forest city road sea hill gate", W4, " ")
    s = 7
    for (i = 0; i < 1300; i++) {
        s = (s * 75 + 74) % 65537; a = W1[1 + s % nw]
        s = (s * 75 + 74) % 65537; b = W2[1 + s % nv]
        s = (s * 75 + 74) % 65537; d = W4[1 + s % nn]
        print a " " b " to the " d "."
    }
}' >"$data"
COMMON="--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --eval-interval 10 --eval-iters 3
 --threads 1 --learning-rate 1e-2 --lr-decay-iters 40 --warmup-iters 4 --quiet"
# train1 DIR [options]: one process; train2 DIR [options]: 2 ranks. Output in DIR.out / DIR.err.
train1() {
    o=$1
    shift
    # shellcheck disable=SC2086
    "$CHARGPT" train --data "$data" --out-dir "$o" $COMMON "$@" >"$o.out" 2>"$o.err"
}
train2() {
    o=$1
    shift
    # shellcheck disable=SC2086
    mpi 2 "$CHARGPT" train --data "$data" --out-dir "$o" $COMMON "$@" >"$o.out" 2>"$o.err"
}
ran() { # ran DIR RC: the run exited 0
    [ "$2" -eq 0 ] || { say "exit $2"; cat "$1.out" "$1.err"; return 1; }
}
close_logs() { # close_logs A B: log.csv rows agree (iter, lr exactly; losses within 1e-4)
    awk -F, 'NR == FNR { l[FNR] = $0; n = FNR; next }
        { split(l[FNR], a, ",")
          if (a[1] != $1 || a[4] != $4 || (a[2] - $2) ^ 2 > 1e-8 || (a[3] - $3) ^ 2 > 1e-8) {
              print "row " FNR ": " l[FNR] " vs " $0; bad = 1 } }
        END { if (FNR != n) { print n " vs " FNR " rows"; bad = 1 }; exit bad }' "$1/log.csv" "$2/log.csv"
}
same_bytes() { # same_bytes A B: same log (cols 1-4) and byte-identical checkpoint and resume state
    cut -d, -f1-4 "$1/log.csv" >"$tmp/la" && cut -d, -f1-4 "$2/log.csv" >"$tmp/lb" || return 1
    cmp "$tmp/la" "$tmp/lb" && cmp "$1/ckpt.safetensors" "$2/ckpt.safetensors" &&
        cmp "$1/resume.safetensors" "$2/resume.safetensors"
}

# ---- 3. 2 ranks x B == 1 process x 2 micro-batches of B -------------------------------------------
ACC=$tmp/acc M2=$tmp/m2
train1 "$ACC" --max-iters 30 --gradient-accumulation-steps 2
rc_acc=$?
train2 "$M2" --max-iters 30 --debug-dist
rc_m2=$?
check "3a chargpt --gradient-accumulation-steps 2 and mpirun -np 2 chargpt train exit 0" \
    eval 'ran "$ACC" $rc_acc && ran "$M2" $rc_m2'
check "3b 2 ranks x batch 4 == 1 process x 2 micro-batches of 4: weights within 1e-5 after 30 AdamW steps" \
    "$TEST_DIST" --compare "$ACC/resume.safetensors" "$M2/resume.safetensors" 1e-5 model.
check "3c ... and the optimizer moments within 1e-5, log.csv losses within 1e-4, same lr" \
    eval '"$TEST_DIST" --compare "$ACC/resume.safetensors" "$M2/resume.safetensors" 1e-5 optim. && close_logs "$ACC" "$M2"'
check "3d tokens_per_s counts both ranks' tokens: banner says 128 tokens per step" \
    grep -q "^data parallel: 2 rank(s) x 1 micro-batch(es) of 4 per step = 128 tokens per step" "$M2.out"
tr -d '\r' <"$M2.out" >"$M2.lines" # progress lines start with a carriage return
check "3e --debug-dist: weights and optimizer state identical on both ranks at every eval (0, 10, 20, 30)" \
    eval '[ "$(grep -c "^debug-dist: iter [0-9]*: weights and optimizer state identical on 2 rank(s)" "$M2.lines")" -eq 4 ]'
check "3f rank 0 alone prints: one banner, one line per eval" \
    eval '[ "$(grep -c "^chargpt: " "$M2.lines")" -eq 1 ] && [ "$(grep -c "^step 10:" "$M2.lines")" -eq 1 ]'

ACCD=$tmp/accd M2D=$tmp/m2d
train1 "$ACCD" --max-iters 20 --gradient-accumulation-steps 2 --dropout 0.1 --sampling epoch
rc_accd=$?
train2 "$M2D" --max-iters 20 --dropout 0.1 --sampling epoch
rc_m2d=$?
check "3g with --dropout 0.1 --sampling epoch too: 2 ranks == 2 micro-batches (same windows, same masks)" \
    eval 'ran "$ACCD" $rc_accd && ran "$M2D" $rc_m2d &&
          "$TEST_DIST" --compare "$ACCD/resume.safetensors" "$M2D/resume.safetensors" 1e-5 model. && close_logs "$ACCD" "$M2D"'

# ---- 4. determinism and resume with the same number of ranks ----------------------------------------
R=$tmp/r
train2 "$R" --max-iters 30
check "4a the same 2-rank command twice: identical log, ckpt and resume bytes" same_bytes "$M2" "$R"
RS=$tmp/rs
train2 "$RS" --max-iters 15 && train2 "$RS" --max-iters 30 --resume
check "4b 2 ranks: --max-iters 15, then --resume to 30 == uninterrupted (log, ckpt and resume bytes)" \
    eval 'grep -q "^resuming from iter 16 " "$RS.out" && same_bytes "$M2" "$RS"'
W=$tmp/w
train2 "$W" --max-iters 15 && train1 "$W" --max-iters 20 --resume
check "4c a 2-rank resume state resumed by 1 process x 1 micro-batch: a warning, training goes on" \
    eval 'grep -q "^warning: the resume state was written by 2 rank(s) x 1 micro-batch(es) per step" "$W.out" &&
          [ "$(tail -n 1 "$W/log.csv" | cut -d, -f1)" = 20 ]'

# ---- 5. only rank 0 writes: each rank in its own working directory, a relative --out-dir -----------
mkdir -p "$tmp/wd0" "$tmp/wd1"
abs_chargpt=$(cd "$(dirname "$CHARGPT")" && pwd)/$(basename "$CHARGPT")
# shellcheck disable=SC2086
"$MPIRUN" $MPIFLAGS -np 1 --wdir "$tmp/wd0" "$abs_chargpt" train --data "$data" --out-dir out $COMMON --max-iters 12 : \
    -np 1 --wdir "$tmp/wd1" "$abs_chargpt" train --data "$data" --out-dir out $COMMON --max-iters 12 \
    >"$tmp/wd.out" 2>"$tmp/wd.err"
rc_wd=$?
check5() {
    [ "$rc_wd" -eq 0 ] || { say "exit $rc_wd"; cat "$tmp/wd.out" "$tmp/wd.err"; return 1; }
    for f in ckpt.safetensors resume.safetensors log.csv; do
        [ -s "$tmp/wd0/out/$f" ] || { say "rank 0 did not write out/$f"; return 1; }
    done
    [ ! -e "$tmp/wd1/out" ] || { say "rank 1 wrote:"; ls -la "$tmp/wd1/out"; return 1; }
}
check "5 rank 0 alone writes ckpt, resume state and log.csv (rank 1's working directory stays empty)" check5

# ---- 6. an interrupt on one rank stops every rank at the same step, resume state saved ---------------
I=$tmp/i
if ! command -v pgrep >/dev/null 2>&1; then
    nb_skip tool:pgrep "6 an interrupt on one rank (no pgrep to find the ranks; apt-get install procps)"
    finish
fi
# shellcheck disable=SC2086
"$MPIRUN" $MPIFLAGS -np 2 "$CHARGPT" train --data "$data" --out-dir "$I" $COMMON --max-iters 1000000 \
    --eval-interval 100000 >"$I.out" 2>"$I.err" &
bgpid=$!
check6() {
    k=0
    while [ "$( (wc -l <"$I/log.csv") 2>/dev/null || echo 0)" -lt 20 ] && [ "$k" -lt 300 ]; do
        sleep 0.1
        k=$((k + 1))
    done
    ranks=$(pgrep -P "$bgpid" | tr '\n' ' ')
    set -- $ranks
    [ $# -eq 2 ] || { say "expected 2 rank processes under mpirun, found: $ranks"; return 1; }
    kill -INT "$2"
    k=0
    while kill -0 "$bgpid" 2>/dev/null && [ "$k" -lt 300 ]; do
        sleep 0.1
        k=$((k + 1))
    done
    if kill -0 "$bgpid" 2>/dev/null; then
        say "still running 30 s after the interrupt"
        return 1 # the caller kills mpirun
    fi
    wait "$bgpid"
    rc=$?
    bgpid=
    [ "$rc" -eq 130 ] || { say "exit $rc, expected 130 (interrupted by SIGINT)"; cat "$I.out" "$I.err"; return 1; }
    grep -q "^interrupted at iter" "$I.out" && [ -s "$I/resume.safetensors" ] ||
        { say "no interrupt message or resume state"; cat "$I.out"; return 1; }
}
check "6 SIGINT to one rank alone: both ranks stop at the same step, exit 130, rank 0 saves the resume state" check6
[ -n "$bgpid" ] && kill "$bgpid" 2>/dev/null
bgpid=

finish
