#!/bin/sh
# tests/test_readme_pointwise.sh — README.md's "Adding an op" shows the rows that added silu; each
# line of its pointwise-def block must be a line of tensor/nb_pointwise.def and each line of its
# pointwise-ref block a line of tests/ref_pointwise.py, so the walkthrough cannot rot.
# Exit 0 pass, 1 failure.
srcdir=${srcdir:-.}
status=0

extract() {
    sed -n "/<!-- $1 -->/,/<!-- end:$1 -->/p" "$srcdir/README.md" | sed -e '/^<!--/d' -e '/^```/d'
}

check() {
    block=$(extract "$1")
    if [ -z "$block" ]; then
        echo "FAIL: README.md has no $1 block"
        status=1
        return
    fi
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        if ! grep -Fxq -- "$line" "$srcdir/$2"; then
            echo "FAIL: README.md's $1 line is not in $2: $line"
            status=1
        fi
    done <<END
$block
END
    echo "ok - README.md's $1 block ($n lines) matches $2"
}

check pointwise-def tensor/nb_pointwise.def
check pointwise-ref tests/ref_pointwise.py
exit $status
