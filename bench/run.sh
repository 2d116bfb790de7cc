#!/bin/sh
# bench/run.sh — nabla vs PyTorch on this machine, in one run; prints side-by-side tables.
#
#   make bench                         (builds bench/bench_train, bench/bench_overhead, tries
#                                       bench/bench_gemm, bench_conv, bench_rmsnorm, bench_rnn,
#                                       then runs this script)
#   BUILDDIR=. SRCDIR=. sh bench/run.sh     (after make bench/bench_train bench/bench_overhead, and
#                                       bench/bench_conv bench/bench_rmsnorm bench/bench_rnn for
#                                       their sections; a program not built: its section is skipped
#                                       with a note)
#
# Environment:
#   BENCH_ONLY="char gpt2 overhead scaling busy gemm conv rmsnorm lstm"   sections (default: all)
#   BENCH_TORCH=0       skip the PyTorch side (it is skipped anyway, with a note, without torch)
#   BENCH_STEPS_CHAR=N  timed steps for the char GPT configs (default 100; warm-up 5)
#   BENCH_STEPS_GPT2=N  timed steps for GPT-2 124M (default 3; warm-up 1)
#   BENCH_ROUNDS=N      rounds of the char GPT and GPT-2 sections (default 3 and 2): every
#                       configuration of nabla and PyTorch runs once per round, interleaved, and
#                       the tables take each configuration's best round (the machine's speed drifts
#                       by 10-30% over minutes on shared hosts; rounds let both sides meet it alike)
#   BENCH_CONV_REPS=N   conv2d: timed repeats per run (default 3, after 1 warm-up); the conv and
#                       lstm sections run BENCH_ROUNDS rounds (default 2), interleaved as above
#   BENCH_RMSNORM_ITERS=N  rms_norm: iterations per timed run (default 100; 5 runs a round, 3
#                       rounds, nabla and PyTorch interleaved by bench/torch_rmsnorm.py)
#   BENCH_STEPS_LSTM=N  char LSTM (bench/bench_rnn): timed steps (default 8; warm-up 2)
#   BENCH_RUN_TIMEOUT=S each run of the conv, rmsnorm and lstm sections stops after S seconds
#                       (default 60; its figure is then '-'): on a loaded host PyTorch's 2-thread
#                       runs can collapse (its OpenMP/OpenBLAS threads spin-wait for a core: 68
#                       tok/s instead of ~2,000 for the LSTM) and would take many minutes
#   PYTHON=...          the Python with torch (default /usr/bin/python3)
#   BENCH_BF16=0|1      bfloat16 rows (nabla's bench_train --dtype bfloat16, PyTorch's autocast,
#                       bench_gemm's PyTorch bf16 matmul): default on where the CPU has avx512_bf16
#                       or amx_bf16; 1 runs them anyway (to check the tables; slow there), 0 never
#   BENCH_LOG=FILE      also keep every program's full output there (default: a temp file, removed)
# PyTorch runs with N threads set both ways: torch.set_num_threads(N) and OPENBLAS_NUM_THREADS=N
# (Debian's torch does its GEMMs in OpenBLAS, whose pthreads pool otherwise takes every core);
# "torch default" sets neither. PyTorch is compared in its best setting: bench/openblas_probe.py
# first times a float32 GEMM under each OPENBLAS_CORETYPE that fits the CPU (as installed, Haswell,
# Zen on AMD, SkylakeX with AVX-512, CooperLake with AVX512_BF16) and every PyTorch run but "torch
# default" (as installed) takes the fastest; on a CPU with bf16 (avx512_bf16 or amx_bf16) PyTorch
# also runs under torch.autocast("cpu", bfloat16), and "best PyTorch" is the best of all of them.
# nabla runs bfloat16 too on such a CPU (bench_train --dtype bfloat16: autocast, the bf16 GEMM kernel
# in force printed in the header: amx, avx512bf16, or rounded-fp32 = float32 kernels on rounded
# operands), as rows "bf16 1 thr" / "bf16 2 thr" beside PyTorch's; "best nabla" is the best of all.
# shellcheck disable=SC2086 # $CHAR, $GPT2, $envs: word splitting intended
set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILDDIR=${BUILDDIR:-$(pwd)}
PYTHON=${PYTHON:-/usr/bin/python3}
ONLY=${BENCH_ONLY:-char gpt2 overhead scaling busy gemm conv rmsnorm lstm}
STEPS_CHAR=${BENCH_STEPS_CHAR:-100}
STEPS_GPT2=${BENCH_STEPS_GPT2:-3}
ROUNDS_CHAR=${BENCH_ROUNDS:-3}
ROUNDS_GPT2=${BENCH_ROUNDS:-2}
TRAIN="$BUILDDIR/bench/bench_train"
OVERHEAD="$BUILDDIR/bench/bench_overhead"
GEMM="$BUILDDIR/bench/bench_gemm"
ROUNDS_KERN=${BENCH_ROUNDS:-2}
REPS_CONV=${BENCH_CONV_REPS:-3}
ITERS_RMS=${BENCH_RMSNORM_ITERS:-100}
STEPS_LSTM=${BENCH_STEPS_LSTM:-8}
TMO=${BENCH_RUN_TIMEOUT:-60}
CONV="$BUILDDIR/bench/bench_conv"
RMS="$BUILDDIR/bench/bench_rmsnorm"
RNN="$BUILDDIR/bench/bench_rnn"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
RES="$tmp/results" # lines "TAG key=value ..." (the programs' RESULT lines, tagged)
LOG=${BENCH_LOG:-$tmp/log}
: >"$RES"
: >"$LOG"

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

