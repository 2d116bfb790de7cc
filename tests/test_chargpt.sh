#!/bin/sh
# tests/test_chargpt.sh — end-to-end tests of the chargpt program (train / sample / eval / plot) on
# a small synthetic text generated here (the real Tiny Shakespeare is never needed).
# Run from the top build directory (as `make check` does) or point CHARGPT at the binary:
#   CHARGPT=./chargpt tests/test_chargpt.sh
# Prints one line per check and "N passed, M failed" (and "K skipped (U unexpected)": tests/skip_lib.sh);
# exit 0 pass, 1 failure or unexpected skip, 77 skip (no binary).

CHARGPT=${CHARGPT:-./chargpt}
if [ ! -x "$CHARGPT" ]; then
    echo "SKIP: $CHARGPT not found or not executable (build it with: make chargpt)"
    exit 77
fi
LC_ALL=C
export LC_ALL
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_chargpt.XXXXXX") || exit 1
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
same_log() { # same_log A B: log.csv identical in iter,train_loss,val_loss,lr (tokens_per_s is timing)
    cut -d, -f1-4 "$1/log.csv" >"$tmp/la" && cut -d, -f1-4 "$2/log.csv" >"$tmp/lb" || return 1
    cmp "$tmp/la" "$tmp/lb" || { diff "$tmp/la" "$tmp/lb" | head -n 6; return 1; }
}
same_run() { # same_run A B: same log (cols 1-4) and byte-identical checkpoint
    same_log "$1" "$2" && cmp "$1/ckpt.safetensors" "$2/ckpt.safetensors"
}
rows() { echo $(($(wc -l <"$1/log.csv") - 1)); }

# ---- synthetic data: ~30 KB of English-like lines from a deterministic LCG (exact in doubles) ----
data=$tmp/data.txt
awk 'BEGIN {
    nw = split("the a one old young brave quiet king queen lord lady man woman child knight", W1, " ")
    nv = split("walks speaks sings sleeps fights loves hates sees hears calls keeps finds rides", W2, " ")
    np = split("to into from with over under near beside", W3, " ")
    nn = split("castle river garden house field tower forest city road sea hill gate", W4, " ")
    split(". ! ? , ; :", P, " ")
    s = 7
    for (i = 0; i < 1300; i++) {
        s = (s * 75 + 74) % 65537; a = W1[1 + s % nw]
        s = (s * 75 + 74) % 65537; b = W2[1 + s % nv]
        s = (s * 75 + 74) % 65537; c = W3[1 + s % np]
        s = (s * 75 + 74) % 65537; d = W4[1 + s % nn]
        s = (s * 75 + 74) % 65537; p = P[1 + s % 6]
        print toupper(substr(a, 1, 1)) substr(a, 2) " " b " " c " the " d p
    }
}' >"$data"
# The vocabulary has no 'Z', 'x' and no non-ASCII character (used by the unknown-character checks).
if grep -q '[Zx]' "$data" || LC_ALL=C grep -q '[^ -~]' "$data"; then
    echo "internal: the synthetic text contains Z, x or non-ASCII"; exit 1
fi
awk 'BEGIN { for (i = 0; i < 300; i++) print "xyz XYZ 123 zzz" }' >"$tmp/other.txt" # another vocabulary

COMMON="--n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 --eval-interval 10 --eval-iters 2
 --threads 1 --learning-rate 1e-2 --lr-decay-iters 40 --warmup-iters 4 --quiet"
# train OUTDIR [options]: stdout/stderr to OUTDIR.out/.err (next to the dir); returns chargpt's status
train() {
    o=$1
    shift
    # shellcheck disable=SC2086
    "$CHARGPT" train --data "$data" --out-dir "$o" $COMMON "$@" >"$o.out" 2>"$o.err"
}

