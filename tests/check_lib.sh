# tests/check_lib.sh — sourced by the shell tests (. "$(dirname "$0")/check_lib.sh") after they set
# $tmp (a scratch directory) and pass=0 fail=0: the shared way to count and show checks.
#   ok DESC / bad DESC         count a passed / failed check and print it ("ok   - ", "FAIL - ")
#   check DESC COMMAND...      one check: COMMAND's exit status; on failure shows what it printed
#   say TEXT                   a diagnostic line inside a check function
#   fails_with RC TEXT CMD...  CMD exits RC and prints exactly one stderr line containing TEXT
#                              (a test with more conditions defines its own after sourcing)
#   near A B TOL               |A - B| <= TOL (prints the difference when not)
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() {
    d=$1
    shift
    if "$@" >"$tmp/check.out" 2>&1; then
        ok "$d"
    else
        bad "$d"
        sed -e 's/^/       | /' "$tmp/check.out" | head -n 30
    fi
}
say() { echo "$*"; }
fails_with() {
    want=$1 text=$2
    shift 2
    "$@" >"$tmp/f.out" 2>"$tmp/f.err"
    got=$?
    r=0
    [ "$got" -eq "$want" ] || { say "exit $got, expected $want"; r=1; }
    [ "$(wc -l <"$tmp/f.err")" -eq 1 ] || { say "stderr is not one line"; r=1; }
    grep -qF -- "$text" "$tmp/f.err" || { say "stderr lacks '$text'"; r=1; }
    [ "$r" -eq 0 ] || sed -e 's/^/stderr: /' "$tmp/f.err"
    return $r
}
near() {
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d
        if (a == "" || b == "" || d > t) { print "|" a " - " b "| = " d " > " t; exit 1 } }'
}
