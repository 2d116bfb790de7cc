#!/bin/sh
# tests/test_exports.sh — libnabla's shared library exports only the public API: every defined
# dynamic symbol is an nb_* name (internal nb__* names and helpers stay hidden), apart from the
# linker's own entries (_init, _fini, ...). Run from the top build directory (as `make check`
# does) or point LIBNABLA_LA at the libtool archive. Exit 0 pass, 1 leak, 77 skip (no nm / no .so).

la=${LIBNABLA_LA:-./libnabla.la}
NM=${NM:-nm}
if ! command -v "$NM" >/dev/null 2>&1; then
    echo "SKIP: $NM not found"
    exit 77
fi
if [ ! -f "$la" ]; then
    echo "SKIP: $la not found (build it with: make libnabla.la)"
    exit 77
fi
dlname=$(sed -n "s/^dlname='\(.*\)'$/\1/p" "$la")
so="$(dirname "$la")/.libs/$dlname"
if [ -z "$dlname" ] || [ ! -f "$so" ]; then
    echo "SKIP: no shared library next to $la (configured with --disable-shared?)"
    exit 77
fi

syms=$("$NM" -D --defined-only "$so" | awk 'NF >= 3 { print $3 }') || {
    echo "FAIL: $NM -D --defined-only $so failed"
    exit 1
}
total=$(printf '%s\n' "$syms" | grep -c '^nb_[^_]')
bad=$(printf '%s\n' "$syms" | grep -v -e '^nb_[^_]' -e '^$' \
    -e '^_init$' -e '^_fini$' -e '^_edata$' -e '^_end$' -e '^__bss_start$')
if [ -n "$bad" ]; then
    echo "FAIL: $so exports names outside the public nb_* API (add static or NB__INTERNAL):"
    printf '%s\n' "$bad" | sed 's/^/    /'
    exit 1
fi
if [ "$total" -eq 0 ]; then
    echo "FAIL: $so exports no nb_* symbol at all"
    exit 1
fi
echo "ok - $so exports $total nb_* symbols and nothing else"
exit 0