# ---- 1. train writes ckpt, resume state and log.csv -------------------------------------------
A=$tmp/A
train "$A" --max-iters 40
rc_a=$?
check1_files() {
    [ "$rc_a" -eq 0 ] || { say "exit $rc_a"; cat "$A.err"; return 1; }
    for f in ckpt.safetensors resume.safetensors log.csv; do
        [ -s "$A/$f" ] || { say "missing $A/$f"; return 1; }
    done
}
check1_log() {
    [ "$(head -n 1 "$A/log.csv")" = "iter,train_loss,val_loss,lr,tokens_per_s" ] || { say "bad header"; head -n 1 "$A/log.csv"; return 1; }
    awk -F, 'NR == 1 { next }
        { n++
          if (NF != 5 || $1 != n - 1 || $2 !~ /^[0-9]+\.[0-9]+$/ || $4 !~ /^[0-9.e-]+$/ || $5 !~ /^[0-9]+$/) {
              print "bad row " NR ": " $0; bad = 1 } }
        END { if (n != 41) print n " rows, expected 41 (iters 0..40)"; exit !(n == 41 && !bad) }' "$A/log.csv"
}
check1_val() { # val_loss exactly at the eval iterations, and it decreases
    awk -F, 'NR == 1 { next }
        { has = $3 != ""; want = $1 % 10 == 0
          if (has != want) { print "iter " $1 ": val_loss " (has ? "present" : "missing"); bad = 1 }
          if (has) { if (first == "") first = $3; last = $3 } }
        END { if (!(last < first - 0.3)) { print "val loss " first " -> " last ": no clear decrease"; bad = 1 }
              exit bad }' "$A/log.csv"
}
check "1a train exits 0 and writes ckpt.safetensors, resume.safetensors, log.csv" check1_files
check "1b log.csv header and one row per iteration 0..40" check1_log
check "1c val_loss only at eval iterations (0,10,..,40); val loss decreases (first vs last eval)" check1_val

# ---- 2. determinism ----------------------------------------------------------------------------
B=$tmp/B
train "$B" --max-iters 40
check "2a same command twice: identical log.csv (iter,train_loss,val_loss,lr)" same_log "$A" "$B"
check "2b same command twice: identical ckpt.safetensors and resume.safetensors bytes" \
    eval 'cmp "$A/ckpt.safetensors" "$B/ckpt.safetensors" && cmp "$A/resume.safetensors" "$B/resume.safetensors"'

# ---- 3. resume equals an uninterrupted run -----------------------------------------------------
resumed() { # resumed DIR FROM: the second run continued from iter FROM (no restart at iter 0)
    grep -q "^resuming from iter $2 " "$1.out" && ! grep -q "step 0:" "$1.out" ||
        { say "did not resume from iter $2:"; cat "$1.out" "$1.err"; return 1; }
}
C=$tmp/C
train "$C" --max-iters 20 && train "$C" --max-iters 40 --resume
check "3a --max-iters 20 then --max-iters 40 --resume == uninterrupted 40 (log cols 1-4, ckpt bytes)" \
    eval 'resumed "$C" 21 && same_run "$A" "$C"'
C5=$tmp/C5
train "$C5" --max-iters 5 && train "$C5" --max-iters 40 --resume
check "3b --max-iters 5 (before the first resume point) then --resume to 40 == uninterrupted" \
    eval 'resumed "$C5" 6 && same_run "$A" "$C5"'
D1=$tmp/D1 D2=$tmp/D2
train "$D1" --max-iters 40 --dropout 0.1 --sampling epoch
train "$D2" --max-iters 13 --dropout 0.1 --sampling epoch &&
    train "$D2" --max-iters 40 --dropout 0.1 --sampling epoch --resume
check "3c with --dropout 0.1 --sampling epoch: 13 then --resume to 40 == uninterrupted (RNGs, data position)" \
    eval 'resumed "$D2" 14 && same_run "$D1" "$D2"'

# A crash after a resume point: log.csv has rows past the saved state; --resume drops them.
E=$tmp/E
train "$E" --max-iters 20 && cp "$E/resume.safetensors" "$tmp/resume21" &&
    train "$E" --max-iters 40 --resume && cp "$tmp/resume21" "$E/resume.safetensors" &&
    train "$E" --max-iters 40 --resume
check "3e --resume from an older resume state trims log.csv rows written after it (== uninterrupted)" \
    eval 'resumed "$E" 21 && same_run "$A" "$E"'