for p in "$TRAIN" "$OVERHEAD"; do
    if [ ! -x "$p" ]; then
        echo "run.sh: $p is missing: run 'make bench' (or make bench/bench_train bench/bench_overhead)" >&2
        exit 1
    fi
done

have_torch=0
torch_note=""
if [ "${BENCH_TORCH:-1}" = 0 ]; then
    torch_note="PyTorch side skipped (BENCH_TORCH=0)"
elif torch_ver=$("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null); then
    have_torch=1
else
    torch_note="PyTorch not found ($PYTHON cannot import torch): PyTorch columns skipped, shown as '-'"
fi

# ---- PyTorch's best OpenBLAS kernel and bf16 --------------------------------------------------
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has_flag() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
PT_CORE="" probe_table=""
if [ $have_torch = 1 ]; then
    cands="asis Haswell"
    grep -q AuthenticAMD /proc/cpuinfo 2>/dev/null && cands="$cands Zen"
    has_flag avx512f && cands="$cands SkylakeX"
    has_flag avx512_bf16 && cands="$cands CooperLake"
    best_gf=0
    for c in $cands; do
        if [ $c = asis ]; then
            line=$(OPENBLAS_NUM_THREADS=1 "$PYTHON" "$SRCDIR/bench/openblas_probe.py" 2>/dev/null | grep '^RESULT')
        else
            line=$(OPENBLAS_CORETYPE=$c OPENBLAS_NUM_THREADS=1 "$PYTHON" "$SRCDIR/bench/openblas_probe.py" 2>/dev/null | grep '^RESULT')
        fi
        core=$(echo "$line" | sed -n 's/.*corename=\([^ ]*\).*/\1/p') gf=$(echo "$line" | sed -n 's/.*gflops=\([0-9.]*\).*/\1/p')
        [ -n "$gf" ] || continue
        probe_table="$probe_table  OPENBLAS_CORETYPE=$([ $c = asis ] && echo "${OPENBLAS_CORETYPE:-unset} (as installed)" || echo $c): OpenBLAS runs $core, sgemm 1024^3 1 thread $gf GFLOP/s
"
        if awk -v a="$gf" -v b="$best_gf" 'BEGIN { exit !(a > b) }'; then
            best_gf=$gf
            PT_CORE=$([ $c = asis ] && echo "${OPENBLAS_CORETYPE:-}" || echo $c)
        fi
    done
fi
CPU_BF16=0
if has_flag avx512_bf16 || has_flag amx_bf16; then CPU_BF16=1; fi
NB_BF16=${BENCH_BF16:-$CPU_BF16} # nabla's bf16 rows
PT_BF16=0
if [ $have_torch = 1 ] && [ "$NB_BF16" = 1 ]; then PT_BF16=1; fi
# the kernels nabla runs (NB_KERNELS or the CPU's best) and the kind of its bf16 GEMM, from the library
kern=$("$TRAIN" --print-kernels 2>/dev/null)
NB_KERN=$(echo "$kern" | sed -n 's/.*kernels=\([^ ]*\).*/\1/p')
NB_BF16_KERN=$(echo "$kern" | sed -n 's/.*bf16_kernel=\([^ ]*\).*/\1/p')

# ---- running ----------------------------------------------------------------------------------
re() { printf '%s' "$1" | sed 's/[][\\.*^$|]/\\&/g'; } # re STRING: STRING as a literal sed pattern
# run TAG ENV... -- CMD ARGS...: runs the command, echoes its summary, stores its RESULT lines.
run() {
    tag=$1
    shift
    envs=""
    while [ "$1" != "--" ]; do
        envs="$envs $1"
        shift
    done
    shift
    printf '  %-16s [load %s] %s\n' "$tag" "$(cut -d' ' -f1 /proc/loadavg)" \
        "$(echo "$envs $*" | sed "s|$(re "$BUILDDIR")/||g; s|$(re "$SRCDIR")/||g; s|^ *||")"
    echo "== $tag:$envs $*" >>"$LOG"
    # shellcheck disable=SC2086
    env $envs "$@" >"$tmp/out" 2>&1
    st=$?
    if [ $st = 0 ]; then
        cat "$tmp/out" >>"$LOG"
        grep '^warm-up\|^nabla:\|^torch [0-9].*ns/op\|^round ' "$tmp/out" | sed 's/^/      /'
        grep '^RESULT ' "$tmp/out" | sed "s/^RESULT /$tag /" >>"$RES"
    elif [ $st = 124 ]; then # a run of the conv, rmsnorm or lstm section over BENCH_RUN_TIMEOUT
        cat "$tmp/out" >>"$LOG"
        echo "      TIMED OUT after ${TMO}s (BENCH_RUN_TIMEOUT): no result (shown as '-')"
    else
        cat "$tmp/out" >>"$LOG"
        echo "      FAILED (exit $st); last lines:"
        tail -n 5 "$tmp/out" | sed 's/^/      | /'
    fi
}

nb() { tag=$1 threads=$2; shift 2; run "$tag" -- "$TRAIN" --threads "$threads" "$@"; }
pt() { # pt TAG THREADS(0 = torch default: as installed, no thread setting) ARGS...
    tag=$1 threads=$2
    shift 2
    [ $have_torch = 1 ] || return 0
    if [ "$threads" = 0 ]; then
        run "$tag" -- "$PYTHON" "$SRCDIR/bench/torch_train.py" --threads 0 "$@"
    else
        run "$tag" OPENBLAS_NUM_THREADS="$threads" ${PT_CORE:+OPENBLAS_CORETYPE=$PT_CORE} -- \
            "$PYTHON" "$SRCDIR/bench/torch_train.py" --threads "$threads" "$@"
    fi
}
ptbf() { [ $PT_BF16 = 1 ] && pt "$@" --bf16; return 0; } # PyTorch under bf16 autocast, where the CPU has bf16
nbbf() { [ "$NB_BF16" = 1 ] && nb "$@" --dtype bfloat16; return 0; } # nabla under bf16 autocast, likewise

# ---- reading results ----------------------------------------------------------------------------
get() { # get TAG KEY [CASE]: value of KEY in TAG's result line ("" if none)
    awk -v t="$1" -v k="$2" -v c="${3:-}" '$1 == t {
        v = ""; cs = ""
        for (i = 2; i <= NF; i++) { n = index($i, "="); key = substr($i, 1, n - 1)
            if (key == k) v = substr($i, n + 1); if (key == "case") cs = substr($i, n + 1) }
        if (c == "" || c == cs) { print v; exit } }' "$RES"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
fmt() { # fmt VALUE PRINTF-FORMAT: "-" when empty
    if [ -z "$1" ]; then echo "-"; else awk -v v="$1" -v f="$2" 'BEGIN { printf f "\n", v }'; fi
}
best() { # best MODE(max|min) TAG... : the best value of KEY=$KEY among tags (empty when none)
    mode=$1
    shift
    for t in "$@"; do get "$t" "$KEY"; done | awk -v m="$mode" 'NF { if (b == "" || (m == "max" ? $1 > b : $1 < b)) b = $1 } END { print b }'
}
besttag() { # besttag MODE TAG...: which tag holds the best
    mode=$1
    shift
    for t in "$@"; do v=$(get "$t" "$KEY"); [ -n "$v" ] && echo "$t $v"; done |
        awk -v m="$mode" '{ if (b == "" || (m == "max" ? $2 > b : $2 < b)) { b = $2; bt = $1 } } END { print bt }'
}
fastest() { # fastest TAG: tokens/s of the fastest timed step
    awk -v b="$(get "$1" B)" -v t="$(get "$1" T)" -v s="$(get "$1" best_s_per_step)" \
        'BEGIN { if (s == "" || s + 0 == 0) print ""; else printf "%.1f\n", b * t / s }'
}
label() { case $1 in *_1t) echo "1 thread" ;; *_2t) echo "2 threads" ;; *_def) echo "default" ;; *_bf1) echo "bf16 1 thr" ;; *_bf2) echo "bf16 2 thr" ;; "") echo "-" ;; *_best) echo best ;; *) echo "$1" ;; esac; }

