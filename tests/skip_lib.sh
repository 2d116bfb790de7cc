# tests/skip_lib.sh — sourced by the shell tests (. "$(dirname "$0")/skip_lib.sh"): a check that
# cannot run is a counted, printed skip, and a skip that is not expected fails the test.
#   nb_skip KIND WHAT   prints "skip - (KIND) WHAT" and counts it; KIND says why:
#     torch         PyTorch is not importable
#     tool:NAME     a program CI installs (setup.sh --tests) is missing: gnuplot, mpirun, setpriv, pgrep
#     setup         the test could not create its own precondition (a run meant to diverge did not)
#     machine       a limit of this machine that CI need not lift (no permission to mount a tmpfs);
#                   the message says what covered the check instead
#   Under NB_REQUIRE_TORCH=1 (.ci/run sets it: CI installs PyTorch and every tool) any skip but a
#   machine one is unexpected: printed as "FAIL - unexpected skip ..." and counted in nb_unexpected.
#   NB_SKIP_EXPECTED="KIND ..." names kinds a build leaves out on purpose (check-sanitize configures
#   --without-mpi, so its tool:mpi skip is expected there): those stay plain skips.
#   nb_skip_summary     prints "N skipped (M unexpected)" when anything was skipped; returns 1 when
#                       a skip was unexpected (use in the test's exit status).
nb_skipped=0
nb_unexpected=0
nb_skip_required() { [ -n "${NB_REQUIRE_TORCH:-}" ] && [ "${NB_REQUIRE_TORCH}" != 0 ]; }
nb_skip_expected() { case " ${NB_SKIP_EXPECTED:-} " in *" $1 "*) return 0 ;; esac; [ "$1" = machine ]; }
nb_skip() {
    nb_kind=$1
    shift
    nb_skipped=$((nb_skipped + 1))
    if ! nb_skip_expected "$nb_kind" && nb_skip_required; then
        nb_unexpected=$((nb_unexpected + 1))
        echo "FAIL - unexpected skip ($nb_kind; NB_REQUIRE_TORCH is set: CI installs PyTorch and the tools): $*"
    else
        echo "skip - ($nb_kind) $*"
    fi
}
nb_skip_summary() {
    [ "$nb_skipped" -eq 0 ] || echo "$nb_skipped skipped ($nb_unexpected unexpected)"
    [ "$nb_unexpected" -eq 0 ]
}
