#!/bin/sh
# bench/chargpt_models.sh — the default config of each chargpt model (gpt, llama, lstm) trained on
# Tiny Shakespeare for the same wall time, the three at once (the same machine load for each), one
# thread each; then the full-split val loss of each run's last checkpoint (`chargpt eval`, every
# window; the lstm from a zero state) and the training tokens/s (median of log.csv's per-step
# column, evaluations excluded; --eval-interval 25 --eval-iters 2 keep the checkpoint recent and the
# evaluations cheap). Prints a Markdown table with the CPU model and the load average.
# The lstm trains as char-rnn does: --sampling sequential (carried state, truncated BPTT).
#   sh bench/chargpt_models.sh [SECONDS [OUTDIR]]   (defaults 180, a temporary directory)
# Run from the top build directory; DATA (data/tinyshakespeare.txt) and CHARGPT (./chargpt) override.
SECONDS_=${1:-180}
CHARGPT=${CHARGPT:-./chargpt}
DATA=${DATA:-data/tinyshakespeare.txt}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/chargpt_models.XXXXXX")}
mkdir -p "$out" || exit 1
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY
load0=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
for m in gpt llama lstm; do
    extra=
    [ "$m" = lstm ] && extra="--sampling sequential"
    # shellcheck disable=SC2086
    timeout -s INT "$SECONDS_" "$CHARGPT" train --data "$DATA" --out-dir "$out/$m" --model $m $extra --threads 1 \
        --eval-interval 25 --eval-iters 2 --always-save-checkpoint --overwrite --log-interval 50 >"$out/$m.out" 2>&1 &
done
wait
load1=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
echo "CPU: $cpu, $(nproc) cores; load average at start $load0, at end $load1; ${SECONDS_} s each, 1 thread, the three at once"
echo
echo "| model | parameters | iterations in ${SECONDS_} s | checkpoint iter | full-split val loss | train tokens/s (median) |"
echo "|---|---|---|---|---|---|"
for m in gpt llama lstm; do
    params=$(sed -n 's/^chargpt: \([0-9]*\) parameters.*/\1/p' "$out/$m.out")
    iters=$(($(wc -l <"$out/$m/log.csv") - 1))
    ck=$(awk -F, 'NR > 1 && $3 != "" { it = $1 } END { print it }' "$out/$m/log.csv")
    val=$("$CHARGPT" eval --checkpoint "$out/$m/ckpt.safetensors" --data "$DATA" --threads 1 2>&1 | sed 's/^val_loss //')
    tps=$(awk -F, 'NR > 1 && $3 == "" { print $5 }' "$out/$m/log.csv" | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "| $m | $params | $iters | $ck | $val | $tps |"
done
