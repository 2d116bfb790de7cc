#!/bin/sh
# bench/conv.sh — conv2d forward and forward + backward, nabla vs PyTorch, side by side:
# x [32, 64, 32, 32], weight [64, 64, 3, 3], bias, padding 1, float32 (bench/bench_conv.c,
# bench/torch_conv.py).
#
#   make bench/bench_conv && sh bench/conv.sh
#
# Every setting runs once per round, the rounds interleave all settings (the shared machine's
# speed drifts; each setting meets it alike), and each setting keeps its best round. Settings:
# nabla with 1 and 2 threads (fixed) and its default (dynamic threads: every core, fewer while
# other processes keep them busy); PyTorch with torch.set_num_threads(1) and (2), oneDNN (mkldnn) on
# and off, OPENBLAS_CORETYPE unset and =Haswell. The table compares each side's best setting.
# Environment: CONV_ROUNDS (default 5), CONV_REPS (timed repeats per run, default 5),
# PYTHON (default /usr/bin/python3), BUILDDIR (default .), SRCDIR (default: this script's parent).
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILDDIR=${BUILDDIR:-$(pwd)}
PYTHON=${PYTHON:-/usr/bin/python3}
ROUNDS=${CONV_ROUNDS:-5}
REPS=${CONV_REPS:-5}
res=$(mktemp "${TMPDIR:-/tmp}/nabla-conv.XXXXXX") || exit 1
trap 'rm -f "$res"' EXIT INT TERM

r=1
while [ "$r" -le "$ROUNDS" ]; do
    "$BUILDDIR/bench/bench_conv" 0 "$REPS" | sed -n "s/^RESULT /nabla-default /p" >>"$res"
    for t in 1 2; do
        "$BUILDDIR/bench/bench_conv" "$t" "$REPS" | sed -n "s/^RESULT /nabla-t$t /p" >>"$res"
        for m in 1 0; do
            env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS="$t" "$PYTHON" "$SRCDIR/bench/torch_conv.py" "$t" "$REPS" "$m" \
                2>/dev/null | sed -n "s/^RESULT /torch-t$t-mkldnn$m /p" >>"$res"
            OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS="$t" "$PYTHON" "$SRCDIR/bench/torch_conv.py" "$t" "$REPS" "$m" \
                2>/dev/null | sed -n "s/^RESULT /torch-t$t-mkldnn$m-haswell /p" >>"$res"
        done
    done
    r=$((r + 1))
done

echo "conv2d x [32, 64, 32, 32] * w [64, 64, 3, 3] + bias, padding 1, float32; best of $ROUNDS rounds x $REPS reps"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores (shared); $("$PYTHON" -c 'import torch; print("torch", torch.__version__)' 2>/dev/null)"
awk '
{ tag = $1; c = ""; ms = 0
  for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "case") c = kv[2]; if (kv[1] == "ms") ms = kv[2] + 0 }
  k = tag SUBSEP c
  if (!(k in best) || ms < best[k]) best[k] = ms
  tags[tag] = 1; cases[c] = 1 }
END {
  printf "%-28s %12s %12s\n", "setting", "fwd ms", "fwd+bwd ms"
  n = 0; for (t in tags) list[n++] = t
  for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (list[j] < list[i]) { x = list[i]; list[i] = list[j]; list[j] = x }
  for (i = 0; i < n; i++) printf "%-28s %12.2f %12.2f\n", list[i], best[list[i], "fwd"], best[list[i], "fwdbwd"]
  print ""
  printf "%-10s %12s %-24s %12s %-24s %14s\n", "case", "nabla ms", "(setting)", "torch ms", "(setting)", "torch / nabla"
  split("fwd fwdbwd", cs, " ")
  for (ci = 1; ci <= 2; ci++) {
    c = cs[ci]; bn = 1e30; bt = 1e30
    for (i = 0; i < n; i++) {
      v = best[list[i], c]; if (v == "" || v <= 0) continue
      if (list[i] ~ /^nabla/) { if (v < bn) { bn = v; sn = list[i] } } else if (v < bt) { bt = v; st = list[i] }
    }
    printf "%-10s %12.2f %-24s %12.2f %-24s %14.2f\n", c, bn, "(" sn ")", bt, "(" st ")", bt / bn
  }
}' "$res"