# SIGINT mid-run: 500 iterations, interrupted once the log has > 15 rows, then --resume.
S1=$tmp/S1
train "$S1" --max-iters 500
sigint_run() { # sigint_run DIR: trains in the background, sends SIGINT after > 15 logged rows
    rm -rf "$1"
    "$CHARGPT" train --data "$data" --out-dir "$1" $COMMON --max-iters 500 >"$1.out" 2>"$1.err" &
    bgpid=$!
    n=0 waited=0
    while [ "$n" -le 15 ] && kill -0 "$bgpid" 2>/dev/null && [ "$waited" -lt 3000 ]; do
        sleep 0.01
        waited=$((waited + 1))
        n=$(cat "$1/log.csv" 2>/dev/null | wc -l)
        n=$((n - 1))
    done
    kill -INT "$bgpid" 2>/dev/null
    wait "$bgpid"
    sig_rc=$?
    bgpid=
}
S2=$tmp/S2
tries=0
while :; do
    sigint_run "$S2"
    tries=$((tries + 1))
    grep -q "^interrupted at iter" "$S2.out" || [ "$tries" -ge 3 ] || [ "$sig_rc" -ne 0 ] && break
    # the run finished before the signal came (very slow polling): try again
done
check3_sigint() {
    [ "$sig_rc" -eq 130 ] || { say "exit $sig_rc after SIGINT (expected 130)"; cat "$S2.err"; return 1; }
    grep -q "^interrupted at iter" "$S2.out" || { say "no 'interrupted at iter' line:"; tail -n 3 "$S2.out"; return 1; }
    r=$(rows "$S2")
    [ "$r" -gt 15 ] && [ "$r" -lt 501 ] || { say "$r rows logged at the interruption"; return 1; }
    [ -s "$S2/resume.safetensors" ] || { say "no resume state"; return 1; }
    train "$S2" --max-iters 500 --resume || { say "resume exit $?"; cat "$S2.err"; return 1; }
    resumed "$S2" $((r)) && same_run "$S1" "$S2" && cmp "$S1/resume.safetensors" "$S2/resume.safetensors"
}
check "3d SIGINT mid-run exits 130 saving the resume state; --resume == uninterrupted (log, ckpt, resume bytes)" \
    check3_sigint

# ---- 4. lr schedules ---------------------------------------------------------------------------
# lr_is DIR 'AWK-EXPR giving the expected lr of iteration it': relative error < 1e-7 on every row
lr_is() {
    awk -F, -v OFS=, 'NR == 1 { next }
        { it = $1; want = ('"$2"'); d = $4 - want; if (d < 0) d = -d
          if (d > 1e-7 * want) { print "iter " it ": lr " $4 ", expected " want; bad = 1 } }
        END { exit bad || NR < 2 }' "$1/log.csv"
}
M=$tmp/M
train "$M" --max-iters 40 --lr-schedule multistep --milestones 10,20,30 --gamma 0.5 --learning-rate 0.004
check "4a multistep --milestones 10,20,30 --gamma 0.5: lr 0.004 halves at iters 10, 20, 30" \
    lr_is "$M" '0.004 * 0.5 ^ ((it >= 10) + (it >= 20) + (it >= 30))'
M2=$tmp/M2
train "$M2" --max-iters 120 --lr-schedule multistep --learning-rate 0.004
check "4b multistep default milestones (every 50 steps): lr halves at iters 50 and 100" \
    lr_is "$M2" '0.004 * 0.5 ^ ((it >= 50) + (it >= 100))'
K=$tmp/K
train "$K" --max-iters 40 --lr-schedule constant --learning-rate 0.003
check "4c constant schedule: lr 0.003 at every iteration" lr_is "$K" '0.003'
check "4d cosine (default) with --warmup-iters 4: lr rises during warmup, then decays to --min-lr at 40" \
    lr_is "$A" 'it < 4 ? 0.01 * (it + 1) / 5 : 1e-4 + 0.5 * (1 + cos(3.141592653589793 * (it - 4) / 36)) * (0.01 - 1e-4)'

