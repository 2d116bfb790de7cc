#!/usr/bin/env bash
# test_crashsafe.sh — crash-safe checkpoint saves (nb_safetensors_save), with the helper
# tests/test_crashsafe_saver:
#   1. 50 SIGKILLs at random points of a loop saving two different dicts to one path: after
#      each kill the file loads and equals one of the two, bit for bit, and at most one
#      temporary file (the save in progress) is left, however many kills came before;
#   2. disk full: a file size limit (ulimit -f, SIGXFSZ ignored) and, where mount is allowed,
#      a 1 MB tmpfs: the save fails with a clear error and the old file is byte-identical;
#   3. an unwritable directory and a missing one: a clear error, the old file kept. Root
#      bypasses permissions: then the saver runs as nobody (setpriv), or that part is skipped.
# Exit status 0 (pass), 1 (fail, or a skip CI does not expect: tests/skip_lib.sh), 77 (skip: no
# helper). Runs in a few seconds.
set -u
saver=${CRASHSAFE_SAVER:-tests/test_crashsafe_saver}
[ -x "$saver" ] || { echo "SKIP: $saver not built"; exit 77; }
saver=$(cd "$(dirname "$saver")" && pwd)/$(basename "$saver")
work=$(mktemp -d "${TMPDIR:-/tmp}/nb_crashsafe.XXXXXX") || exit 1
cleanup() {
    mountpoint -q "$work/small" 2>/dev/null && umount "$work/small"
    chmod -R u+w "$work" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/skip_lib.sh" # nb_skip, nb_skip_summary
tmp_count() { find "$(dirname "$1")" -maxdepth 1 -name "$(basename "$1").tmp*" | wc -l; }

# ---- 1. SIGKILL during repeated saves ------------------------------------------------------
p=$work/ckpt.safetensors
"$saver" save-a "$p" >/dev/null || fail "first save"
seen_a=0 seen_b=0 mid=0 max_tmp=0
for k in $(seq 1 50); do
    "$saver" loop "$p" &
    pid=$!
    sleep "0.$(printf '%03d' $((5 + RANDOM % 120)))"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    n=$(tmp_count "$p")
    [ "$n" -gt 0 ] && mid=$((mid + 1))
    [ "$n" -gt "$max_tmp" ] && max_tmp=$n
    [ "$n" -le 1 ] || fail "kill $k: $n temporary files: $(ls "$work")"
    got=$("$saver" check "$p") || fail "kill $k: $got"
    case $got in A) seen_a=$((seen_a + 1)) ;; B) seen_b=$((seen_b + 1)) ;; esac
done
echo "ok: 50 SIGKILLs during saves: the file was A $seen_a times, B $seen_b times, always loadable;" \
     "$mid kills left the in-progress temporary file (at most $max_tmp at once)"
[ "$seen_a" -gt 0 ] && [ "$seen_b" -gt 0 ] || echo "note: only one version seen (saves slower than the kills?)"
"$saver" save-a "$p" >/dev/null || fail "save after the kills"
[ "$(tmp_count "$p")" -eq 0 ] || fail "a clean save left temporary files: $(ls "$work")"
echo "ok: the next complete save removed the dead saver's temporary file"

# ---- 2. disk full --------------------------------------------------------------------------
cp "$p" "$work/before"
out=$( (ulimit -f 1024 && "$saver" save-big "$p") ) && fail "a 64 MB save under ulimit -f 1024 succeeded"
case $out in *"File too large"*) ;; *) fail "ulimit -f: unclear error: $out" ;; esac
cmp -s "$p" "$work/before" || fail "ulimit -f: the old file changed"
[ "$(tmp_count "$p")" -eq 0 ] || fail "ulimit -f: temporary file left"
echo "ok: file size limit: $out; old file byte-identical"

mkdir "$work/small"
if mount -t tmpfs -o size=1m tmpfs "$work/small" 2>/dev/null; then
    q=$work/small/ckpt.safetensors
    "$saver" save-a "$q" >/dev/null || fail "tmpfs: first save"
    cp "$q" "$work/before_small"
    out=$("$saver" save-big "$q") && fail "tmpfs: a 64 MB save into 1 MB succeeded"
    case $out in *"No space left on device"*) ;; *) fail "tmpfs: unclear error: $out" ;; esac
    cmp -s "$q" "$work/before_small" || fail "tmpfs: the old file changed"
    [ "$(tmp_count "$q")" -eq 0 ] || fail "tmpfs: temporary file left"
    echo "ok: full 1 MB tmpfs: $out; old file byte-identical"
    umount "$work/small"
else
    nb_skip machine "full tmpfs: cannot mount a tmpfs here (not permitted); the file size limit covered disk full"
fi

# ---- 3. unwritable and missing directories -------------------------------------------------
out=$("$saver" save-a "$work/missing/ckpt.safetensors") && fail "save into a missing directory succeeded"
case $out in *"No such file or directory"*) ;; *) fail "missing directory: unclear error: $out" ;; esac
echo "ok: missing directory: $out"

ro=$work/ro
mkdir "$ro"
"$saver" save-a "$ro/ckpt.safetensors" >/dev/null || fail "first save into ro/"
cp "$ro/ckpt.safetensors" "$work/before_ro"
chmod 555 "$ro"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null &&
       setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
        chmod 755 "$work"
        run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        echo "note: running as root, which bypasses permissions: the unwritable-directory save runs as nobody"
    else
        nb_skip tool:setpriv "read-only directory: running as root (permissions not enforced) and setpriv" \
            "(util-linux) is unavailable"
        nb_skip_summary
        exit $?
    fi
fi
out=$("${run_as[@]}" "$saver" save-a "$ro/ckpt.safetensors") && fail "save into a read-only directory succeeded"
case $out in *"Permission denied"*) ;; *) fail "read-only directory: unclear error: $out" ;; esac
cmp -s "$ro/ckpt.safetensors" "$work/before_ro" || fail "read-only directory: the old file changed"
echo "ok: read-only directory: $out; old file byte-identical"
nb_skip_summary
