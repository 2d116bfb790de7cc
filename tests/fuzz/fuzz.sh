#!/bin/sh
# fuzz.sh — build nabla's libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# straight from the library sources, then run each for SECONDS. Called by `make fuzz`:
#   fuzz.sh SRCDIR BUILDDIR SECONDS "TARGETS" "LIB_SOURCES" "MODEL_SOURCES"
# Environment: FUZZ_CC (clang), FUZZ_CPPFLAGS (include paths), FUZZ_LIBS (-ljansson -lm),
# FUZZ_ARGS (extra libFuzzer flags), FUZZ_JOBS (parallel compiles, default 2).
# The build goes to BUILDDIR (config.h without jemalloc, which ASan cannot see into, and without
# MPI: the single-process stub of nn/dist.c is built); each target fuzzes a working copy of its
# seed corpus in BUILDDIR/corpus_T (the tree's tests/fuzz/corpus_T is read, never written);
# crashes land in BUILDDIR/artifacts/. The summary prints execs and execs/s per target; the exit
# status is 1 if any target found a failure.
set -eu
srcdir=$1 build=$2 seconds=$3 targets=$4 lib_srcs=$5 model_srcs=$6
cc=${FUZZ_CC:-clang}
jobs=${FUZZ_JOBS:-2}
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
flags="$flags -std=c11 -Wno-unknown-pragmas"

command -v "$cc" >/dev/null || { echo "fuzz.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
mkdir -p "$build/obj" "$build/artifacts"
grep -v -e 'NB_HAVE_JEMALLOC' -e 'NB_HAVE_MPI' config.h > "$build/config.h" # MPI: the stub
# -I$build first: it holds the config.h every source includes
cppflags="-I$build ${FUZZ_CPPFLAGS:-}"

echo "fuzz.sh: compiling the library with $cc ($flags)"
for s in $lib_srcs $model_srcs; do echo "$s"; done | xargs -P "$jobs" -I{} sh -c \
    '$3 $4 $5 -c "$2/$1" -o "$0/obj/$(basename "$1" .c).o"' \
    "$build" {} "$srcdir" "$cc" "$flags" "$cppflags"
rm -f "$build/libfuzz.a"
ar rcs "$build/libfuzz.a" "$build"/obj/*.o

status=0
summary=""
for t in $targets; do
    bin="$build/fuzz_$t"
    $cc $flags $cppflags "$srcdir/tests/fuzz/fuzz_$t.c" "$build/libfuzz.a" ${FUZZ_LIBS:--lm} -o "$bin"
    mkdir -p "$build/corpus_$t"
    echo "fuzz.sh: fuzz_$t for ${seconds}s (log: $build/fuzz_$t.log)"
    rc=0
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/${t}-" ${FUZZ_ARGS:-} \
        "$build/corpus_$t" "$srcdir/tests/fuzz/corpus_$t" > "$build/fuzz_$t.log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz_$t.log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/fuzz_$t.log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$build/fuzz_$t.log" | tail -n 1)
    line="fuzz_$t: ${seconds}s, ${execs:-?} execs (${speed:-?}/s), $cov, corpus $(ls "$build/corpus_$t" | wc -l) files"
    if [ "$rc" -ne 0 ]; then
        line="$line: FAILED (exit $rc), see $build/fuzz_$t.log and $build/artifacts/"
        tail -n 40 "$build/fuzz_$t.log" >&2
        status=1
    fi
    echo "$line"
    summary="$summary$line
"
done
printf '\nfuzz summary:\n%s' "$summary"
exit $status
