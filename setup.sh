#!/bin/sh
# setup.sh — prepare a fresh Debian machine and build nabla.
#   ./setup.sh           install the build dependencies, configure, build
#   ./setup.sh --tests   also the test/benchmark dependencies (Check, PyTorch for parity tests, valgrind,
#                        clang for make fuzz, libomp for make check-tsan)
#   --deps-only          install the packages only (no configure, no build): for offline builds later
# Installs only packages that are missing (needs root or sudo for apt-get). Re-running is cheap.
set -e
cd "$(dirname "$0")"

want_tests=no
deps_only=no
for arg in "$@"; do
    case "$arg" in
    --tests) want_tests=yes ;;
    --deps-only) deps_only=yes ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

pkgs="build-essential autoconf automake libtool pkg-config libjemalloc-dev libjansson-dev libxxhash-dev libopenblas-dev gnuplot-nox check libopenmpi-dev openmpi-bin"
[ "$want_tests" = yes ] && pkgs="$pkgs python3 python3-torch python3-xxhash valgrind libsubunit-dev clang libclang-rt-14-dev libomp-14-dev procps"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup.sh: installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

[ "$deps_only" = yes ] && exit 0
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$(nproc)"
