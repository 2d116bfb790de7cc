#!/bin/sh
# tests/test_mutants_list.sh — every mutant in tests/mutants.txt still applies: its text occurs
# exactly once in its file (tests/check_mutants.py --list-only, seconds), so an edit that moves a
# mutant's text fails `make check` instead of the slow `make check-mutants` much later.
# Exit 0 pass, 1 failure, 77 skip (no python3; under NB_REQUIRE_TORCH an unexpected skip fails).
srcdir=${srcdir:-.}
PYTHON=${PYTHON:-/usr/bin/python3}
. "$srcdir/tests/skip_lib.sh"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    nb_skip tool:python3 "mutants.txt not checked: $PYTHON not found"
    nb_skip_summary || exit 1
    exit 77
fi
"$PYTHON" "$srcdir/tests/check_mutants.py" --list-only "$srcdir"
