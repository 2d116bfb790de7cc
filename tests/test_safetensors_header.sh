#!/bin/sh
# tests/test_safetensors_header.sh — a 99 MB dense safetensors header ({"a":[0,0,...]}, which
# jansson would expand to ~2 GB) loaded under a 2 GB address-space limit: rejected with a status
# naming the bound, not aborted by the out-of-memory handler (issue #16). Run from the top build
# directory (make check). Exit 0 pass, 1 fail.
PROBE=${PROBE:-./tests/test_safetensors_header}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
f="$tmp/dense.safetensors"
n=99000000
# 8-byte little-endian length 99000000 (0x05E69EC0), then {"a":[0,0,...,0]} padded with spaces
printf '\300\236\346\005\000\000\000\000{"a":[' >"$f"
yes 0, | tr -d '\n' | head -c $((n - 9)) >>"$f"
printf '0]}' >>"$f"
size=$(wc -c <"$f")
if [ "$size" -ne $((n + 8)) ]; then
    echo "FAIL: generated $size bytes, expected $((n + 8))"
    exit 1
fi
# An AddressSanitizer build (make check-sanitize sets ASAN_OPTIONS) reserves terabytes of shadow
# address space, so `ulimit -v` would stop it before main: there the bound is ASan's own 2 GB
# resident-memory limit instead, which the loader exceeds just the same without the header bound.
if [ -n "${ASAN_OPTIONS+x}" ]; then
    limit="ASAN_OPTIONS hard_rss_limit_mb=2000"
    out=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=2000" "$PROBE" "$f" 2>&1)
else
    limit="ulimit -v 2000000"
    out=$( (ulimit -v 2000000 && "$PROBE" "$f") 2>&1)
fi
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
    echo "FAIL: the loader exited with status $rc under $limit"
    exit 1
fi
case "$out" in
*"status 2: $f: the header of 99000000 bytes is too dense"*) echo "PASS" ;;
*) echo "FAIL: expected NB_ERR_FORMAT (2) naming the density bound"; exit 1 ;;
esac
