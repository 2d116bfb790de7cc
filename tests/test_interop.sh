#!/bin/sh
# tests/test_interop.sh — chargpt with the outside world: GPT checkpoints written by PyTorch with
# nanoGPT's names (loaded by `chargpt eval`/`sample`, losses equal to PyTorch's), the converters
# tools/nanogpt_to_safetensors.py and tools/safetensors_to_nanogpt.py, and `chargpt plot` with
# hostile run names, labels and output paths (nothing from them may reach gnuplot as commands).
# Run from the top build directory (as `make check` does). PyTorch comes from $PYTHON
# (/usr/bin/python3); gnuplot from NB_GNUPLOT or PATH.
# Prints one line per check and "N passed, M failed"; exit 0 pass, 1 failure, 77 skip (no binary,
# or no PyTorch: then only the plot checks ran, and the run reports SKIP, never a pass).

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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/test_interop.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

pass=0 fail=0
. "$(dirname "$0")/check_lib.sh" # ok, bad, check, say, fails_with, near
. "$(dirname "$0")/skip_lib.sh" # nb_skip, nb_skip_summary

# ---- the text: English-like lines from a deterministic LCG -------------------------------------
data=$tmp/data.txt
awk 'BEGIN {
    nw = split("the a one old young brave quiet king queen lord lady", W1, " ")
    nv = split("walks speaks sings sleeps fights loves sees calls", W2, " ")
    nn = split("castle river garden house field tower", W4, " ")
    s = 11
    for (i = 0; i < 500; i++) {
        s = (s * 75 + 74) % 65537; a = W1[1 + s % nw]
        s = (s * 75 + 74) % 65537; b = W2[1 + s % nv]
        s = (s * 75 + 74) % 65537; d = W4[1 + s % nn]
        print toupper(substr(a, 1, 1)) substr(a, 2) " " b " to the " d "."
    }
}' >"$data"

# ---- 1. plot: hostile names never run commands; labels; a failed plot keeps the old PNG ---------
GP=${NB_GNUPLOT:-gnuplot}
log_csv() { # log_csv DIR: a small log.csv as chargpt train writes it
    mkdir -p "$1" && printf 'iter,train_loss,val_loss,lr,tokens_per_s\n0,4.1,4.2,0.001,100\n1,3.9,,0.001,100\n2,3.5,3.6,0.001,100\n' \
        >"$1/log.csv"
}
decode() { # decode NAME SCRIPT: the value of the gnuplot variable NAME (an octal-escaped string)
    v=$(sed -n "s/^$1 = \"\\(.*\\)\"\$/\\1/p" "$2" | sed 's/\\\([0-7][0-7][0-7]\)/\\0\1/g')
    printf '%b' "$v"
}
if command -v "$GP" >/dev/null 2>&1; then
    # a gnuplot that keeps a copy of the script it ran
    printf '#!/bin/sh\ncp "$1" "%s/last.gp"\nexec "%s" "$@"\n' "$tmp" "$(command -v "$GP")" >"$tmp/gp.sh"
    chmod +x "$tmp/gp.sh"
    # relative names (no '/' inside), run from $tmp/w: an injected command would touch $tmp/w/pwnedN
    mkdir "$tmp/w"
    evil_dir="run