# ---- header -------------------------------------------------------------------------------------
model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
echo "nabla benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: ${model:-unknown CPU}, $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nabla $(git -C "$SRCDIR" describe --always --dirty 2>/dev/null || echo '(no git)'); PyTorch: ${torch_ver:-none};" \
    "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "CPU flags: $(echo "$flags" | grep -o -w -E 'avx2|fma|avx512f|avx512_bf16|amx_bf16|amx_tile' | tr '\n' ' ' | sed 's/ $//');" \
    "nabla kernels: ${NB_KERN:-?}, bf16 GEMM (autocast): ${NB_BF16_KERN:-?}"
if [ "$NB_BF16" = 1 ] && [ $CPU_BF16 = 0 ]; then
    echo "BENCH_BF16=1: bf16 rows run although the CPU has no bf16 instructions (nabla: ${NB_BF16_KERN:-?}; not bf16 speed)"
elif [ "$NB_BF16" != 1 ]; then
    echo "nabla bf16 rows skipped: $([ $CPU_BF16 = 1 ] && echo "BENCH_BF16=0" ||
        echo "the CPU has no bf16 instructions (avx512_bf16, amx_bf16); its bf16 GEMM would be ${NB_BF16_KERN:-?}")"
fi
if [ $PT_BF16 = 1 ]; then pt_bf16_says=yes
elif [ $CPU_BF16 = 1 ]; then pt_bf16_says="no (BENCH_BF16=0)"
else pt_bf16_says="no (the CPU has no bf16)"; fi
if [ -n "$probe_table" ]; then
    echo "PyTorch's OpenBLAS kernel (fastest taken for every PyTorch run but 'torch default'):"
    printf '%s' "$probe_table"
    echo "  -> PyTorch runs with OPENBLAS_CORETYPE=${PT_CORE:-unset}; bf16 autocast runs: $pt_bf16_says"
