#!/bin/sh
# tests/test_chargpt_models.sh — `chargpt train --model gpt|llama|lstm` end to end on a synthetic
# text: each model (and the lstm's --cell gru) trains, its loss falls, --resume continues
# bit-identically to an uninterrupted run (the lstm with --sampling sequential, so the carried
# state is part of the resume state), `eval` gives the training log's last val loss, `sample`
# continues the prompt, the checkpoint's JSON config names the model; a resume with another model
# or config is refused, options of another model are refused; a GPT checkpoint of the earlier
# format (no "model"/"config" metadata) still loads; a llama checkpoint loads into a llama2.c-style
# PyTorch model (tests/llama_ckpt_torch.py) with the same loss within 1e-4; `chargpt plot` of a gpt,
# a llama and an lstm run writes a PNG from a script with a train and a val series per run, each
# labelled with its directory and model (without gnuplot: a counted skip, tests/skip_lib.sh).
# Run from the top build directory (as `make check` does). Python: $PYTHON (/usr/bin/python3); the
# PyTorch check needs torch: without it the script exits 77 (skip) after the other checks, or fails
# when NB_REQUIRE_TORCH is set.
# Prints one line per check and "N passed, M failed"; exit 0 pass, 1 failure, 77 skip.

CHARGPT=${CHARGPT:-./chargpt}
PYTHON=${PYTHON:-/usr/bin/python3}
srcdir=${srcdir:-.}
if [ ! -x "$CHARGPT" ]; then
    echo "SKIP: $CHARGPT not found or not executable (build it with: make chargpt)"
    exit 77
fi
LC_ALL=C
export LC_ALL
OMP_WAIT_POLICY=passive
export OMP_WAIT_POLICY

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_chargpt_models.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

pass=0 fail=0
. "$(dirname "$0")/check_lib.sh" # ok, bad, check, say, fails_with, near
. "$(dirname "$0")/skip_lib.sh"  # nb_skip, nb_skip_summary
same_log() { # same_log A B: log.csv identical in iter,train_loss,val_loss,lr (tokens_per_s is timing)
    cut -d, -f1-4 "$1/log.csv" >"$tmp/la" && cut -d, -f1-4 "$2/log.csv" >"$tmp/lb" || return 1
    cmp "$tmp/la" "$tmp/lb" || { diff "$tmp/la" "$tmp/lb" | head -n 6; return 1; }
}
same_run() { # same_run A B: same log (cols 1-4) and byte-identical checkpoint and resume state
    same_log "$1" "$2" && cmp "$1/ckpt.safetensors" "$2/ckpt.safetensors" &&
        cmp "$1/resume.safetensors" "$2/resume.safetensors"
}
meta() { # meta FILE KEY: a metadata value of a safetensors file (python3 without torch)
    "$PYTHON" -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"].get(sys.argv[2], ""))' "$1" "$2"
}

# ---- the text: English-like lines from a deterministic LCG, then a run of one character ------
# The val split (the last 10%) is all 'e' (the train split ends with some too): every val window
# holds the same tokens, so the log's val loss (random windows) and `eval` (all windows) are the
# same number up to the rounding of the mean.
data=$tmp/data.txt
awk 'BEGIN {
    nw = split("the of and to in he she it was his her that with for as had you on not be at by", W1, " ")
    nv = split("king queen lord lady man maid knight fool duke friend", W2, " ")
    np = split("speaks runs sleeps sings weeps laughs waits rides prays dreams", W3, " ")
    s = 11
    for (i = 0; i < 300; i++) {
        s = (s * 75 + 74) % 65537; a = W1[1 + s % nw]
        s = (s * 75 + 74) % 65537; b = W2[1 + s % nv]
        s = (s * 75 + 74) % 65537; c = W3[1 + s % np]
        print toupper(substr(a, 1, 1)) substr(a, 2) " " b " " c "."
    }
    for (i = 0; i < 1600; i++) printf "e"
    print ""
}' >"$data"

COMMON="--n-layer 2 --n-embd 32 --block-size 16 --batch-size 8 --eval-interval 10 --eval-iters 2 --threads 1
 --learning-rate 1e-2 --warmup-iters 4 --lr-decay-iters 40 --quiet --always-save-checkpoint"