# ---- 5. sample ---------------------------------------------------------------------------------
CK=$A/ckpt.safetensors
PROMPT="The king"
sample() { "$CHARGPT" sample --checkpoint "$CK" --prompt "$PROMPT" --max-new-tokens 50 "$@"; }
sample --seed 1 >"$tmp/s1" 2>"$tmp/s1.err"
rc_s=$?
sample --seed 1 >"$tmp/s1b" 2>/dev/null
sample --seed 2 >"$tmp/s2" 2>/dev/null
sample --seed 1 --no-kv-cache >"$tmp/s1nokv" 2>/dev/null
sample --seed 1 --num-samples 2 >"$tmp/s12" 2>/dev/null
SEP='---------------'
one_sample() { # one_sample FILE: the prompt, 50 characters of the training vocabulary, the separator
    n=$(wc -c <"$1")
    [ "$n" -eq $((8 + 50 + 17)) ] || { say "$n bytes, expected 8 + 50 + 17:"; cat "$1"; return 1; }
    [ "$(head -c 8 "$1")" = "$PROMPT" ] || { say "does not start with the prompt:"; cat "$1"; return 1; }
    [ "$(tail -n 1 "$1")" = "$SEP" ] || { say "no separator line"; return 1; }
    head -c 58 "$1" | tail -c 50 >"$tmp/gen"
    awk 'NR == FNR { for (i = 1; i <= length($0); i++) v[substr($0, i, 1)] = 1; next }
        { for (i = 1; i <= length($0); i++) if (!(substr($0, i, 1) in v)) { print "not in the vocabulary: " substr($0, i, 1); bad = 1 } }
        END { exit bad }' "$data" "$tmp/gen"
}
check "5a sample prints the prompt, 50 new characters of the vocabulary and a separator (exit 0)" \
    eval '[ "$rc_s" -eq 0 ] && one_sample "$tmp/s1"'
check "5b same --seed: identical output; another --seed: different output" \
    eval 'cmp "$tmp/s1" "$tmp/s1b" && ! cmp -s "$tmp/s1" "$tmp/s2"'
check "5c --no-kv-cache gives identical output" cmp "$tmp/s1" "$tmp/s1nokv"
check5_two() {
    [ "$(grep -c "^$SEP\$" "$tmp/s12")" -eq 2 ] || { say "expected 2 samples:"; cat "$tmp/s12"; return 1; }
    head -c 75 "$tmp/s12" >"$tmp/s12a" && tail -c +76 "$tmp/s12" >"$tmp/s12b"
    cmp "$tmp/s12a" "$tmp/s1" && one_sample "$tmp/s12b" && ! cmp -s "$tmp/s12a" "$tmp/s12b"
}
check "5d --num-samples 2: two samples, the first equal to --num-samples 1, the second different" check5_two

# ---- bad input helper: expect EXIT-CODE, exactly one stderr line containing TEXT, empty stdout ----
# (the out dir $A is checksummed before/after: nothing in it may change)
sum_a() { cksum "$A/ckpt.safetensors" "$A/resume.safetensors" "$A/log.csv"; }
fails_with() { # fails_with RC TEXT COMMAND...
    want=$1 text=$2
    shift 2
    before=$(sum_a)
    "$@" >"$tmp/f.out" 2>"$tmp/f.err"
    got=$?
    r=0
    [ "$got" -eq "$want" ] || { say "exit $got, expected $want"; r=1; }
    [ "$(wc -l <"$tmp/f.err")" -eq 1 ] || { say "stderr is not one line:"; r=1; }
    grep -qF -- "$text" "$tmp/f.err" || { say "stderr lacks '$text':"; r=1; }
    [ ! -s "$tmp/f.out" ] || { say "unexpected stdout:"; head -n 5 "$tmp/f.out"; r=1; }
    [ "$before" = "$(sum_a)" ] || { say "files in $A changed"; r=1; }
    [ "$r" -eq 0 ] || sed -e 's/^/stderr: /' "$tmp/f.err"
    return $r
}
check "5e prompt with 'Z' (not in the vocabulary): exit 1 naming the character" \
    fails_with 1 "character 'Z'" "$CHARGPT" sample --checkpoint "$CK" --prompt "Zed"
check "5f prompt with '€' (not in the vocabulary): exit 1 naming the character" \
    fails_with 1 "'€'" "$CHARGPT" sample --checkpoint "$CK" --prompt "a€"

# ---- 6. eval -----------------------------------------------------------------------------------
"$CHARGPT" eval --checkpoint "$CK" --data "$data" >"$tmp/e1" 2>&1
"$CHARGPT" eval --checkpoint "$CK" --data "$data" >"$tmp/e2" 2>&1
"$CHARGPT" eval --checkpoint "$CK" --data "$data" --split train >"$tmp/e3" 2>&1
check6_val() {
    grep -Eqx 'val_loss [0-9]+\.[0-9]{4}' "$tmp/e1" || { cat "$tmp/e1"; return 1; }
    [ "$(wc -l <"$tmp/e1")" -eq 1 ] || { cat "$tmp/e1"; return 1; }
    # the full-split loss agrees with the loss logged at the best eval (2 random batches) within 0.3
    awk -F, -v e="$(cut -d' ' -f2 "$tmp/e1")" 'NR > 1 && $3 != "" && (best == "" || $3 < best) { best = $3 }
        END { d = e - best; if (d < 0) d = -d; if (d > 0.3) print "eval " e " vs logged best " best; exit d > 0.3 }' \
        "$A/log.csv"
}
check "6a eval prints 'val_loss X.XXXX', close to the best logged val loss" check6_val
check "6b eval is deterministic" cmp "$tmp/e1" "$tmp/e2"
check "6c eval --split train prints 'train_loss X.XXXX'" grep -Eqx 'train_loss [0-9]+\.[0-9]{4}' "$tmp/e3"