fi
[ -n "$torch_note" ] && echo "NOTE: $torch_note"
awk -v n="$(nproc)" '{ if ($1 > 0.5 * n) printf "WARNING: load average %s on %d cores: other work competes; figures are pessimistic, 2-thread ones most\n", $1, n }' /proc/loadavg
echo

CHAR="--preset char --warmup 5 --steps $STEPS_CHAR"
GPT2="--preset gpt2 --warmup 1 --steps $STEPS_GPT2"
if want char || want scaling; then
    echo "char GPT (nanoGPT CPU config), $STEPS_CHAR timed steps after 5 warm-up, $ROUNDS_CHAR round(s):"
    for r in $(seq "$ROUNDS_CHAR"); do
        nb nb_char_1t 1 $CHAR
        nb nb_char_2t 2 $CHAR
        pt pt_char_1t 1 $CHAR
        pt pt_char_2t 2 $CHAR
        want char && pt pt_char_def 0 $CHAR
        want char && nbbf nb_char_bf1 1 $CHAR && nbbf nb_char_bf2 2 $CHAR
        want char && ptbf pt_char_bf1 1 $CHAR && ptbf pt_char_bf2 2 $CHAR
    done
fi
if want gpt2; then
    echo "GPT-2 124M shape, $STEPS_GPT2 timed steps after 1 warm-up, $ROUNDS_GPT2 round(s):"
    for r in $(seq "$ROUNDS_GPT2"); do
        nb nb_gpt2_1t 1 $GPT2
        nb nb_gpt2_2t 2 $GPT2
        pt pt_gpt2_1t 1 $GPT2
        pt pt_gpt2_2t 2 $GPT2
        nbbf nb_gpt2_bf1 1 $GPT2 && nbbf nb_gpt2_bf2 2 $GPT2
        ptbf pt_gpt2_bf1 1 $GPT2 && ptbf pt_gpt2_bf2 2 $GPT2
    done
fi
if want overhead; then
    echo "tiny-op overhead:"
    run nb_ovh -- "$OVERHEAD"
    [ $have_torch = 1 ] && run pt_ovh -- "$PYTHON" "$SRCDIR/bench/torch_overhead.py"
fi
if want scaling; then
    echo "scaling (4 layers, head size 32, B=12, T=64):"
    for c in 256 384 768; do
        steps=$((c >= 768 ? 4 : 10))
        for th in 1 2; do
            nb "nb_c${c}_${th}t" $th --preset char --n-embd $c --n-head $((c / 32)) --warmup 2 --steps $steps
        done
        for th in 1 2; do
            pt "pt_c${c}_${th}t" $th --preset char --n-embd $c --n-head $((c / 32)) --warmup 2 --steps $steps
        done
    done
fi
if want busy; then
    # One CPU-bound competitor (a shell busy loop) on the cores, started here and stopped after.
    # nabla's default (no --threads: every core, dynamic threads) against its own 1 thread and
    # against 2 static threads (NB_DYNAMIC_THREADS=0), each round interleaved; the same three idle
    # after the competitor stops.
    echo "busy machine (one competing CPU-bound process), char GPT, $ROUNDS_CHAR round(s):"
    sh -c 'while :; do :; done' &
    busy_pid=$!
    trap 'kill $busy_pid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
    sleep 1
    for r in $(seq "$ROUNDS_CHAR"); do
        nb nb_busy_def 0 $CHAR
        nb nb_busy_1t 1 $CHAR
        run nb_busy_2s NB_DYNAMIC_THREADS=0 -- "$TRAIN" --threads 2 $CHAR
    done
    kill $busy_pid 2>/dev/null
    wait $busy_pid 2>/dev/null
    trap 'rm -rf "$tmp"' EXIT INT TERM
    echo "idle again (competitor stopped):"
    sleep 1
    for r in $(seq "$ROUNDS_CHAR"); do
        nb nb_idle_def 0 $CHAR
        nb nb_idle_1t 1 $CHAR
    done