!touch pwned1
\`touch pwned2\`'\"\\ @x"
    evil_out="out
!touch pwned3
\`touch pwned4\`';system(\"touch pwned5\");'.png"
    evil_label="lab
!touch pwned6
\`touch pwned7\`\";system(\"touch pwned8\");\" \\ '' @x"
    cg=$(cd "$(dirname "$CHARGPT")" && pwd)/$(basename "$CHARGPT")
    (cd "$tmp/w" && log_csv "$evil_dir" && log_csv "plain_run/" &&
        NB_GNUPLOT=$tmp/gp.sh "$cg" plot "$evil_dir" "plain_run/" --output "$evil_out" --label "$evil_label") \
        >"$tmp/p1.out" 2>&1
    rc_p1=$?
    check1a() {
        r=0
        for i in 1 2 3 4 5 6 7 8; do
            [ ! -e "$tmp/w/pwned$i" ] || { say "injected command $i ran"; r=1; }
        done
        [ "$rc_p1" -eq 0 ] || { say "exit $rc_p1"; cat "$tmp/p1.out"; return 1; }
        [ "$(od -An -tx1 -N8 "$tmp/w/$evil_out" | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
            { say "no PNG at the hostile path"; return 1; }
        return $r
    }
    check "1a hostile DIR, --output, --label (newline+!, backquotes, quotes, backslash, @): PNG written, no command ran" check1a
    check1b() { # the script holds no user text: no backquote, no '!' line, strings decode exactly
        ! grep -q '`' "$tmp/last.gp" || { say "a backquote in the script"; return 1; }
        ! grep -q '^!' "$tmp/last.gp" || { say "a shell line in the script"; return 1; }
        [ "$(decode label_0 "$tmp/last.gp")" = "$evil_label" ] || { say "label_0 is '$(decode label_0 "$tmp/last.gp")'"; return 1; }
        [ "$(decode label_1 "$tmp/last.gp")" = "plain_run" ] || { say "label_1 is '$(decode label_1 "$tmp/last.gp")'"; return 1; }
        [ "$(decode file_0 "$tmp/last.gp")" = "$evil_dir/log.csv" ] && [ "$(decode file_1 "$tmp/last.gp")" = "plain_run//log.csv" ] || { say "file_0 differs"; return 1; }
    }
    check "1b script: every name octal-escaped, --label for run 1, base name 'plain_run' for run 2" check1b
    printf 'old PNG\n' >"$tmp/keep.png"
    cp "$tmp/keep.png" "$tmp/keep.orig"
    NB_GNUPLOT=false "$CHARGPT" plot "$tmp/w/plain_run" --output "$tmp/keep.png" >/dev/null 2>&1
    rc_p3=$?
    mkdir "$tmp/empty_run" && printf 'iter,train_loss,val_loss,lr,tokens_per_s\n' >"$tmp/empty_run/log.csv"
    "$CHARGPT" plot "$tmp/empty_run" --output "$tmp/keep.png" >/dev/null 2>&1
    rc_p3b=$?
    check1c() {
        [ "$rc_p3" -eq 1 ] && [ "$rc_p3b" -eq 1 ] || { say "exit $rc_p3 (gnuplot false), $rc_p3b (no data)"; return 1; }
        cmp "$tmp/keep.png" "$tmp/keep.orig" || { say "the existing PNG changed"; return 1; }
        [ -z "$(ls -a "$tmp" | grep chargpt-plot)" ] || { say "temporary files left: $(ls -a "$tmp")"; return 1; }
    }
    check "1c a failing gnuplot (false; a log without data) exits 1, the existing PNG is untouched, no temp file left" check1c
else
    nb_skip tool:gnuplot "1a-1c plot: gnuplot is not installed (NB_GNUPLOT / PATH)"
fi
log_csv "$tmp/r1"
check "1d more --label than run directories: exit 2" \
    fails_with 2 "--label" "$CHARGPT" plot "$tmp/r1" --label a --label b --output "$tmp/r.png"

# ---- PyTorch needed from here ------------------------------------------------------------------
if ! "$PYTHON" -c 'import torch' >/dev/null 2>&1; then
    nb_skip torch "2-4: PyTorch is not importable by $PYTHON (nanoGPT checkpoints and converters not checked)"
    echo "$pass passed, $fail failed"
    nb_skip_summary && [ "$fail" -eq 0 ] || exit 1
    echo "SKIP: PyTorch missing: the interop checks did not run"
    exit 77
fi
REF="$PYTHON $srcdir/tests/interop_ref.py"
TOOLS=$srcdir/tools

# ---- 2. checkpoints written by PyTorch with nanoGPT's names ------------------------------------
FX=$tmp/fx
mkdir "$FX" && $REF fixtures "$FX" "$data" >"$tmp/fx.out" 2>&1
rc_fx=$?
check "2a interop_ref.py writes the fixtures and PyTorch's losses" eval '[ "$rc_fx" -eq 0 ] || { cat "$tmp/fx.out"; false; }'
loss_is() { # loss_is NAME SPLIT [chargpt options]: chargpt eval == PyTorch within 1e-4
    name=$1 split=$2
    shift 2
    want=$(awk -v n="$name" -v s="$split" '$1 == n && $2 == s { print $3 }' "$FX/expected")
    got=$("$CHARGPT" eval --checkpoint "$FX/$name.safetensors" --data "$data" --split "$split" --digits 8 "$@" 2>&1) ||
        { say "$got"; return 1; }
    say "chargpt: $got; PyTorch: $want"
    near "${got#*_loss }" "$want" 1e-4
}
check "2b config+vocab metadata, no biases, lm_head not stored: val loss == PyTorch's (1e-4)" loss_is meta val
check "2c same, train split" loss_is meta train
check "2d biases, gelu tanh in config, _orig_mod. keys, lm_head stored tied, mask buffers, F64: val" loss_is compiled val
check "2e same, train split" loss_is compiled train
check "2f no metadata, only lm_head.weight: --n-head 2 --data gives config and vocabulary: val" \
    loss_is nometa val --n-head 2
check2g() {
    for f in meta nometa; do
        "$CHARGPT" sample --checkpoint "$FX/$f.safetensors" --n-head 2 --data "$data" --prompt "The" \
            --max-new-tokens 20 --seed 3 >"$tmp/s.out" 2>&1 || { cat "$tmp/s.out"; return 1; }
        [ "$(head -c 3 "$tmp/s.out")" = "The" ] && [ "$(tail -n 1 "$tmp/s.out")" = "---------------" ] ||
            { cat "$tmp/s.out"; return 1; }
    done
}
check "2g sample works on both (prompt, 20 characters, separator)" check2g
E="$CHARGPT eval --data $data --checkpoint"
check "2h untied lm_head refused" fails_with 1 '"lm_head.weight" differs' $E "$FX/untied.safetensors"
check "2i missing wpe refused, naming it" fails_with 1 '"transformer.wpe.weight" is missing' $E "$FX/nowpe.safetensors"
check "2j a missing block tensor refused, naming it" \
    fails_with 1 '"transformer.h.1.mlp.c_fc.weight" is missing' $E "$FX/noln.safetensors"