# ---- 7. plot -----------------------------------------------------------------------------------
if command -v "${NB_GNUPLOT:-gnuplot}" >/dev/null 2>&1; then
    check7() {
        "$CHARGPT" plot "$A" "$B" --output "$tmp/x.png" || return 1
        [ "$(od -An -tx1 -N8 "$tmp/x.png" | tr -d ' \n')" = "89504e470d0a1a0a" ] || { say "not a PNG"; return 1; }
    }
    check "7a plot DIR DIR2 --output x.png writes a PNG" check7
    P=$tmp/P
    train "$P" --max-iters 3 --plot
    check "7b train --plot writes DIR/loss.png" \
        eval '[ "$(od -An -tx1 -N8 "$P/loss.png" | tr -d " \n")" = "89504e470d0a1a0a" ]'
else
    nb_skip tool:gnuplot "7 plot: gnuplot is not installed (NB_GNUPLOT / PATH), PNG output not checked"
fi

# ---- 8. bad input: one message, non-zero exit, nothing in the out dir overwritten ---------------
T="$CHARGPT train --out-dir $A $COMMON --max-iters 1"
: >"$tmp/empty.txt"
head -c 30 "$data" >"$tmp/short.txt"
awk 'BEGIN { srand(3); for (i = 0; i < 3000; i++) printf "%c", 128 + int(rand() * 128) }' >"$tmp/bin.dat"
printf 'abc\000def\n' >"$tmp/nul.txt"
mkdir "$tmp/adir"
head -c 1000 "$CK" >"$tmp/trunc.safetensors"
awk 'BEGIN { srand(5); for (i = 0; i < 4000; i++) printf "%c", 1 + int(rand() * 255) }' >"$tmp/rand.safetensors"
OV=$tmp/OV
"$CHARGPT" train --data "$tmp/other.txt" --out-dir "$OV" $COMMON --max-iters 0 >/dev/null 2>&1
check "8a missing data file" fails_with 1 "nope.txt" $T --data "$tmp/nope.txt"
check "8b data path is a directory" fails_with 1 "adir: read error" $T --data "$tmp/adir"
check "8c empty data file" fails_with 1 "empty" $T --data "$tmp/empty.txt"
check "8d data too short for --block-size 16" fails_with 1 "too few" $T --data "$tmp/short.txt"
check "8e binary data (invalid UTF-8)" fails_with 1 "bin.dat: not a text file" $T --data "$tmp/bin.dat"
check "8f binary data (NUL byte)" fails_with 1 "nul.txt: not a text file: NUL byte" $T --data "$tmp/nul.txt"
for cmd in sample eval; do
    dopt= # eval reads --data; sample refuses options it does not read
    [ "$cmd" = eval ] && dopt="--data $data"
    check "8g $cmd: truncated checkpoint" \
        fails_with 1 "trunc.safetensors: " "$CHARGPT" $cmd --checkpoint "$tmp/trunc.safetensors" $dopt
    check "8h $cmd: random-bytes checkpoint" \
        fails_with 1 "rand.safetensors: " "$CHARGPT" $cmd --checkpoint "$tmp/rand.safetensors" $dopt
    check "8i $cmd: resume.safetensors given as the checkpoint" \
        fails_with 1 "resume state" "$CHARGPT" $cmd --checkpoint "$A/resume.safetensors" $dopt
    check "8j $cmd: missing checkpoint file" \
        fails_with 1 "nope.safetensors" "$CHARGPT" $cmd --checkpoint "$tmp/nope.safetensors" $dopt
done
check "8k eval: checkpoint of another vocabulary on data with unknown characters" \
    fails_with 1 "is not in the vocabulary" "$CHARGPT" eval --checkpoint "$OV/ckpt.safetensors" --data "$data"