fi
gemm_out=""
if want gemm; then
    if [ -x "$GEMM" ]; then
        echo "GEMM: bench/bench_gemm 1 2"
        echo "== gemm" >>"$LOG"
        gemm_torch=$have_torch # bench_gemm's PyTorch bf16 column: same Python, same bf16 choice
        gemm_out=$(env PYTHON="$PYTHON" BENCH_TORCH=$gemm_torch ${BENCH_BF16:+BENCH_TORCH_BF16=$BENCH_BF16} \
            "$GEMM" 1 2 2>&1) || gemm_out="$gemm_out
(bench_gemm exited with an error)"
        echo "$gemm_out" >>"$LOG"
    else
        gemm_out="(bench/bench_gemm not built (make bench/bench_gemm failed or was not run): GEMM table skipped)"
    fi
fi
# not_built PROG SECTION: the note printed in place of a section whose program is missing
not_built() { echo "($1 not built (make ${1#"$BUILDDIR"/} failed or was not run): $2 table skipped)"; }
conv_note="" rms_note="" lstm_note=""
if want conv; then
    if [ -x "$CONV" ]; then
        echo "conv2d x [32, 64, 32, 32] * w [64, 64, 3, 3] + bias, padding 1: $ROUNDS_KERN round(s) x $REPS_CONV reps:"
        for r in $(seq "$ROUNDS_KERN"); do
            for th in 1 2; do
                run nb_conv_${th}t -- timeout "$TMO" "$CONV" $th "$REPS_CONV"
                [ $have_torch = 1 ] || continue
                for mk in 1 0; do # PyTorch with oneDNN (its default) and without (im2col + OpenBLAS)
                    run pt_conv${mk}_${th}t OPENBLAS_NUM_THREADS=$th ${PT_CORE:+OPENBLAS_CORETYPE=$PT_CORE} -- \
                        timeout "$TMO" "$PYTHON" "$SRCDIR/bench/torch_conv.py" $th "$REPS_CONV" $mk
                done
            done
        done
    else
        conv_note=$(not_built "$CONV" conv2d)
    fi
fi
if want rmsnorm; then
    if [ -x "$RMS" ] && [ $have_torch = 1 ]; then
        echo "rms_norm [768, 128]: nabla and PyTorch interleaved by bench/torch_rmsnorm.py, 3 rounds x 5 x $ITERS_RMS iterations:"
        # one thread: [768, 128] is too small for a second thread to help either side, and PyTorch's
        # 2-thread runs collapse on a loaded host (5-80 ms/iter seen: its OpenMP threads spin-wait)
        run rms_1t OPENBLAS_NUM_THREADS=1 -- timeout "$TMO" "$PYTHON" "$SRCDIR/bench/torch_rmsnorm.py" "$RMS" "$ITERS_RMS" 1 3
        # one run holds both sides' RESULT lines: tag them apart
        sed 's/^rms_1t impl=nabla/nb_rms_1t impl=nabla/; s/^rms_1t impl=torch/pt_rms_1t impl=torch/' "$RES" >"$RES.t" &&
            mv "$RES.t" "$RES"
    elif [ -x "$RMS" ]; then
        echo "rms_norm [768, 128] (nabla only: bench/torch_rmsnorm.py drives both sides and needs torch):"
        run nb_rms_1t -- timeout "$TMO" "$RMS" "$ITERS_RMS" 1
    else
        rms_note=$(not_built "$RMS" rms_norm)
    fi
fi
if want lstm; then
    if [ -x "$RNN" ]; then
        echo "char LSTM training (bench/bench_rnn), $STEPS_LSTM timed steps after 2 warm-up, $ROUNDS_KERN round(s):"
        for r in $(seq "$ROUNDS_KERN"); do
            for th in 1 2; do
                run nb_lstm_${th}t -- timeout "$TMO" "$RNN" --no-torch --rounds 1 --threads $th --steps "$STEPS_LSTM"
                [ $have_torch = 1 ] && run pt_lstm_${th}t OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th \
                    ${PT_CORE:+OPENBLAS_CORETYPE=$PT_CORE} -- timeout "$TMO" "$PYTHON" "$SRCDIR/bench/torch_rnn.py" --threads $th \
                    --steps "$STEPS_LSTM" --warmup 2
            done
        done
    else
        lstm_note=$(not_built "$RNN" "char LSTM")
    fi
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# Rounds: keep the best result line of each tag and case (highest tokens_per_s; without it: lowest
# ms (conv2d); without either: the first).
awk '{ tps = ""; ms = ""; k = $1
       for (i = 2; i <= NF; i++) { if ($i ~ /^tokens_per_s=/) tps = substr($i, 14) + 0
                                   if ($i ~ /^ms=/) ms = substr($i, 4) + 0
                                   if ($i ~ /^case=/) k = k " " $i }
       if (tps == "" && ms != "") tps = -ms
       if (!(k in line) || (tps != "" && tps > best[k])) { if (!(k in line)) order[++n] = k; line[k] = $0; best[k] = tps } }
     END { for (i = 1; i <= n; i++) print line[order[i]] }' "$RES" >"$RES.best" && mv "$RES.best" "$RES"

