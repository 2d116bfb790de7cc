#!/bin/sh
# bench/chargpt_models.sh — the default config of each chargpt model (gpt, llama, lstm) trained on
# Tiny Shakespeare for the same wall time, nabla beside its PyTorch 1.13 equivalent
# (bench/torch_models.py: the same model, init distributions, data split, batches, AdamW groups,
# warmup + cosine schedule, clipping and evaluation). For each model in turn, nabla and PyTorch run
# AT THE SAME TIME, one thread each (both see the same machine load), each stopped by SIGINT after
# SECONDS; then the full-split val loss of each run's last checkpoint (nabla: `chargpt eval` of
# ckpt.safetensors; PyTorch: its last snapshot, evaluated the same way: every window, the lstm
# from a zero state) and the training tokens/s (median of log.csv's per-step column, evaluations
# excluded; --eval-interval 25 --eval-iters 2 keep the checkpoint recent and the evaluations
# cheap, on both sides). Prints a Markdown table with the CPU model and the load averages.
# The lstm trains as char-rnn does: --sampling sequential (carried state, truncated BPTT).
#   sh bench/chargpt_models.sh [SECONDS [OUTDIR]]   (defaults 180, a temporary directory;
#                                                    the whole run takes about 3 x SECONDS)
# Run from the top build directory; DATA (data/tinyshakespeare.txt), CHARGPT (./chargpt), PYTHON
# (/usr/bin/python3, with torch) and SRCDIR (this script's parent) override; BENCH_TORCH=0 or a
# Python without torch leaves the PyTorch columns '-'.
SECONDS_=${1:-180}
CHARGPT=${CHARGPT:-./chargpt}
DATA=${DATA:-data/tinyshakespeare.txt}
PYTHON=${PYTHON:-/usr/bin/python3}
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/chargpt_models.XXXXXX")}
mkdir -p "$out" || exit 1
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY
have_torch=0
if [ "${BENCH_TORCH:-1}" != 0 ] && torch_ver=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    have_torch=1
fi
loads=""
for m in gpt llama lstm; do
    extra=
    [ "$m" = lstm ] && extra="--sampling sequential"
    l0=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)
    # shellcheck disable=SC2086
    timeout -s INT "$SECONDS_" "$CHARGPT" train --data "$DATA" --out-dir "$out/$m" --model $m $extra --threads 1 \
        --eval-interval 25 --eval-iters 2 --always-save-checkpoint --overwrite --log-interval 50 >"$out/$m.out" 2>&1 &
    if [ $have_torch = 1 ]; then
        # shellcheck disable=SC2086
        OPENBLAS_NUM_THREADS=1 timeout -s INT "$SECONDS_" "$PYTHON" "$SRCDIR/bench/torch_models.py" --model $m $extra \
            --data "$DATA" --out-dir "$out/pt_$m" --threads 1 --eval-interval 25 --eval-iters 2 >"$out/pt_$m.out" 2>&1 &
    fi
    wait
    loads="$loads $m $l0 -> $(cut -d' ' -f1 /proc/loadavg 2>/dev/null);"
done
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')
echo "CPU: $cpu, $(nproc) cores; 1-minute load average per model pair (start -> end):$loads"
echo "${SECONDS_} s per run, 1 thread each; per model nabla and PyTorch ${torch_ver:-(not run)} at the same time, the models one after another"
echo
# median TOKENS/S of a log.csv, evaluation rows excluded
median_tps() {
    awk -F, 'NR > 1 && $3 == "" { print $5 }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
echo "| model | parameters | nabla iterations | nabla full-split val loss (at iter) | nabla tokens/s | PyTorch iterations | PyTorch full-split val loss (at iter) | PyTorch tokens/s | tokens/s nabla / PyTorch |"
echo "|---|---|---|---|---|---|---|---|---|"
for m in gpt llama lstm; do
    params=$(sed -n 's/^chargpt: \([0-9]*\) parameters.*/\1/p' "$out/$m.out")
    iters=$(($(wc -l <"$out/$m/log.csv") - 1))
    ck=$(awk -F, 'NR > 1 && $3 != "" { it = $1 } END { print it }' "$out/$m/log.csv")
    val=$("$CHARGPT" eval --checkpoint "$out/$m/ckpt.safetensors" --data "$DATA" --threads 1 2>&1 | sed 's/^val_loss //')
    tps=$(median_tps "$out/$m/log.csv")
    pi=- pv=- ptps='' pck=''
    res=$(grep '^RESULT ' "$out/pt_$m.out" 2>/dev/null)
    if [ -n "$res" ]; then
        pi=$(echo "$res" | sed -n 's/.* iters=\([0-9]*\).*/\1/p')
        pck=$(echo "$res" | sed -n 's/.* ckpt_iter=\([0-9]*\).*/\1/p')
        pv="$(echo "$res" | sed -n 's/.* val_loss=\([0-9.]*\).*/\1/p') ($pck)"
        ptps=$(median_tps "$out/pt_$m/log.csv")
        [ "$params" = "$(echo "$res" | sed -n 's/.* params=\([0-9]*\).*/\1/p')" ] || params="$params (PyTorch: other count!)"
    elif [ $have_torch = 1 ]; then
        pv="failed (see $out/pt_$m.out)"
    fi
    ratio=$(awk -v a="$tps" -v b="$ptps" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }')
    echo "| $m | $params | $iters | $val ($ck) | $tps | $pi | $pv | ${ptps:--} | $ratio |"
done
