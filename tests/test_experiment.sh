#!/bin/sh
# tests/test_experiment.sh — `make experiment` (bench/lr_decay_experiment.sh) on a small model and
# 120 iterations: three runs from one seed whose learning rates follow their schedules (constant
# 1e-3; MultiStepLR every 50 steps with gamma 0.1^(1/2), ending at 1e-4; cosine ending at min_lr
# 1e-4), each evaluated on the full val split, plotted together and sampled after the prompt.
# Exit 0 pass, 1 failure, 77 skip (no binary).
CHARGPT=${CHARGPT:-./chargpt}
[ -x "$CHARGPT" ] || { echo "SKIP: $CHARGPT not built"; exit 77; }
srcdir=${srcdir:-.}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_experiment.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); echo "ok   - $1"; else fail=$((fail + 1)); echo "FAIL - $1"; fi; }

EXP_OUT=$tmp/exp EXP_ITERS=120 OMP_WAIT_POLICY=passive \
    EXP_ARGS="--n-layer 1 --n-head 2 --n-embd 16 --batch-size 4 --eval-iters 2 --threads 1" \
    sh "$srcdir/bench/lr_decay_experiment.sh" "$(dirname "$CHARGPT")" >"$tmp/out" 2>&1
rc=$?
check "the script exits 0" '[ $rc -eq 0 ] || { tail -n 20 "$tmp/out"; false; }'
# lr of the last logged iteration of each run, compared with the schedule's closed form
lr_at_end() { awk -F, 'NR > 1 { lr = $4 } END { print lr }' "$tmp/exp/$1/log.csv"; }
near() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > 0 && (a - b) / b < 1e-4 && (b - a) / b < 1e-4) }'; }
check "constant: lr 1e-3 at the end" 'near "$(lr_at_end constant)" 0.001'
check "multistep: gamma 0.1^(1/2) over milestones 50, 100: lr 1e-4 at the end" 'near "$(lr_at_end multistep)" 0.0001'
check "multistep: lr 1e-3 * 0.1^(1/2) between the milestones" \
    'near "$(awk -F, "\$1 == 75 { print \$4 }" "$tmp/exp/multistep/log.csv")" 0.000316228'
check "cosine: lr min_lr 1e-4 at the end" 'near "$(lr_at_end cosine)" 0.0001'
check "results.txt: three full-split val losses" \
    '[ "$(grep -c "full-split val loss [0-9][0-9.]*" "$tmp/exp/results.txt")" = 3 ]'
check "the three runs differ (the schedules took effect)" \
    '[ "$(sed "s/.*loss \([0-9.]*\).*/\1/" "$tmp/exp/results.txt" | sort -u | wc -l)" = 3 ]'
check "samples.md: each model continues the prompt" \
    '[ "$(grep -c "^I saw a cat jumping onto the table," "$tmp/exp/samples.md")" = 3 ]'
if command -v "${NB_GNUPLOT:-gnuplot}" >/dev/null 2>&1; then
    check "loss.png is a PNG" '[ "$(head -c 4 "$tmp/exp/loss.png" | od -An -c | tr -d " ")" = "211PNG" ]'
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