# ---- tables -------------------------------------------------------------------------------------
line() { printf '%s\n' "------------------------------------------------------------------------------"; }
echo
if want char; then
    echo "== char GPT, nanoGPT CPU config (4 layers, 4 heads, 128 ch, B=12, T=64, vocab 65, AdamW, clip 1.0)"
    echo "   training tokens/s (higher is better); ratio = nabla / PyTorch. Mean over the timed steps of"
    echo "   each configuration's best round;"
    echo "   'fastest step' = tokens / the fastest single step (less sensitive to a loaded machine)"
    printf '%-10s %11s %11s %7s | %-13s %11s %11s %7s\n' threads "nabla tok/s" "torch tok/s" ratio "fastest step:" nabla torch ratio
    line
    KEY=tokens_per_s
    for th in 1t 2t def bf1 bf2; do
        n=$(get nb_char_$th tokens_per_s) p=$(get pt_char_$th tokens_per_s)
        [ -z "$n$p" ] && continue
        nf=$(fastest nb_char_$th) pf=$(fastest pt_char_$th)
        printf '%-10s %11s %11s %7s | %-13s %11s %11s %7s\n' "$(label _$th)" "$(fmt "$n" %.0f)" "$(fmt "$p" %.0f)" \
            "$(ratio "$n" "$p")" "" "$(fmt "$nf" %.0f)" "$(fmt "$pf" %.0f)" "$(ratio "$nf" "$pf")"
    done
    nbest=$(best max nb_char_1t nb_char_2t nb_char_bf1 nb_char_bf2) pbest=$(best max pt_char_1t pt_char_2t pt_char_def pt_char_bf1 pt_char_bf2)
    printf '%-10s %11s %11s %7s\n' "best" "$(fmt "$nbest" %.0f)" "$(fmt "$pbest" %.0f)" "$(ratio "$nbest" "$pbest")"
    echo "   (best nabla: $(label "$(besttag max nb_char_1t nb_char_2t nb_char_bf1 nb_char_bf2)"); best PyTorch: $(label "$(besttag max pt_char_1t pt_char_2t pt_char_def pt_char_bf1 pt_char_bf2)"))"
    echo
fi
if want gpt2; then
    echo "== GPT-2 124M shape (12 layers, 12 heads, 768 ch, vocab 50257, block 1024, B=4, T=64)"
    echo "   seconds per training step (lower is better; each configuration's best round);"
    echo "   speed = PyTorch s / nabla s (>1: nabla faster)"
    printf '%-10s %11s %11s %7s | %-13s %11s %11s %7s\n' threads "nabla s" "torch s" speed "fastest step:" nabla torch speed
    line
    for th in 1t 2t bf1 bf2; do
        n=$(get nb_gpt2_$th s_per_step) p=$(get pt_gpt2_$th s_per_step)
        [ -z "$n$p" ] && continue
        nf=$(get nb_gpt2_$th best_s_per_step) pf=$(get pt_gpt2_$th best_s_per_step)
        printf '%-10s %11s %11s %7s | %-13s %11s %11s %7s\n' "$(label _$th)" "$(fmt "$n" %.3f)" "$(fmt "$p" %.3f)" \
            "$(ratio "$p" "$n")" "" "$(fmt "$nf" %.3f)" "$(fmt "$pf" %.3f)" "$(ratio "$pf" "$nf")"
    done
    KEY=s_per_step
    nbest=$(best min nb_gpt2_1t nb_gpt2_2t nb_gpt2_bf1 nb_gpt2_bf2) pbest=$(best min pt_gpt2_1t pt_gpt2_2t pt_gpt2_bf1 pt_gpt2_bf2)
    printf '%-10s %11s %11s %7s\n' best "$(fmt "$nbest" %.3f)" "$(fmt "$pbest" %.3f)" "$(ratio "$pbest" "$nbest")"
    echo "   (best nabla: $(label "$(besttag min nb_gpt2_1t nb_gpt2_2t nb_gpt2_bf1 nb_gpt2_bf2)"); best PyTorch: $(label "$(besttag min pt_gpt2_1t pt_gpt2_2t pt_gpt2_bf1 pt_gpt2_bf2)"))"
    n=$(get nb_gpt2_1t init_s) p=$(get pt_gpt2_1t init_s)
    printf '%-10s %11s %11s %7s   (building the model with GPT-2 init, 1 thread, s)\n' build "$(fmt "$n" %.2f)" \
        "$(fmt "$p" %.2f)" "$(ratio "$p" "$n")"
    echo