# opts MODEL: the model's options (the lstm walks consecutive windows with carried state)
opts() {
    case $1 in
    gpt) echo "--model gpt --n-head 2" ;;
    llama) echo "--model llama --n-head 4 --n-kv-head 2 --multiple-of 16" ;;
    lstm) echo "--model lstm --sampling sequential" ;;
    gru) echo "--model lstm --cell gru --sampling sequential" ;;
    esac
}
# train OUTDIR MODEL [options]: stdout/stderr to OUTDIR.out/.err; returns chargpt's status
train() {
    o=$1 m=$2
    shift 2
    # shellcheck disable=SC2086
    "$CHARGPT" train --data "$data" --out-dir "$o" $COMMON $(opts "$m") "$@" >"$o.out" 2>"$o.err"
}
resumed() { # resumed DIR FROM: the second run continued from iter FROM
    grep -q "^resuming from iter $2 " "$1.out" || { say "did not resume from iter $2:"; cat "$1.out" "$1.err"; return 1; }
}
loss_falls() { # loss_falls DIR DROP: the mean train loss of iters 36..40 is DROP below iter 0's
    awk -F, -v drop="$2" 'NR == 2 { first = $2 } NR > 1 && $1 >= 36 { s += $2; n++ }
        END { m = s / n; printf "train loss %.4f at iter 0, %.4f over iters 36-40\n", first, m
              exit !(n == 5 && m < first - drop) }' "$1/log.csv"
}
last_val() { awk -F, 'NR > 1 && $3 != "" { v = $3 } END { print v }' "$1/log.csv"; }
eval_matches() { # eval_matches DIR: eval --digits 6 of the checkpoint (the last eval's) == log's last val
    e=$("$CHARGPT" eval --checkpoint "$1/ckpt.safetensors" --data "$data" --digits 6 --threads 1 2>&1) ||
        { say "$e"; return 1; }
    say "eval: $e; log's last val_loss: $(last_val "$1")"
    near "${e#val_loss }" "$(last_val "$1")" 2e-6
}
sample_ok() { # sample_ok DIR: the prompt, then 40 sampled characters, then the separator
    "$CHARGPT" sample --checkpoint "$1/ckpt.safetensors" --prompt "The king" --max-new-tokens 40 \
        --threads 1 >"$tmp/s.out" 2>&1 || { cat "$tmp/s.out"; return 1; }
    cat "$tmp/s.out"
    awk 'NR == 1 && substr($0, 1, 8) != "The king" { bad = 1 } /^---------------$/ { sep = NR; exit }
         { len += length($0) + 1 }
         END { exit bad || !sep || len - 1 != 48 }' "$tmp/s.out"
}
config_is() { # config_is DIR JSON: the checkpoint's metadata "config" and "model"
    got=$(meta "$1/ckpt.safetensors" config) m=$(meta "$1/ckpt.safetensors" model)
    say "config: $got; model: $m"
    [ "$got" = "$2" ] && [ "$m" = "$(echo "$2" | sed 's/^{"model":"\([a-z]*\)".*/\1/')" ]
}

VOCAB=$("$PYTHON" -c 'import sys; print(len(set(open(sys.argv[1]).read())))' "$data") # distinct characters
expect_gpt='{"model":"gpt","n_layer":2,"n_head":2,"n_embd":32,"block_size":16,"vocab_size":'$VOCAB',"dropout":0.0,"bias":false,"gelu":"tanh"}'
expect_llama='{"model":"llama","n_layer":2,"n_head":4,"n_kv_head":2,"n_embd":32,"block_size":16,"vocab_size":'$VOCAB',"norm_eps":1.0000000000000001e-5,"rope_theta":10000.0,"multiple_of":16,"dropout":0.0}'
expect_lstm='{"model":"lstm","n_layer":2,"n_embd":32,"block_size":16,"vocab_size":'$VOCAB',"cell":"lstm"}'
expect_gru='{"model":"lstm","n_layer":2,"n_embd":32,"block_size":16,"vocab_size":'$VOCAB',"cell":"gru"}'