check "8l --n-embd 10 --n-head 3" fails_with 2 "divisible" $T --data "$data" --n-embd 10 --n-head 3
check "8m --block-size 0" fails_with 2 "--block-size" $T --data "$data" --block-size 0
check "8n --learning-rate abc" fails_with 2 "--learning-rate" $T --data "$data" --learning-rate abc
check "8n2 --learning-rate 0" fails_with 2 "--learning-rate" $T --data "$data" --learning-rate 0
check "8o --dropout 2" fails_with 2 "--dropout" $T --data "$data" --dropout 2
check "8p --eval-interval 0" fails_with 2 "--eval-interval" $T --data "$data" --eval-interval 0
check "8q --lr-schedule bogus" fails_with 2 "--lr-schedule" $T --data "$data" --lr-schedule bogus
check "8r --milestones 30,10 (decreasing)" fails_with 2 "--milestones" $T --data "$data" --milestones 30,10
check "8s unknown option --bogus" fails_with 2 "--bogus" $T --data "$data" --bogus
check "8t option value missing (--n-embd at the end)" fails_with 2 "--n-embd" $T --data "$data" --n-embd
check "8u sample --top-p 0" fails_with 2 "--top-p" "$CHARGPT" sample --checkpoint "$CK" --top-p 0
check "8v sample --temperature 0" fails_with 2 "--temperature" "$CHARGPT" sample --checkpoint "$CK" --temperature 0
check "8w eval --split bogus" fails_with 2 "--split" "$CHARGPT" eval --checkpoint "$CK" --data "$data" --split bogus
check "8x train without --data" fails_with 2 "required" "$CHARGPT" train --out-dir "$A"
check "8y sample without --checkpoint" fails_with 2 "required" "$CHARGPT" sample --prompt "The"
check "8z eval without --data" fails_with 2 "required" "$CHARGPT" eval --checkpoint "$CK"
check "8A unknown subcommand" fails_with 2 "unknown command" "$CHARGPT" frobnicate --data "$data"
check "8B --resume with a resume state of another config (--n-embd 32)" \
    fails_with 1 "another model config" $T --data "$data" --resume --n-embd 32
check "8C --resume with data of another vocabulary" \
    fails_with 1 "another model config or vocabulary" $T --data "$tmp/other.txt" --resume
check "8D --resume without a resume state" fails_with 1 "resume.safetensors" \
    "$CHARGPT" train --out-dir "$tmp/fresh" --data "$data" $COMMON --resume
check "8E plot of a directory without log.csv" fails_with 1 "log.csv" "$CHARGPT" plot "$tmp/adir" --output "$tmp/y.png"

# ---- 9. divergence: NaN/Inf loss stops with exit 3, the last good checkpoint still loads ---------
N=$tmp/N
train "$N" --max-iters 40 --learning-rate 1000
rc_n=$?
if [ "$rc_n" -eq 0 ] && ! grep -Eqi 'nan|inf' "$N/log.csv"; then
    nb_skip setup "9 --learning-rate 1000 did not diverge (no NaN): divergence handling not checked"
else
    check9() {
        [ "$rc_n" -eq 3 ] || { say "exit $rc_n, expected 3"; cat "$N.err"; return 1; }
        it=$(sed -nE 's/.*loss is (NaN|Inf) at iter ([0-9]+).*/\2/p' "$N.err")
        [ -n "$it" ] || { say "no 'loss is NaN/Inf at iter N' message:"; cat "$N.err"; return 1; }
        [ "$(rows "$N")" -eq "$it" ] || { say "log has $(rows "$N") rows, diverged at iter $it"; return 1; }
        ! grep -Eqi 'nan|inf' "$N/log.csv" || { say "NaN/Inf in log.csv"; return 1; }
        "$CHARGPT" eval --checkpoint "$N/ckpt.safetensors" --data "$data" >"$tmp/e9" 2>&1 &&
            grep -Eqx 'val_loss [0-9]+\.[0-9]{4}' "$tmp/e9" || { cat "$tmp/e9"; return 1; }
    }
    check "9 --learning-rate 1000 diverges: exit 3, message names the iteration, log has no NaN row, ckpt loads in eval" check9
fi