fi
if want char || want gpt2; then
    echo "== peak RSS while training (MiB, getrusage ru_maxrss of the whole process; 1-thread runs)"
    echo "   ratio = nabla / PyTorch (lower is better)"
    printf '%-10s %11s %11s %7s\n' config "nabla MiB" "torch MiB" ratio
    line
    for cfg in char gpt2; do
        want $cfg || continue
        n=$(get nb_${cfg}_1t peak_rss_mb) p=$(get pt_${cfg}_1t peak_rss_mb)
        printf '%-10s %11s %11s %7s\n' "$cfg" "$(fmt "$n" %.1f)" "$(fmt "$p" %.1f)" "$(ratio "$n" "$p")"
    done
    imp=$(get pt_char_1t rss_start_mb)
    [ -z "$imp" ] && imp=$(get pt_gpt2_1t rss_start_mb)
    [ -n "$imp" ] && echo "   (PyTorch's figure includes $imp MiB after 'import torch', before the model is built)"
    echo
fi
if want overhead; then
    echo "== framework overhead: y = x + x on 4 floats, 1 thread (ns per op, lower is better)"
    echo "   speed ratio = PyTorch ns / nabla ns; PyTorch's figure includes the Python loop"
    printf '%-26s %12s %12s %10s\n' case "nabla ns" "torch ns" speed
    line
    for c in add4_grad add4_nograd; do
        n=$(get nb_ovh ns_per_op $c) p=$(get pt_ovh ns_per_op $c)
        d=$([ $c = add4_grad ] && echo "x requires grad (records)" || echo "no grad")
        printf '%-26s %12s %12s %10s\n' "$d" "$(fmt "$n" %.1f)" "$(fmt "$p" %.1f)" "$(ratio "$p" "$n")"
    done
    echo
fi
if want scaling; then
    echo "== scaling: 4 layers, head size 32, B=12, T=64, vocab 65 — training tokens/s"
    printf '%-7s %-6s %11s %11s %8s %11s %11s %8s\n' n_embd heads "nabla 1t" "nabla 2t" "nb 2t/1t" "torch 1t" "torch 2t" "nb/torch"
    line
    for c in 128 256 384 768; do
        if [ $c = 128 ]; then t=char; else t=c$c; fi
        n1=$(get nb_${t}_1t tokens_per_s) n2=$(get nb_${t}_2t tokens_per_s)
        p1=$(get pt_${t}_1t tokens_per_s) p2=$(get pt_${t}_2t tokens_per_s)
        KEY=tokens_per_s
        nb_b=$(best max nb_${t}_1t nb_${t}_2t) pt_b=$(best max pt_${t}_1t pt_${t}_2t)
        printf '%-7s %-6s %11s %11s %8s %11s %11s %8s\n' $c $((c / 32)) "$(fmt "$n1" %.0f)" "$(fmt "$n2" %.0f)" \
            "$(ratio "$n2" "$n1")" "$(fmt "$p1" %.0f)" "$(fmt "$p2" %.0f)" "$(ratio "$nb_b" "$pt_b")"
    done
    echo "   (nb/torch = best nabla / best PyTorch over 1 and 2 threads)"
    echo
fi
if want busy; then
    echo "== busy machine: char GPT tokens/s beside one competing CPU-bound process, then idle"
    echo "   default = no --threads (all cores, dynamic threads); target: busy default >= 0.9x busy 1 thread,"
    echo "   idle default >= 1.7x idle 1 thread"
    printf '%-34s %11s %11s %8s
' setting "busy tok/s" "idle tok/s" ""
    line
    bd=$(get nb_busy_def tokens_per_s) b1=$(get nb_busy_1t tokens_per_s) b2=$(get nb_busy_2s tokens_per_s)
    id=$(get nb_idle_def tokens_per_s) i1=$(get nb_idle_1t tokens_per_s)
    printf '%-34s %11s %11s
' "default" "$(fmt "$bd" %.0f)" "$(fmt "$id" %.0f)"
    printf '%-34s %11s %11s
' "--threads 1" "$(fmt "$b1" %.0f)" "$(fmt "$i1" %.0f)"
    printf '%-34s %11s %11s
' "--threads 2, NB_DYNAMIC_THREADS=0" "$(fmt "$b2" %.0f)" "-"
    printf '%-34s %11s %11s
' "default / 1 thread" "$(ratio "$bd" "$b1")" "$(ratio "$id" "$i1")"
    echo
