#!/bin/sh
# bench/lr_decay_experiment.sh — the original mini-project's experiment, reproduced with chargpt.
#
#   make experiment            (or: sh bench/lr_decay_experiment.sh [BUILDDIR])
#
# Trains the default char GPT (nanoGPT's CPU shakespeare_char config) on Tiny Shakespeare for
# EXP_ITERS iterations (default 4000) three times from the same seed (1337), changing only the
# learning-rate schedule:
#   constant   lr 1e-3 throughout: no decay
#   multistep  MultiStepLR, milestones every 50 steps, gamma = 0.1^(1/n_milestones), so the lr
#              falls from 1e-3 to 1e-4 at the last milestone: the same start and end as the cosine
#              run (the project's default gamma 0.5 would reach 1e-3 * 0.5^79 ~ 1e-27: training
#              stops after a few hundred steps, which compares nothing but a vanished lr)
#   cosine     nanoGPT's schedule: 100 warm-up steps, cosine to 1e-4 at the last iteration
# Each run's checkpoint holds its final weights (--always-save-checkpoint).
# and writes to out/experiment/: each run's directory (log.csv, ckpt.safetensors), loss.png (the
# three val/train curves overlaid), samples.md (each model's text after "I saw a cat jumping onto
# the table,", sampled with one seed) and results.txt (each run's full-split val loss from
# `chargpt eval`). Takes about 3 minutes per run on an idle 2-core Zen 3 (~9 in all); EXP_ITERS=N
# shortens it, EXP_ARGS adds train options (e.g. a smaller model for a quick check), EXP_JOBS=3 runs
# the three trainings at once with one thread each (the same numbers: results do not depend on the
# thread count).
set -eu
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
BUILDDIR=${1:-$SRCDIR}
CHARGPT="$BUILDDIR/chargpt"
DATA="$SRCDIR/data/tinyshakespeare.txt"
OUT=${EXP_OUT:-out/experiment}
ITERS=${EXP_ITERS:-4000}
PROMPT="I saw a cat jumping onto the table,"
[ -x "$CHARGPT" ] || { echo "lr_decay_experiment: $CHARGPT is not built (make chargpt)" >&2; exit 1; }
[ -r "$DATA" ] || { echo "lr_decay_experiment: $DATA is missing" >&2; exit 1; }

n_ms=$(( (ITERS - 1) / 50 )) # milestones 50, 100, ... below ITERS (chargpt's default list)
[ "$n_ms" -ge 1 ] || { echo "lr_decay_experiment: EXP_ITERS must exceed 50" >&2; exit 1; }
gamma=$(awk -v n="$n_ms" 'BEGIN { printf "%.6f", exp(log(0.1) / n) }')
eval_interval=$(( ITERS >= 1000 ? 250 : (ITERS + 3) / 4 ))
warmup=$(( ITERS >= 1000 ? 100 : ITERS / 10 ))
# --always-save-checkpoint: each checkpoint holds the final weights (not the best eval's), so the
# full-split losses and the samples compare where each schedule ended
common="--data $DATA --max-iters $ITERS --eval-interval $eval_interval --seed 1337 --quiet --always-save-checkpoint ${EXP_ARGS:-}"

sched_of() {
    case $1 in
    constant) echo "--lr-schedule constant" ;;
    multistep) echo "--lr-schedule multistep --gamma $gamma" ;;
    cosine) echo "--lr-schedule cosine --lr-decay-iters $ITERS --warmup-iters $warmup" ;;
    esac
}
train() { # train RUN: one run into its own fresh directory, its time in RUN.seconds
    rm -rf "${OUT:?}/$1" # this script's own run directory: a fresh run every time
    echo "== $1: chargpt train $(sched_of "$1") ($ITERS iterations)"
    start=$(date +%s)
    # shellcheck disable=SC2086 # word splitting of the option lists intended
    "$CHARGPT" train $common $(sched_of "$1") --out-dir "$OUT/$1" ${EXP_JOBS:+--threads 1} || return 1
    echo $(( $(date +%s) - start )) >"$OUT/$1.seconds"
}

mkdir -p "$OUT"
: >"$OUT/results.txt"
if [ "${EXP_JOBS:-1}" -gt 1 ]; then # the three runs at once, one thread each (same results)
    for run in constant multistep cosine; do train $run & done
    fail=0
    for run in constant multistep cosine; do wait -n 2>/dev/null || wait || fail=1; done
    [ $fail = 0 ] || { echo "lr_decay_experiment: a run failed" >&2; exit 1; }
else
    for run in constant multistep cosine; do train $run; done
fi
for run in constant multistep cosine; do
    [ -s "$OUT/$run.seconds" ] || { echo "lr_decay_experiment: the $run run failed" >&2; exit 1; }
    val=$("$CHARGPT" eval --checkpoint "$OUT/$run/ckpt.safetensors" --data "$DATA" --split val |
        sed -n 's/.*loss \([0-9.]*\).*/\1/p' | tail -n 1)
    printf '%-10s full-split val loss %s  (%s; %d s)\n' "$run" "$val" "$(sched_of $run)" "$(cat "$OUT/$run.seconds")" |
        tee -a "$OUT/results.txt"
done

"$CHARGPT" plot "$OUT/constant" "$OUT/multistep" "$OUT/cosine" --output "$OUT/loss.png"

{
    echo "# Samples after \"$PROMPT\" ($ITERS iterations, seed 1337; sampled with seed 1337, temperature 0.8, top-k 200)"
    for run in constant multistep cosine; do
        echo
        echo "## $run ($(sed -n "s/^$run *full-split val loss \([0-9.]*\).*/val loss \1/p" "$OUT/results.txt"))"
        echo
        echo '```'
        "$CHARGPT" sample --checkpoint "$OUT/$run/ckpt.safetensors" --prompt "$PROMPT" --max-new-tokens 300 \
            --seed 1337 | sed '/^---------------$/d'
        echo '```'
    done
} >"$OUT/samples.md"
echo "wrote $OUT/loss.png, $OUT/samples.md, $OUT/results.txt"