for m in gpt llama lstm gru; do
    A=$tmp/$m.A R=$tmp/$m.R
    train "$A" "$m" --max-iters 40
    rc=$?
    check "$m 1 train 40 iterations exits 0" eval '[ "$rc" -eq 0 ] || { cat "$A.err"; false; }'
    check "$m 2 the train loss falls by more than 0.8 (iter 0 vs mean of 36-40)" loss_falls "$A" 0.8
    train "$R" "$m" --max-iters 17 && train "$R" "$m" --max-iters 40 --resume
    check "$m 3 --max-iters 17 then --resume to 40 == uninterrupted (log, ckpt and resume bytes)" \
        eval 'resumed "$R" 18 && same_run "$A" "$R"'
    check "$m 4 eval of the checkpoint == the log's last val loss (within 2e-6)" eval_matches "$A"
    check "$m 5 sample prints the prompt and its 40-character continuation" sample_ok "$A"
    eval "want=\$expect_$m"
    check "$m 6 checkpoint metadata: config $want" config_is "$A" "$want"
done
check "lstm 7 the resume state of --sampling sequential holds the carried state (carry.h, carry.c)" \
    eval '"$PYTHON" -c "import json, struct, sys
f = open(sys.argv[1], \"rb\"); n = struct.unpack(\"<Q\", f.read(8))[0]; h = json.loads(f.read(n))
sys.exit(not (h[\"carry.h\"][\"shape\"] == [2, 8, 32] and h[\"carry.c\"][\"shape\"] == [2, 8, 32]))" "$tmp/lstm.A/resume.safetensors"'
check "lstm 8 --sampling sequential and random train differently (10 iterations each)" \
    eval 'train "$tmp/lstm.rand" lstm --max-iters 10 --sampling random && train "$tmp/lstm.seq" lstm --max-iters 10 &&
          ! cmp -s "$tmp/lstm.rand/ckpt.safetensors" "$tmp/lstm.seq/ckpt.safetensors"'

# ---- refused: another model or config on resume, options of another model -----------------------
W=$tmp/llama.A
check "resume a llama run with --model gpt: refused, naming both configs" \
    fails_with 1 'the resume state is for another model config or vocabulary: it holds {"model":"llama"' \
    "$CHARGPT" train --data "$data" --out-dir "$W" $COMMON --model gpt --n-head 2 --max-iters 50 --resume
check "resume an lstm run with --cell gru: refused" \
    fails_with 1 "another model config" "$CHARGPT" train --data "$data" --out-dir "$tmp/lstm.A" $COMMON --model lstm \
    --cell gru --sampling sequential --max-iters 50 --resume
check "resume a llama run with another --n-kv-head: refused" \
    fails_with 1 "another model config" "$CHARGPT" train --data "$data" --out-dir "$W" $COMMON --model llama \
    --n-head 4 --n-kv-head 4 --multiple-of 16 --max-iters 50 --resume
T="$CHARGPT train --data $data --out-dir $tmp/never"
check "--model lstm --n-head 2: refused" fails_with 2 "--n-head is not an option of --model lstm" $T --model lstm --n-head 2
check "--model lstm --dropout 0.1: refused" fails_with 2 "--dropout is not an option of --model lstm" $T --model lstm --dropout 0.1
check "--model gpt --cell gru: refused" fails_with 2 "--cell is not an option of --model gpt" $T --cell gru
check "--model llama --bias: refused" fails_with 2 "--bias is not an option of --model llama" $T --model llama --bias
check "--model gpt --n-kv-head 2: refused" fails_with 2 "--n-kv-head is not an option of --model gpt" $T --n-kv-head 2
check "--model rnn: refused" fails_with 2 "--model expects gpt, llama or lstm" $T --model rnn
check "--model llama --n-head 3 (head size 128/3): refused" fails_with 2 "--model llama: dim 128 is not divisible" $T --model llama --n-head 3
check "sample --model: refused (the checkpoint names the model)" \
    fails_with 2 "--model is not a sample option" "$CHARGPT" sample --checkpoint "$W/ckpt.safetensors" --model gpt
check "--help documents --model, --n-kv-head, --multiple-of, --cell, --sampling sequential" \
    eval '"$CHARGPT" --help | grep -q -- "--model gpt|llama|lstm" && "$CHARGPT" --help | grep -q -- "--n-kv-head" &&
          "$CHARGPT" --help | grep -q -- "--multiple-of" && "$CHARGPT" --help | grep -q -- "--cell lstm|gru" &&
          "$CHARGPT" --help | grep -q -- "random|epoch|sequential"'

# ---- a GPT checkpoint of the earlier format (flat keys only) loads as a GPT -----------------------
edit_meta() { # edit_meta IN OUT KEY=VALUE|KEY ...: a copy of IN with metadata keys set or deleted
    "$PYTHON" -c 'import json, struct, sys
d = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", d[:8])[0]; h = json.loads(d[8:8 + n])
for e in sys.argv[3:]:
    k, _, v = e.partition("=")
    if v: h["__metadata__"][k] = v
    else: del h["__metadata__"][k]
t = json.dumps(h).encode(); t += b" " * (-len(t) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(t)) + t + d[8 + n:])' "$@"
}
old_ckpt() { # the gpt checkpoint without its "model" and "config" metadata, evaluated
    edit_meta "$tmp/gpt.A/ckpt.safetensors" "$tmp/old.safetensors" model config &&
        [ -z "$(meta "$tmp/old.safetensors" config)" ] || return 1
    a=$("$CHARGPT" eval --checkpoint "$tmp/old.safetensors" --data "$data" --digits 6 2>&1) &&
        b=$("$CHARGPT" eval --checkpoint "$tmp/gpt.A/ckpt.safetensors" --data "$data" --digits 6 2>&1) || return 1
    say "earlier format: $a; this format: $b"
    [ "$a" = "$b" ]
}
check "a GPT checkpoint without \"model\"/\"config\" metadata loads as gpt (same eval)" old_ckpt
edit_meta "$tmp/gpt.A/ckpt.safetensors" "$tmp/flat3.safetensors" n_layer=3
check "a GPT checkpoint whose flat n_layer disagrees with its \"config\": refused" \
    fails_with 1 "describe different models" "$CHARGPT" eval --checkpoint "$tmp/flat3.safetensors" --data "$data"
edit_meta "$tmp/lstm.A/ckpt.safetensors" "$tmp/model.safetensors" model=gpt
check "a checkpoint whose \"model\" disagrees with its \"config\": refused" \
    fails_with 1 'metadata "model" is "gpt" but the config' "$CHARGPT" eval --checkpoint "$tmp/model.safetensors" --data "$data"

# ---- plot: runs of different models in one PNG, each labelled with its model ---------------------
# A gnuplot wrapper keeps the script chargpt generates; its strings are octal escapes (decode).
# The run directories are plotted as trained (gpt.A, ...) and, so that the directory name cannot
# be what tells the models apart, as copies named run1..run3.
GP=${NB_GNUPLOT:-gnuplot}
decode() { # decode NAME SCRIPT: the value of the gnuplot variable NAME (an octal-escaped string)
    v=$(sed -n "s/^$1 = \"\\(.*\\)\"\$/\\1/p" "$2" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')
    printf '%b' "$v"
}
plot_script_is() { # plot_script_is SCRIPT DIR LABEL ...: one train and one val series per DIR, labelled LABEL
    gp=$1 n=0
    shift
    while [ $# -ge 2 ]; do
        [ "$(decode file_$n "$gp")" = "$1/log.csv" ] || { say "file_$n is '$(decode file_$n "$gp")', not '$1/log.csv'"; return 1; }
        [ "$(decode label_$n "$gp")" = "$2" ] || { say "label_$n is '$(decode label_$n "$gp")', not '$2'"; return 1; }
        for s in 2:train 3:val; do
            grep -q "file_$n using 1:${s%:*} every ::1 with [a-z]* lw [0-9] title label_$n\\.' ${s#*:}'" "$gp" ||
                { say "no ${s#*:} series of file_$n titled label_$n:"; grep '^plot' "$gp"; return 1; }
        done
        n=$((n + 1))
        shift 2
    done
    got=$(grep -c '^label_[0-9]* = ' "$gp") series=$(grep '^plot' "$gp" | grep -o 'title label_[0-9]*' | wc -l)
    say "$n runs; the script names $got labels and $series series"
    [ "$got" -eq "$n" ] && [ "$series" -eq $((2 * n)) ]
}
is_png() { [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = "89504e470d0a1a0a" ] || { say "$1 is not a PNG"; return 1; }; }
if command -v "$GP" >/dev/null 2>&1; then
    printf '#!/bin/sh\ncp "$1" "%s/last.gp"\nexec "%s" "$@"\n' "$tmp" "$(command -v "$GP")" >"$tmp/gp.sh"
    chmod +x "$tmp/gp.sh"
    plot_models() {
        NB_GNUPLOT=$tmp/gp.sh "$CHARGPT" plot "$tmp/gpt.A" "$tmp/llama.A" "$tmp/lstm.A" "$tmp/gru.A" --output "$tmp/models.png" \
            >"$tmp/plot.out" 2>&1 || { cat "$tmp/plot.out"; return 1; }
        is_png "$tmp/models.png" &&
            plot_script_is "$tmp/last.gp" "$tmp/gpt.A" "gpt.A (gpt)" "$tmp/llama.A" "llama.A (llama)" "$tmp/lstm.A" "lstm.A (lstm)" \
                "$tmp/gru.A" "gru.A (gru)"
    }
    check "plot GPTDIR LLAMADIR LSTMDIR GRUDIR --output x.png: a PNG; the script has a train and a val series per run, labelled 'DIR (model)' (an lstm run with --cell gru: 'DIR (gru)')" plot_models
    plot_renamed() { # neutral names: only the checkpoints say which model
        for r in gpt:run1 llama:run2 lstm:run3; do
            mkdir "$tmp/${r#*:}" && cp "$tmp/${r%:*}.A/log.csv" "$tmp/${r%:*}.A/ckpt.safetensors" "$tmp/${r#*:}/" || return 1
        done
        NB_GNUPLOT=$tmp/gp.sh "$CHARGPT" plot "$tmp/run1" "$tmp/run2/" "$tmp/run3" --output "$tmp/renamed.png" \
            >"$tmp/plot.out" 2>&1 || { cat "$tmp/plot.out"; return 1; }
        is_png "$tmp/renamed.png" &&
            plot_script_is "$tmp/last.gp" "$tmp/run1" "run1 (gpt)" "$tmp/run2/" "run2 (llama)" "$tmp/run3" "run3 (lstm)"
    }
    check "plot of the runs copied to run1..run3: labels 'run1 (gpt)', 'run2 (llama)', 'run3 (lstm)'" plot_renamed
    plot_nockpt() { # without a checkpoint the label is the base name; --label still wins
        mkdir "$tmp/run5" && cp "$tmp/gpt.A/log.csv" "$tmp/run5/" &&
            NB_GNUPLOT=$tmp/gp.sh "$CHARGPT" plot "$tmp/run5" "$tmp/run2" --label mine --output "$tmp/p5.png" \
                >"$tmp/plot.out" 2>&1 || { cat "$tmp/plot.out"; return 1; }
        is_png "$tmp/p5.png" && plot_script_is "$tmp/last.gp" "$tmp/run5" "mine" "$tmp/run2" "run2 (llama)"
    }
    check "plot with --label for the first run, a checkpoint for the second: labels 'mine', 'run2 (llama)'" plot_nockpt
else
    nb_skip tool:gnuplot "plot of gpt, llama, lstm runs: gnuplot is not installed (NB_GNUPLOT / PATH), PNG and labels not checked"
fi

# ---- a llama checkpoint in a llama2.c-style PyTorch model ----------------------------------------
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    nb_skip torch "the llama checkpoint against PyTorch: PyTorch is not importable by $PYTHON"
    echo "$pass passed, $fail failed"
    nb_skip_summary && [ "$fail" -eq 0 ] || exit 1
    echo "SKIP: PyTorch missing: the llama checkpoint was not checked against PyTorch"
    exit 77
fi
torch_llama() {
    for split in train val; do
        own=$("$CHARGPT" eval --checkpoint "$W/ckpt.safetensors" --data "$data" --split $split --digits 8 2>&1) &&
            pt=$("$PYTHON" "$srcdir/tests/llama_ckpt_torch.py" "$W/ckpt.safetensors" "$data" $split 2>&1) ||
            { say "$own"; say "$pt"; return 1; }
        say "chargpt: $own; PyTorch: $pt"
        near "${own#*_loss }" "${pt#*_loss }" 1e-4 || return 1
    done
}
check "llama checkpoint in a llama2.c-style PyTorch model: train and val loss equal chargpt eval's within 1e-4" torch_llama

echo "$pass passed, $fail failed"
nb_skip_summary && [ "$fail" -eq 0 ]