fi
if want gemm; then
    echo "== GEMM (bench/bench_gemm, GFLOP/s; nb/Hsw, nb/auto = nabla / OpenBLAS with OPENBLAS_CORETYPE=Haswell / unset, best / best; paired = median of back-to-back nabla / Haswell ratios;"
    echo "   'bf16' rows: nabla's autocast GEMM with the kernel in force beside PyTorch's bfloat16 matmul, where the CPU has bf16)"
    echo "$gemm_out"
    echo
fi
if want conv; then
    echo "== conv2d x [32, 64, 32, 32] * w [64, 64, 3, 3] + bias, padding 1, float32 (bench/bench_conv, torch_conv.py)"
    echo "   ms per call (lower is better), each configuration's best of $ROUNDS_KERN round(s) x $REPS_CONV reps;"
    echo "   speed = best PyTorch ms / nabla ms (>1: nabla faster); PyTorch with oneDNN (its default) and"
    echo "   without (im2col + OpenBLAS), the faster taken (bench/conv.sh: more settings, CPU time, pairs)"
    if [ -n "$conv_note" ]; then
        echo "$conv_note"
    else
        printf '%-10s %-8s %10s %12s %12s %7s\n' threads case "nabla ms" "torch oneDNN" "torch BLAS" speed
        line
        for th in 1t 2t best; do
            for c in fwd fwdbwd; do
                if [ $th = best ]; then
                    n=$(for t in 1t 2t; do get nb_conv_$t ms $c; done | sort -g | head -n 1)
                    p1=$(for t in 1t 2t; do get pt_conv1_$t ms $c; done | sort -g | head -n 1)
                    p0=$(for t in 1t 2t; do get pt_conv0_$t ms $c; done | sort -g | head -n 1)
                else
                    n=$(get nb_conv_$th ms $c) p1=$(get pt_conv1_$th ms $c) p0=$(get pt_conv0_$th ms $c)
                fi
                p=$(printf '%s\n%s\n' "$p1" "$p0" | awk 'NF' | sort -g | head -n 1)
                printf '%-10s %-8s %10s %12s %12s %7s\n' "$(label _$th)" "$([ $c = fwd ] && echo fwd || echo fwd+bwd)" \
                    "$(fmt "$n" %.2f)" "$(fmt "$p1" %.2f)" "$(fmt "$p0" %.2f)" "$(ratio "$p" "$n")"
            done
        done
        echo "   (best = the fastest over 1 and 2 threads of each side)"
    fi
    echo
fi
if want rmsnorm; then
    echo "== rms_norm on x [768, 128] (12 x 64 rows of 128) float32, weight [128], forward + backward, 1 thread"
    echo "   us per iteration (lower is better), best of 3 interleaved rounds x 5 runs; PyTorch 1.13 has no"
    echo "   fused RMSNorm: its composed x * rsqrt(mean(x^2) + eps) * w; speed = PyTorch us / nabla us"
    if [ -n "$rms_note" ]; then
        echo "$rms_note"
    else
        printf '%-10s %11s %11s %7s\n' threads "nabla us" "torch us" speed
        line
        n=$(get nb_rms_1t us_per_iter) p=$(get pt_rms_1t us_per_iter)
        printf '%-10s %11s %11s %7s\n' "1 thread" "$(fmt "$n" %.2f)" "$(fmt "$p" %.2f)" "$(ratio "$p" "$n")"
    fi
    echo
fi
if want lstm; then
    echo "== char LSTM training (bench/bench_rnn, torch_rnn.py): Embedding(65, 64) -> 2 x LSTM(256) -> Linear(256, 65),"
    echo "   B=32, T=64, state carried, Adam; training tokens/s (higher is better), each configuration's best"
    echo "   of $ROUNDS_KERN round(s); ratio = nabla / PyTorch"
    if [ -n "$lstm_note" ]; then
        echo "$lstm_note"
    else
        printf '%-10s %11s %11s %7s\n' threads "nabla tok/s" "torch tok/s" ratio
        line
        KEY=tokens_per_s
        for th in 1t 2t; do
            n=$(get nb_lstm_$th tokens_per_s) p=$(get pt_lstm_$th tokens_per_s)
            printf '%-10s %11s %11s %7s\n' "$(label _$th)" "$(fmt "$n" %.0f)" "$(fmt "$p" %.0f)" "$(ratio "$n" "$p")"
        done
        nbest=$(best max nb_lstm_1t nb_lstm_2t) pbest=$(best max pt_lstm_1t pt_lstm_2t)
        printf '%-10s %11s %11s %7s   (nabla best / PyTorch best)\n' best "$(fmt "$nbest" %.0f)" "$(fmt "$pbest" %.0f)" \
            "$(ratio "$nbest" "$pbest")"
    fi
    echo
fi
[ -n "$torch_note" ] && echo "NOTE: $torch_note"
[ -n "${BENCH_LOG:-}" ] && echo "full output of every run: $BENCH_LOG"
exit 0
