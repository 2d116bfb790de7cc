#!/bin/sh
# tests/test_cli.sh — the chargpt program as a command-line tool: the progress display (a redrawn
# line on a terminal, one line per --log-interval iterations otherwise), nothing lost (an existing
# run is refused without --resume/--overwrite, one trainer per run directory, no non-finite
# checkpoint over a good one, FIFOs and devices rejected without blocking, a size cap on --data),
# SIGTERM/SIGINT save and exit 143/130, and the option checks (stray arguments, options another
# subcommand uses, wrong ranges and their messages, huge models refused before anything is created,
# options changed on --resume). Small synthetic text, a 1-layer model: a few seconds in all.
# Run from the top build directory (as `make check` does) or point CHARGPT at the binary.
# Prints one line per check and "N passed, M failed"; exit 0 pass, 1 failure, 77 skip (no binary).

CHARGPT=${CHARGPT:-./chargpt}
if [ ! -x "$CHARGPT" ]; then
    echo "SKIP: $CHARGPT not found or not executable (build it with: make chargpt)"
    exit 77
fi
LC_ALL=C
export LC_ALL
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_cli.XXXXXX") || exit 1
bgpid=
cleanup() {
    [ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass=0 fail=0
. "$(dirname "$0")/check_lib.sh" # ok, bad, check, say, fails_with, near
# Commands that could block forever on today's bugs run under a time limit (exit 124 = hung).
limit() { timeout 60 "$@"; }

data=$tmp/data.txt
awk 'BEGIN { s = 11
    nw = split("the a king queen lord lady man child knight walks speaks sings to into castle river sea", W, " ")
    for (i = 0; i < 2500; i++) { s = (s * 75 + 74) % 65537; printf "%s%s", W[1 + s % nw], (i % 9 == 8) ? ".\n" : " " }
}' >"$data"
COMMON="--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --eval-interval 10 --eval-iters 2
 --threads 1 --learning-rate 1e-2 --lr-decay-iters 40 --warmup-iters 4"
train() { # train OUTDIR [options]: stdout/stderr to OUTDIR.out/.err; returns chargpt's status
    o=$1
    shift
    # shellcheck disable=SC2086
    limit "$CHARGPT" train --data "$data" --out-dir "$o" $COMMON "$@" >"$o.out" 2>"$o.err"
}
# fails_with RC TEXT COMMAND...: exit RC, TEXT on stderr, nothing on stdout
fails_with() {
    want=$1 text=$2
    shift 2
    limit "$@" >"$tmp/f.out" 2>"$tmp/f.err"
    got=$?
    r=0
    [ "$got" -eq "$want" ] || { say "exit $got, expected $want"; r=1; }
    grep -qF -- "$text" "$tmp/f.err" || { say "stderr lacks '$text'"; r=1; }
    [ ! -s "$tmp/f.out" ] || { say "unexpected stdout:"; head -n 5 "$tmp/f.out"; r=1; }
    [ "$r" -eq 0 ] || sed -e 's/^/stderr: /' "$tmp/f.err"
    return $r
}
rows() { echo $(($(wc -l <"$1/log.csv") - 1)); }
cr=$(printf '\r')
G=$tmp/G # a good checkpoint for the sample/eval checks
train "$G" --max-iters 10 --quiet || { echo "internal: training $G failed"; cat "$G.err"; exit 1; }

# ---- 1. progress display -----------------------------------------------------------------------
P=$tmp/P
train "$P" --max-iters 20 --log-interval 5
rc_p=$?
check_progress_pipe() {
    [ "$rc_p" -eq 0 ] || { say "exit $rc_p"; cat "$P.err"; return 1; }
    ! grep -q "$cr" "$P.out" || { say "carriage returns in piped output:"; od -c "$P.out" | head -n 5; return 1; }
    got=$(sed -n 's#^iter \([0-9]*\)/20 | loss [0-9.]* .*ETA .*#\1#p' "$P.out" | tr '\n' ' ')
    [ "$got" = "0 5 10 15 20 " ] || { say "progress lines for iters '$got', expected '0 5 10 15 20 '"; cat "$P.out"; return 1; }
}
check "1a stdout not a terminal: one progress line per --log-interval 5 iterations (0,5,..,20), no CR" \
    check_progress_pipe
P2=$tmp/P2
train "$P2" --max-iters 20
check "1b --log-interval defaults to 10 (lines for iters 0, 10, 20)" \
    eval '[ "$(grep -c "^iter [0-9]*/20 |" "$P2.out")" -eq 3 ] && grep -q "^iter 10/20 |" "$P2.out"'
if command -v script >/dev/null 2>&1; then
    P3=$tmp/P3
    script -qec "$CHARGPT train --data $data --out-dir $P3 $(echo $COMMON) --max-iters 12" /dev/null >"$P3.out" 2>&1
    check "1c on a terminal: the progress line is redrawn with CR for every iteration" \
        eval '[ "$(tr "\r" "\n" <"$P3.out" | grep -c "^iter [0-9]*/12 |")" -eq 13 ]'
else
    bad "1c on a terminal: script(1) from util-linux is needed to run chargpt on a pseudo-terminal"
fi

# ---- 2. signals: SIGTERM saves like SIGINT; interrupted runs exit 128 + signal -------------------
sig_run() { # sig_run DIR SIGNAL: trains in the background, sends SIGNAL after > 15 logged rows
    rm -rf "$1"
    # shellcheck disable=SC2086
    "$CHARGPT" train --data "$data" --out-dir "$1" $COMMON --quiet --max-iters 100000 >"$1.out" 2>"$1.err" &
    bgpid=$!
    n=0 waited=0
    while [ "$n" -le 15 ] && kill -0 "$bgpid" 2>/dev/null && [ "$waited" -lt 3000 ]; do
        sleep 0.01
        waited=$((waited + 1))
        n=$(($(cat "$1/log.csv" 2>/dev/null | wc -l) - 1))
    done
    kill "-$2" "$bgpid" 2>/dev/null
    k=0
    while kill -0 "$bgpid" 2>/dev/null && [ "$k" -lt 100 ]; do sleep 0.1; k=$((k + 1)); done
    kill -9 "$bgpid" 2>/dev/null # still running 10 s after the signal: the signal was ignored
    wait "$bgpid"
    sig_rc=$?
    bgpid=
}
check_sig() { # check_sig DIR SIGNAL RC
    sig_run "$1" "$2"
    [ "$sig_rc" -eq "$3" ] || { say "exit $sig_rc after SIG$2, expected $3"; cat "$1.err"; return 1; }
    grep -q "^interrupted at iter" "$1.out" || { say "no 'interrupted at iter' line"; cat "$1.out"; return 1; }
    r=$(rows "$1")
    [ -s "$1/resume.safetensors" ] || { say "no resume state"; return 1; }
    train "$1" --max-iters $((r + 3)) --resume --quiet || { say "resume: exit $?"; cat "$1.err"; return 1; }
    grep -q "^resuming from iter $r " "$1.out" || { say "did not resume from iter $r"; cat "$1.out"; return 1; }
}
check "2a SIGTERM: saves the resume state at once, exits 143, --resume continues from the next iteration" \
    check_sig "$tmp/T" TERM 143
check "2b SIGINT: the same, exit 130" check_sig "$tmp/I" INT 130

# ---- 3. nothing lost ---------------------------------------------------------------------------
R=$tmp/R
train "$R" --max-iters 10 --quiet
sums() { cksum "$R/ckpt.safetensors" "$R/resume.safetensors" "$R/log.csv"; }
before=$(sums)
check3a() {
    fails_with 1 "already holds a run" "$CHARGPT" train --data "$data" --out-dir "$R" $COMMON --max-iters 5 || return 1
    for f in ckpt.safetensors resume.safetensors log.csv; do
        grep -q "$f" "$tmp/f.err" || { say "the message does not name $f:"; cat "$tmp/f.err"; return 1; }
    done
    grep -q -- "--overwrite" "$tmp/f.err" && grep -q -- "--resume" "$tmp/f.err" || { say "no way out named"; return 1; }
    [ "$before" = "$(sums)" ] || { say "the run's files changed"; return 1; }
}
check "3a a new run into an existing run directory is refused (files named, nothing changed)" check3a
check "3b ... and goes ahead with --overwrite (a new 5-iteration log)" \
    eval 'train "$R" --max-iters 5 --quiet --overwrite && [ "$(rows "$R")" -eq 6 ]'

L=$tmp/L
# shellcheck disable=SC2086
"$CHARGPT" train --data "$data" --out-dir "$L" $COMMON --quiet --max-iters 100000 >"$L.out" 2>"$L.err" &
bgpid=$!
check3c() {
    k=0
    while [ "$( (wc -l <"$L/log.csv") 2>/dev/null || echo 0)" -lt 5 ] && [ "$k" -lt 300 ]; do sleep 0.05; k=$((k + 1)); done
    for opt in --overwrite --resume; do
        fails_with 1 "in use by another" "$CHARGPT" train --data "$data" --out-dir "$L" $COMMON --max-iters 5 $opt ||
            { say "(with $opt)"; return 1; }
    done
    kill -INT "$bgpid"
    wait "$bgpid"
    bgpid=
    awk -F, 'NR > 1 && $1 != NR - 2 { print "row " NR ": " $0; bad = 1 } END { exit bad }' "$L/log.csv"
}
check "3c a second trainer on a run directory in use refuses at once (--overwrite or --resume); the log is intact" check3c
[ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null
bgpid=

# --always-save-checkpoint with a run that diverges: the weights turn NaN after a step whose loss is
# still finite, the next eval sees a NaN val loss; no checkpoint with NaN over the good one.
D=$tmp/D
train "$D" --max-iters 40 --learning-rate 1000 --always-save-checkpoint --eval-interval 1 --eval-iters 1 --quiet
rc_d=$?
check3d() {
    [ "$rc_d" -eq 3 ] || { say "exit $rc_d, expected 3 (diverged)"; cat "$D.err"; return 1; }
    limit "$CHARGPT" eval --checkpoint "$D/ckpt.safetensors" --data "$data" >"$tmp/d.out" 2>"$tmp/d.err"
    grep -Eqx 'val_loss [0-9]+\.[0-9]{4}' "$tmp/d.out" || { say "eval of the checkpoint:"; cat "$tmp/d.out" "$tmp/d.err"; return 1; }
    ! grep -qi "non-finite" "$tmp/d.err" || { cat "$tmp/d.err"; return 1; }
    head -c 4096 "$D/ckpt.safetensors" | tr -d '\000' | grep -ao '"val_loss":"[^"]*"' | grep -Eq '"[0-9.e+-]+"$' ||
        { say "checkpoint val_loss: $(head -c 4096 "$D/ckpt.safetensors" | tr -d '\000' | grep -ao '"val_loss":"[^"]*"')"; return 1; }
}
check "3d --always-save-checkpoint on a diverging run keeps the last finite checkpoint" check3d

# A checkpoint whose weights hold NaN: the last 4 bytes (the last float of the last tensor) set to a
# NaN, as another writer would store it: without nabla's checksums (which would reject the patched
# data as corrupted), so the weights themselves are what sample and eval must catch.
NANCK=$tmp/nan.safetensors
/usr/bin/python3 - "$G/ckpt.safetensors" "$NANCK" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
h["__metadata__"].pop("nabla.xxh3_64", None)
t = json.dumps(h, separators=(",", ":")).encode()
t += b" " * (-len(t) % 8)
data = bytearray(b[8 + n:])
data[-4:] = b"\xff\xff\xff\x7f"
open(sys.argv[2], "wb").write(struct.pack("<Q", len(t)) + t + bytes(data))
PY
check "3e sample refuses a checkpoint with NaN weights (naming the count)" \
    fails_with 1 "1 non-finite" "$CHARGPT" sample --checkpoint "$NANCK" --max-new-tokens 5
check "3f sample --allow-nonfinite samples anyway, with the warning" \
    eval 'limit "$CHARGPT" sample --checkpoint "$NANCK" --max-new-tokens 5 --allow-nonfinite >"$tmp/an.out" 2>"$tmp/an.err" &&
          grep -q "non-finite" "$tmp/an.err" && grep -q -- "-----" "$tmp/an.out"'
check "3g eval of a checkpoint with NaN weights warns" \
    eval 'limit "$CHARGPT" eval --checkpoint "$NANCK" --data "$data" >/dev/null 2>"$tmp/ev.err"; grep -q "1 non-finite" "$tmp/ev.err"'

# FIFOs and devices are rejected without blocking; --data has a size cap.
mkfifo "$tmp/fifo"
check "3h sample --checkpoint FIFO: refused at once" \
    fails_with 1 "not a regular file" "$CHARGPT" sample --checkpoint "$tmp/fifo"
check "3i eval --data FIFO: refused at once" \
    fails_with 1 "not a regular file" "$CHARGPT" eval --checkpoint "$G/ckpt.safetensors" --data "$tmp/fifo"
check "3j train --data /dev/zero: refused at once" \
    fails_with 1 "/dev/zero: not a regular file" "$CHARGPT" train --data /dev/zero --out-dir "$tmp/z" $COMMON
F=$tmp/F
train "$F" --max-iters 5 --quiet && rm "$F/resume.safetensors" && mkfifo "$F/resume.safetensors"
check "3k --resume with resume.safetensors a FIFO: refused at once" \
    fails_with 1 "not a regular file" "$CHARGPT" train --data "$data" --out-dir "$F" $COMMON --max-iters 9 --resume
F2=$tmp/F2
train "$F2" --max-iters 5 --quiet && rm "$F2/log.csv" && mkfifo "$F2/log.csv"
check "3l --resume with log.csv a FIFO: refused at once" \
    fails_with 1 "log.csv: not a regular file" "$CHARGPT" train --data "$data" --out-dir "$F2" $COMMON --max-iters 9 --resume
check "3l2 --overwrite with log.csv a FIFO: refused at once (opening it for writing waited for a reader)" \
    fails_with 1 "log.csv: not a regular file" "$CHARGPT" train --data "$data" --out-dir "$F2" $COMMON --max-iters 9 --overwrite
check "3l3 plot of a run whose log.csv is a FIFO: refused at once" \
    fails_with 1 "log.csv: not a regular file" "$CHARGPT" plot "$F2" --output "$tmp/f2.png"
truncate -s 300M "$tmp/huge.txt" 2>/dev/null || dd if=/dev/zero of="$tmp/huge.txt" bs=1 count=0 seek=300M 2>/dev/null
check "3m --data of 300 MB: refused before reading (the cap is named)" \
    fails_with 1 "larger than the 256 MiB" "$CHARGPT" train --data "$tmp/huge.txt" --out-dir "$tmp/h" $COMMON
rm -f "$tmp/huge.txt"

# ---- 4. options -------------------------------------------------------------------------------
T="$CHARGPT train --data $data --out-dir $tmp/never $COMMON --max-iters 1"
CK=$G/ckpt.safetensors
check "4a a stray argument is refused" fails_with 2 "unexpected argument 'extra'" $T extra
check "4b sample: a train option is refused" \
    fails_with 2 "--n-layer is not a sample option" "$CHARGPT" sample --checkpoint "$CK" --n-layer 2
check "4c eval: a sample option is refused" \
    fails_with 2 "--top-k is not an eval option" "$CHARGPT" eval --checkpoint "$CK" --data "$data" --top-k 3
check "4d --milestones with the cosine schedule is refused" \
    fails_with 2 "--milestones and --gamma need --lr-schedule multistep" $T --milestones 5,10
check "4e --gamma with the constant schedule is refused" \
    fails_with 2 "--milestones and --gamma need --lr-schedule multistep" $T --lr-schedule constant --gamma 0.1
check "4f --beta2 1: the range says 1 is excluded" fails_with 2 "expects a number in [0, 1), got '1'" $T --beta2 1
check "4g --learning-rate 0: the range of the learning rate, not the cosine rule" \
    fails_with 2 "--learning-rate expects a number in (0, 1000], got '0'" $T --learning-rate 0
check "4h --min-lr 1e-400: too small to represent, not 'out of range'" \
    fails_with 2 "--min-lr: '1e-400' is too small to represent" $T --min-lr 1e-400
check "4i --weight-decay 1e400: too large to represent" \
    fails_with 2 "--weight-decay: '1e400' is too large to represent" $T --weight-decay 1e400
check "4j an ambiguous abbreviation names the candidates" \
    fails_with 2 "ambiguous option '--be' (--beta1, --beta2)" $T --be 0.5
check "4k an option missing its value says so" fails_with 2 "option '--seed' needs a value" $T --seed
check "4l --data \"\" is an empty file name" fails_with 2 "--data expects a file name, got ''" $T --data ""
check4m() {
    fails_with 2 "needs about" "$CHARGPT" train --data "$data" --out-dir "$tmp/huge/run" --n-layer 1024 \
        --n-embd 65536 --n-head 1 --threads 1 || return 1
    [ ! -e "$tmp/huge" ] || { say "the out dir was created"; return 1; }
}
check "4m a model too large for this machine is refused before the out dir is created (no abort)" check4m
O=$tmp/O
train "$O" --max-iters 10 --quiet
check4n() {
    train "$O" --max-iters 12 --quiet --resume --learning-rate 2e-2 --batch-size 5 --seed 7 --sampling epoch ||
        { say "exit $?"; cat "$O.err"; return 1; }
    for w in "--learning-rate 0.02 (the resumed run used 0.01)" "--batch-size 5 (the resumed run used 4)" \
        "--seed 7 (the resumed run used 1337)" "--sampling epoch (the resumed run used random)"; do
        grep -qF -- "warning: $w" "$O.err" || { say "no warning '$w'"; cat "$O.err"; return 1; }
    done
    train "$O" --max-iters 14 --quiet --resume --learning-rate 2e-2 --batch-size 5 --seed 7 --sampling epoch &&
        ! grep -q warning "$O.err" || { say "warnings with the options of the resumed run:"; cat "$O.err"; return 1; }
}
check "4n --resume with changed options warns for each (and not when they match)" check4n
# --dtype (bfloat16 autocast)
check "4o --dtype takes float32 or bfloat16 only" fails_with 2 "--dtype expects float32 or bfloat16, got 'float16'" \
    $T --dtype float16
check4p() {
    A=$tmp/A16
    train "$A" --max-iters 10 --quiet --dtype bfloat16 || { say "exit $?"; cat "$A.err"; return 1; }
    head -c 65536 "$A/ckpt.safetensors" | grep -qF '"train_dtype":"bfloat16"' || { say "no train_dtype metadata"; return 1; }
    train "$A" --max-iters 12 --quiet --resume --dtype float32 || { say "exit $?"; cat "$A.err"; return 1; }
    grep -qF -- "warning: --dtype float32 (the resumed run used bfloat16)" "$A.err" || { cat "$A.err"; return 1; }
    limit "$CHARGPT" eval --checkpoint "$A/ckpt.safetensors" --data "$data" --dtype bfloat16 | grep -q "^val_loss" &&
        limit "$CHARGPT" sample --checkpoint "$A/ckpt.safetensors" --max-new-tokens 5 --dtype bfloat16 >/dev/null
}
check "4p --dtype bfloat16 trains, is kept in the resume state (a change warns), eval and sample take it" check4p

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