# A fresh run in the directory of a finished one that diverges before its first resume point must
# not leave the old run's resume state behind (a later --resume would mix the two runs).
N2=$tmp/N2
cp -r "$A" "$N2"
train "$N2" --max-iters 40 --learning-rate 1000 --overwrite
check "9b a fresh run (--overwrite) in an old run's directory keeps neither the old resume state nor the old ckpt" \
    eval '! cmp -s "$A/resume.safetensors" "$N2/resume.safetensors" && ! cmp -s "$A/ckpt.safetensors" "$N2/ckpt.safetensors"'

# ---- 10. --always-save-checkpoint: the checkpoint holds the last eval's weights, not the best ----
# With learning rate 1e-9 every eval sees the same weights on other random batches, so the best val
# loss is at some eval chosen by chance; for this seed it is not the last one (asserted, so the
# check cannot pass without the option doing its work).
ck_iter() { head -c 4096 "$1/ckpt.safetensors" | tr -d '\000' | grep -ao '"iter":"[0-9]*"' | tr -dc '0-9'; }
W1=$tmp/W1 W2=$tmp/W2
train "$W1" --max-iters 30 --learning-rate 1e-9 --lr-schedule constant --eval-iters 1
train "$W2" --max-iters 30 --learning-rate 1e-9 --lr-schedule constant --eval-iters 1 --always-save-checkpoint
check10() {
    a=$(ck_iter "$W1") b=$(ck_iter "$W2")
    [ -n "$a" ] && [ "$a" -lt 30 ] || { say "without the option: checkpoint of iter '$a', expected < 30"; return 1; }
    [ "$b" = 30 ] || { say "with --always-save-checkpoint: checkpoint of iter '$b', expected 30"; return 1; }
}
check "10 --always-save-checkpoint saves the last eval's weights (iter 30; without it: the best, iter $(ck_iter "$W1"))" check10

# ---- 11. NB_PROFILE=1: the per-op table at exit counts every recorded op ------------------------
# 4 training steps (iters 0..3) of 1 layer: per step 5 Linears (c_attn, attn c_proj, c_fc, mlp
# c_proj, lm_head), 3 LayerNorms, 1 attention, 1 cross-entropy, forward and backward; evals run
# without grad and record nothing.
P2=$tmp/P2
NB_PROFILE=1 "$CHARGPT" train --data "$data" --out-dir "$P2" $COMMON --max-iters 3 >/dev/null 2>"$P2.err"
check11() {
    grep -q '^NB_PROFILE: time per op' "$P2.err" || { say "no NB_PROFILE table on stderr:"; cat "$P2.err"; return 1; }
    for want in "nb_linear 20 20" "nb_layer_norm 12 12" "nb_scaled_dot_product_attention 4 4" \
        "nb_cross_entropy 4 4"; do
        set -- $want
        got=$(awk -v op="$1" '$1 == op { print $2, $4 }' "$P2.err")
        [ "$got" = "$2 $3" ] || { say "$1: fwd/bwd calls '$got', expected '$2 $3'"; cat "$P2.err"; return 1; }
    done
}
check "11 NB_PROFILE=1 prints the per-op table with the right call counts" check11

# ---- 12. --out-dir with missing parents is created (mkdir -p, as make run's out/chargpt needs) --
N12=$tmp/new/deeper/run
"$CHARGPT" train --data "$data" --out-dir "$N12" $COMMON --max-iters 0 >"$tmp/n12.out" 2>"$tmp/n12.err"
rc12=$?
: >"$tmp/afile"
"$CHARGPT" train --data "$data" --out-dir "$tmp/afile/run" $COMMON --max-iters 0 >/dev/null 2>"$tmp/n12b.err"
rc12b=$?
check12() {
    [ "$rc12" -eq 0 ] && [ -s "$N12/ckpt.safetensors" ] && [ -s "$N12/log.csv" ] ||
        { say "exit $rc12, files: $(ls "$N12" 2>&1)"; cat "$tmp/n12.err"; return 1; }
    [ "$rc12b" -eq 1 ] && grep -q "chargpt train: cannot create $tmp/afile/run: Not a directory" "$tmp/n12b.err" ||
        { say "parent is a file: exit $rc12b"; cat "$tmp/n12b.err"; return 1; }
}
check "12 --out-dir creates missing parent directories; a file in the way is one clear error" check12

echo "$pass passed, $fail failed"
nb_skip_summary && [ "$fail" -eq 0 ]