check "2k config without n_head refused, naming the key" fails_with 1 'lacks "n_head"' $E "$FX/nohead.safetensors"
check "2l config disagreeing with the shapes refused" fails_with 1 '"n_embd" disagrees' $E "$FX/badcfg.safetensors"
check "2m not a GPT at all refused" fails_with 1 '"transformer.wte.weight"' $E "$FX/notgpt.safetensors"
check "2n no metadata and no --n-head: refused asking for it" fails_with 1 "--n-head" $E "$FX/nometa.safetensors"
check "2o no metadata and no --data (sample): refused asking for it" \
    fails_with 1 "--data" "$CHARGPT" sample --checkpoint "$FX/nometa.safetensors" --n-head 2

# ---- 3. nanoGPT's ckpt.pt + meta.pkl -> safetensors ---------------------------------------------
NG=$tmp/ng
want_ng=$($REF nanogpt "$NG" "$data" 2>&1)
"$PYTHON" "$TOOLS/nanogpt_to_safetensors.py" "$NG/ckpt.pt" "$tmp/ng.safetensors" --meta "$NG/meta.pkl" >"$tmp/c3.out" 2>&1
rc_c3=$?
check3a() {
    [ "$rc_c3" -eq 0 ] || { cat "$tmp/c3.out"; return 1; }
    got=$("$CHARGPT" eval --checkpoint "$tmp/ng.safetensors" --data "$data" --digits 8 2>&1) || { say "$got"; return 1; }
    say "chargpt: $got; PyTorch: $want_ng"
    near "${got#*_loss }" "${want_ng#*_loss }" 1e-5
}
check "3a nanogpt_to_safetensors (_orig_mod., mask buffers, unsorted itos): chargpt eval == PyTorch (1e-5)" check3a

# ---- 4. a chargpt checkpoint -> nanoGPT -> back ------------------------------------------------
R=$tmp/run
"$CHARGPT" train --data "$data" --out-dir "$R" --n-layer 2 --n-head 2 --n-embd 16 --block-size 16 --batch-size 4 \
    --max-iters 20 --eval-interval 10 --eval-iters 2 --threads 1 --gelu erf --bias --quiet >"$R.out" 2>&1
own=$("$CHARGPT" eval --checkpoint "$R/ckpt.safetensors" --data "$data" --digits 8 2>&1)
"$PYTHON" "$TOOLS/safetensors_to_nanogpt.py" "$R/ckpt.safetensors" "$tmp/ngo" >"$tmp/c4.out" 2>&1 &&
    torch_loss=$($REF eval-nanogpt "$tmp/ngo" "$data" val 2>&1)
rc_c4=$?
check4a() {
    [ "$rc_c4" -eq 0 ] || { cat "$tmp/c4.out"; say "$torch_loss"; return 1; }
    say "chargpt: $own; PyTorch on the converted ckpt.pt: $torch_loss"
    near "${own#*_loss }" "${torch_loss#*_loss }" 1e-5
}
check "4a safetensors_to_nanogpt: ckpt.pt/meta.pkl as sample.py reads them; PyTorch loss == chargpt eval (1e-5)" check4a
"$PYTHON" "$TOOLS/nanogpt_to_safetensors.py" "$tmp/ngo/ckpt.pt" "$tmp/back.safetensors" --meta "$tmp/ngo/meta.pkl" \
    >"$tmp/c4b.out" 2>&1
back=$("$CHARGPT" eval --checkpoint "$tmp/back.safetensors" --data "$data" --digits 8 2>&1)
check "4b round trip chargpt -> nanoGPT -> chargpt: the same eval loss ($own)" near "${own#*_loss }" "${back#*_loss }" 1e-5
"$CHARGPT" train --data "$data" --out-dir "$tmp/tanh" --n-layer 1 --n-head 2 --n-embd 16 --block-size 16 \
    --batch-size 4 --max-iters 0 --threads 1 --quiet >/dev/null 2>&1
"$PYTHON" "$TOOLS/safetensors_to_nanogpt.py" "$tmp/tanh/ckpt.safetensors" "$tmp/ngt" >/dev/null 2>"$tmp/c4c.err"
check "4c a tanh-GELU model converts with a warning naming the GELU difference" grep -q "tanh GELU" "$tmp/c4c.err"
check "4d a resume state is refused by the converter" \
    fails_with 1 "resume state" "$PYTHON" "$TOOLS/safetensors_to_nanogpt.py" "$R/resume.safetensors" "$tmp/ngr"

echo "$pass passed, $fail failed"
nb_skip_summary || fail=$((fail + 1))
[ "$fail" -eq 0 ]
